/**
 * Conjoined tenancy (`PgTenants` with `strategy: "conjoined"`): one set of tables, in a shared
 * schema, with a `tenant_id` column that leads every unique key and index; and per tenant a schema
 * of views, one per table, each `WHERE tenant_id = '<id>' WITH CASCADED CHECK OPTION` with the
 * tenant's id as the default of its `tenant_id` column.
 *
 * Why views: the store's statements, its one append algorithm and its gap-safe reads run on a
 * tenant's views exactly as they run on a schema of tables (PostgreSQL rewrites each into the
 * shared table with the tenant predicate, and plans it on the `(tenant_id, …)` indexes); an insert
 * takes the tenant from the view's default, and the check option refuses a row of another tenant.
 * Only upserts differ: `ON CONFLICT` must name a unique index's columns exactly, so on views they
 * name `tenant_id` first (`SqlBackend.conflictKey`). Positions are the server's (transaction id in
 * the high bits), shared by all tenants; a tenant's log is its filtered view of them, so the
 * visibility rule and the catch-up wait are the same.
 *
 * Both lists are migrations with the store's bookkeeping (`Migrations.run`): the shared tables'
 * (in the shared schema) and the views' (in each tenant's schema), with the store's migration ids,
 * so that every later store migration needs its conjoined counterpart here (a test compares the
 * ids). Tables are created in their latest shape; the store's migration 4 (json) has nothing to do.
 *
 * Row-level security, the optional second wall: a policy on every shared table lets a session see
 * and write only the rows of the tenant in its `eventuali.tenant` setting. It is created always and
 * takes effect once enabled (`rowLevelSecurity: true`), which forces it on the tables' owner too.
 */
import * as Migrations from "@eventuali/sql/Migrations"
import * as Tables from "@eventuali/sql/Tables"
import * as Pg from "pg"

/** The shared tables (the store's, but `eventuali_migrations`), each with its unique and plain keys. */
const TABLES: ReadonlyArray<keyof Tables.Tables> = [
  "events",
  "checkpoints",
  "snapshots",
  "projections",
  "leases",
  "instances",
  "ranges",
  "parked",
  "keys",
  "archive",
  "projectionVersions"
]

/** Which store migration introduced each table: its view is created by the same id. */
const INTRODUCED_BY: Readonly<Record<number, ReadonlyArray<keyof Tables.Tables>>> = {
  1: ["events"],
  2: ["checkpoints"],
  3: ["snapshots"],
  5: ["projections", "leases", "instances", "ranges", "parked"],
  6: ["keys"],
  7: ["archive"],
  8: ["projectionVersions"],
  // Not a new table: migration 11 adds columns, and a view's `*` was expanded when it was made.
  11: ["projections", "projectionVersions"]
}

/** The session setting row-level security reads. */
export const TENANT_SETTING = "eventuali.tenant"

const wall = (table: string): ReadonlyArray<string> => [
  `DROP POLICY IF EXISTS eventuali_tenant ON ${table}`,
  `CREATE POLICY eventuali_tenant ON ${table}
    USING (tenant_id = current_setting('${TENANT_SETTING}', true))
    WITH CHECK (tenant_id = current_setting('${TENANT_SETTING}', true))`
]

const EVENT_COLUMNS = `event_id text NOT NULL,
        aggregate_id text NOT NULL,
        aggregate_type text NOT NULL,
        aggregate_version bigint NOT NULL,
        event_type text NOT NULL,
        event_version integer NOT NULL,
        data json NOT NULL,
        metadata json NOT NULL,
        timestamp timestamptz NOT NULL,
        tenant_id text NOT NULL`

/** The shared tables, by the store's migration ids; `tenant_id` is every table's last column as created (migration 11 adds columns after it). */
const sharedDdl = (t: Tables.Tables): Readonly<Record<number, ReadonlyArray<string>>> => ({
  1: [
    `CREATE TABLE IF NOT EXISTS ${t.events} (
        position bigint NOT NULL,
        transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        ${EVENT_COLUMNS},
        PRIMARY KEY (tenant_id, position)
      )`,
    `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_stream ON ${t.events} (tenant_id, aggregate_id, aggregate_version)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_event_id ON ${t.events} (tenant_id, event_id)`,
    `CREATE INDEX IF NOT EXISTS eventuali_events_type ON ${t.events} (tenant_id, aggregate_type, position)`,
    ...wall(t.events)
  ],
  2: [
    `CREATE INDEX IF NOT EXISTS eventuali_events_event_type ON ${t.events} (tenant_id, event_type, position)`,
    `CREATE TABLE IF NOT EXISTS ${t.checkpoints} (
        name text NOT NULL,
        position bigint NOT NULL,
        updated_at timestamptz NOT NULL,
        tenant_id text NOT NULL,
        PRIMARY KEY (tenant_id, name)
      )`,
    ...wall(t.checkpoints)
  ],
  3: [
    `CREATE TABLE IF NOT EXISTS ${t.snapshots} (
        aggregate_id text NOT NULL,
        aggregate_type text NOT NULL,
        aggregate_version bigint NOT NULL,
        schema_version integer NOT NULL,
        state json NOT NULL,
        created_at timestamptz NOT NULL,
        tenant_id text NOT NULL,
        PRIMARY KEY (tenant_id, aggregate_id)
      )`,
    ...wall(t.snapshots)
  ],
  5: [
    `CREATE TABLE IF NOT EXISTS ${t.projections} (
        name text NOT NULL,
        partitions integer NOT NULL,
        aggregate_types text NOT NULL,
        event_types text NOT NULL,
        created_at bigint NOT NULL,
        tenant_id text NOT NULL,
        PRIMARY KEY (tenant_id, name)
      )`,
    `CREATE TABLE IF NOT EXISTS ${t.leases} (
        name text NOT NULL,
        partition_index integer NOT NULL,
        owner text NOT NULL,
        expires_at bigint NOT NULL,
        tenant_id text NOT NULL,
        PRIMARY KEY (tenant_id, name, partition_index)
      )`,
    `CREATE TABLE IF NOT EXISTS ${t.instances} (
        name text NOT NULL,
        owner text NOT NULL,
        expires_at bigint NOT NULL,
        tenant_id text NOT NULL,
        PRIMARY KEY (tenant_id, name, owner)
      )`,
    `CREATE TABLE IF NOT EXISTS ${t.ranges} (
        checkpoint text NOT NULL,
        from_position bigint NOT NULL,
        to_position bigint NOT NULL,
        handled bigint NOT NULL,
        digest text NOT NULL,
        tenant_id text NOT NULL,
        PRIMARY KEY (tenant_id, checkpoint, from_position)
      )`,
    `CREATE TABLE IF NOT EXISTS ${t.parked} (
        name text NOT NULL,
        position bigint NOT NULL,
        partition_index integer NOT NULL,
        event_id text NOT NULL,
        error_tag text NOT NULL,
        error_message text NOT NULL,
        attempts integer NOT NULL,
        parked_at bigint NOT NULL,
        retry_requested integer NOT NULL,
        tenant_id text NOT NULL,
        PRIMARY KEY (tenant_id, name, position)
      )`,
    ...[t.projections, t.leases, t.instances, t.ranges, t.parked].flatMap(wall)
  ],
  6: [
    `CREATE TABLE IF NOT EXISTS ${t.keys} (
        subject_id text NOT NULL,
        generation integer NOT NULL,
        key_id text NOT NULL,
        material bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        tenant_id text NOT NULL,
        PRIMARY KEY (tenant_id, subject_id, generation)
      )`,
    ...wall(t.keys)
  ],
  7: [
    `CREATE TABLE IF NOT EXISTS ${t.archive} (
        position bigint NOT NULL,
        transaction_id xid8 NOT NULL,
        ${EVENT_COLUMNS},
        PRIMARY KEY (tenant_id, position)
      )`,
    `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_archive_stream ON ${t.archive} (tenant_id, aggregate_id, aggregate_version)`,
    ...wall(t.archive)
  ],
  8: [
    `CREATE TABLE IF NOT EXISTS ${t.projectionVersions} (
        name text NOT NULL,
        version integer NOT NULL,
        activated_at bigint NOT NULL,
        tenant_id text NOT NULL,
        PRIMARY KEY (tenant_id, name)
      )`,
    ...wall(t.projectionVersions)
  ],
  9: [`CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_archive_event_id ON ${t.archive} (tenant_id, event_id)`],
  11: Migrations.rebuildColumns(t)
})

/** The store's migration ids and names, with other statements (given the names in the migrated schema). */
const alike = (statements: (id: number, tables: Tables.Tables) => ReadonlyArray<string>): ReadonlyArray<Migrations.Migration> =>
  Migrations.migrations.map((migration) => ({
    id: migration.id,
    name: migration.name,
    sqlite: () => [],
    pg: (tables) => statements(migration.id, tables)
  }))

/** The shared tables' migrations (run on the shared schema). */
export const shared: ReadonlyArray<Migrations.Migration> = alike((id, tables) => sharedDdl(tables)[id] ?? [])

/** The migrations of one tenant's views (run on the tenant's schema), over the shared schema's tables. */
export const views = (sharedSchema: string, tenantId: string): ReadonlyArray<Migrations.Migration> => {
  const base = Tables.quoted(sharedSchema)
  const id = Pg.escapeLiteral(tenantId)
  return alike((migration, tables) =>
    (INTRODUCED_BY[migration] ?? []).flatMap((table) => {
      // The view's name is the table's, in the tenant's schema: the store's statements name it.
      const view = tables[table]
      return [
        `CREATE OR REPLACE VIEW ${view} WITH (security_barrier) AS SELECT * FROM ${base[table]} WHERE tenant_id = ${id}
          WITH CASCADED CHECK OPTION`,
        `ALTER VIEW ${view} ALTER COLUMN tenant_id SET DEFAULT ${id}`
      ]
    })
  )
}

/** Whether row-level security is on for every shared table, the statements that make it so. */
export const rowLevelSecurity = (schema: string, enabled: boolean): ReadonlyArray<string> => {
  const t = Tables.quoted(schema)
  return TABLES.map((table) =>
    enabled
      ? `ALTER TABLE ${t[table]} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`
      : `ALTER TABLE ${t[table]} DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY`
  )
}
