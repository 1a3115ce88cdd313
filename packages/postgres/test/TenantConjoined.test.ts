/**
 * Conjoined tenants' storage, adversarially: the shared tables lead every key with the tenant;
 * a tenant's schema holds views only (and its read models); the views refuse another tenant's
 * rows whatever SQL the tenant's client sends; event ids of one tenant neither collide with nor
 * reveal another's; row-level security holds behind the views; the store's reads use the
 * tenant's indexes; a conjoined tenant cannot be moved.
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { EventStore } from "@eventuali/core"
import { PgTenants } from "@eventuali/postgres"
import * as Migrations from "@eventuali/sql/Migrations"
import * as Tables from "@eventuali/sql/Tables"
import { Effect, Exit } from "effect"
import * as Conjoined from "../src/internal/conjoined.js"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"
import { freshConfig, ordinaryRoleUrl, queryServer } from "./support/tenants.js"

const appUrl = serverUrl === "" ? "" : await Effect.runPromise(ordinaryRoleUrl(serverUrl))

/** Two conjoined tenants, acme and globex, on tables of their own deployment. */
const deployment = (options: { readonly rowLevelSecurity?: boolean } = {}) =>
  Effect.gen(function*() {
    const shared = freshSchema("shared")
    const config = freshConfig({ main: appUrl }, { strategy: "conjoined", conjoinedSchema: shared, ...options })
    const tenants = yield* PgTenants.make(config)
    yield* tenants.create("acme")
    yield* tenants.create("globex")
    const as = (tenant: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
      PgTenants.provide(tenant)(self).pipe(Effect.provideService(PgTenants.PgTenants, tenants))
    const append = (tenant: string, id: string, eventIds?: ReadonlyArray<string>) =>
      as(tenant)(Effect.flatMap(EventStore.EventStore, (store) =>
        store.append("Account", id, (eventIds ?? [crypto.randomUUID()]).map((eventId) => ({ eventId, eventType: "Opened", data: { tenant } })))))
    return { shared, config, tenants, as, append }
  })

const countBy = (url: string, text: string) =>
  Effect.map(queryServer<{ readonly tenant_id: string; readonly n: number }>(url, text), (rows) =>
    Object.fromEntries(rows.map((row) => [row.tenant_id, Number(row.n)])))

describePg("PostgreSQL conjoined tenants", () => {
  it.live("every unique key and index of the shared tables leads with tenant_id; a tenant's schema holds views, not tables", () =>
    Effect.gen(function*() {
      const { config, shared } = yield* deployment()
      const indexes = yield* queryServer<{ readonly table: string; readonly index: string; readonly first: string }>(
        serverUrl,
        `SELECT t.relname AS table, i.relname AS index, a.attname AS first FROM pg_index x
          JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
          JOIN pg_namespace n ON n.oid = t.relnamespace
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
          WHERE n.nspname = $1`,
        [shared]
      )
      // 11 tables with a primary key each, the events' and the archive's other indexes, and the
      // bookkeeping of the shared schema's migrations (no tenant's).
      expect(indexes.length).toBe(11 + 4 + 2 + 1)
      expect(indexes.filter((index) => index.first !== "tenant_id" && index.table !== "eventuali_migrations")).toStrictEqual([])
      const relations = yield* queryServer<{ readonly relname: string; readonly kind: string }>(
        serverUrl,
        `SELECT c.relname, c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 ORDER BY c.relname`,
        [`${config.schemaPrefix}acme`]
      )
      expect(relations.filter((relation) => relation.kind !== "v").map((relation) => relation.relname)).toStrictEqual([
        "eventuali_migrations",
        "eventuali_migrations_pkey"
      ])
      expect(relations.filter((relation) => relation.kind === "v")).toHaveLength(11)
    }).pipe(Effect.scoped), 60_000)

  it.live("a tenant's SqlClient cannot write, move or delete another tenant's rows through its views", () =>
    Effect.gen(function*() {
      const { append, as, shared } = yield* deployment()
      yield* append("acme", "a1")
      yield* append("globex", "g1")
      const attempts = [
        `INSERT INTO eventuali_events (position, event_id, aggregate_id, aggregate_type, aggregate_version, event_type,
          event_version, data, metadata, timestamp, tenant_id)
          VALUES (1, 'x', 'g1', 'Account', 2, 'Opened', 1, '{}', '{}', now(), 'globex')`,
        "UPDATE eventuali_events SET tenant_id = 'globex'",
        "INSERT INTO eventuali_checkpoints (name, position, updated_at, tenant_id) VALUES ('p', 0, now(), 'globex')",
        "INSERT INTO eventuali_snapshots (aggregate_id, aggregate_type, aggregate_version, schema_version, state, created_at, tenant_id) VALUES ('g1', 'Account', 1, 1, '{}', now(), 'globex')"
      ]
      for (const statement of attempts) {
        const attempt = yield* Effect.exit(as("acme")(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement))))
        expect(Exit.isFailure(attempt)).toBe(true)
      }
      // Statements on its views touch only its rows, however broad.
      yield* as("acme")(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe("DELETE FROM eventuali_events")))
      expect(yield* countBy(serverUrl, `SELECT tenant_id, count(*) AS n FROM "${shared}".eventuali_events GROUP BY 1`)).toStrictEqual({ globex: 1 })
      const globex = yield* as("globex")(Effect.flatMap(EventStore.EventStore, (store) => store.loadEvents("g1")))
      expect(globex).toHaveLength(1)
    }).pipe(Effect.scoped), 60_000)

  it.live("an event id stored by one tenant neither collides with nor reveals another tenant's; retries stay idempotent per tenant", () =>
    Effect.gen(function*() {
      const { append, as } = yield* deployment()
      const eventId = crypto.randomUUID()
      const acme = yield* append("acme", "same", [eventId])
      // Another tenant saving the same event id (a crafted or colliding id) is a new event of its own.
      const globex = yield* append("globex", "other", [eventId])
      expect(globex.events[0]!.aggregateId).toBe("other")
      // A retry within a tenant is answered with that tenant's stored event.
      const retried = yield* append("acme", "same", [eventId])
      expect(retried.events[0]!.position).toBe(acme.events[0]!.position)
      const read = yield* as("globex")(Effect.flatMap(EventStore.EventStore, (store) => store.readEvents({ fromPosition: 0n })))
      expect(read.map((event) => [event.aggregateId, event.eventId])).toStrictEqual([["other", eventId]])
    }).pipe(Effect.scoped), 60_000)

  it.live("row-level security: behind the views, a connection sees and writes only the rows of the tenant it carries", () =>
    Effect.gen(function*() {
      const { append, as, shared } = yield* deployment({ rowLevelSecurity: true })
      yield* append("acme", "a1")
      yield* append("acme", "a2")
      yield* append("globex", "g1")
      // The tenant's client naming the shared table itself (a bug bypassing the views).
      const seen = yield* as("acme")(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql.unsafe<{ readonly tenant_id: string; readonly n: number }>(
          `SELECT tenant_id, count(*)::int AS n FROM "${shared}".eventuali_events GROUP BY 1`
        )))
      expect(seen).toStrictEqual([{ tenant_id: "acme", n: 2 }])
      const forged = yield* Effect.exit(as("acme")(Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql.unsafe(`INSERT INTO "${shared}".eventuali_checkpoints (name, position, updated_at, tenant_id) VALUES ('p', 0, now(), 'globex')`))))
      expect(Exit.isFailure(forged)).toBe(true)
      // A connection of the application's role that carries no tenant sees nothing at all.
      expect(yield* countBy(appUrl, `SELECT tenant_id, count(*) AS n FROM "${shared}".eventuali_events GROUP BY 1`)).toStrictEqual({})
    }).pipe(Effect.scoped), 60_000)

  it.live("the store's reads through a tenant's views use the shared tables' (tenant_id, …) indexes", () =>
    Effect.gen(function*() {
      const { append, as, shared } = yield* deployment()
      yield* append("acme", "a1")
      // 200 streams of 50 events over ten tenants (acme's are the streams agg0, agg10, …), and the
      // planner's statistics.
      yield* queryServer(
        serverUrl,
        `INSERT INTO "${shared}".eventuali_events (position, event_id, aggregate_id, aggregate_type, aggregate_version, event_type,
            event_version, data, metadata, timestamp, tenant_id)
          SELECT s, 'e' || s, 'agg' || (s % 200), 'Type' || (s % 7), s / 200 + 1, 'Happened', 1, '{}', '{}', now(),
            CASE WHEN s % 10 = 0 THEN 'acme' ELSE 'other' || (s % 10) END
          FROM generate_series(1, 10000) s`
      )
      yield* queryServer(serverUrl, `ANALYZE "${shared}".eventuali_events`)
      const plans = yield* as("acme")(Effect.flatMap(SqlClient.SqlClient, (sql) => {
        const plan = (text: string) =>
          Effect.map(sql.unsafe<{ readonly "QUERY PLAN": string }>(`EXPLAIN ${text}`), (rows) => rows.map((row) => row["QUERY PLAN"]).join("\n"))
        return Effect.all({
          stream: plan("SELECT * FROM eventuali_events WHERE aggregate_id = 'agg10' AND aggregate_version > 0 ORDER BY aggregate_version"),
          all: plan("SELECT * FROM eventuali_events WHERE position > 0 ORDER BY position LIMIT 100"),
          byType: plan("SELECT * FROM eventuali_events WHERE position > 0 AND aggregate_type = 'Account' ORDER BY position LIMIT 100")
        })
      }))
      for (const plan of Object.values(plans)) {
        expect(plan).not.toContain("Seq Scan")
        expect(plan).toContain("tenant_id = 'acme'")
      }
      expect(plans.stream).toMatch(/Index (Only )?Scan (using|on) eventuali_events_stream/)
      expect(plans.byType).toMatch(/Index Scan (using|on) eventuali_events_type/)
    }).pipe(Effect.scoped), 60_000)

  it.live("a conjoined tenant cannot be moved to another server (moving is for a schema per tenant)", () =>
    Effect.gen(function*() {
      const shared = freshSchema("shared")
      const config = freshConfig({ main: appUrl, other: appUrl }, { strategy: "conjoined", conjoinedSchema: shared })
      const tenants = yield* PgTenants.make(config)
      yield* tenants.create("acme")
      const from = yield* tenants.serverOf("acme")
      const moved = yield* Effect.exit(tenants.move("acme", from === "main" ? "other" : "main"))
      expect(moved).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "DatabaseError", message: expect.stringContaining("conjoined") })))
    }).pipe(Effect.scoped), 60_000)
})

describe("conjoined migrations", () => {
  it("every store migration that changes PostgreSQL has its conjoined counterpart, with the store's ids", () => {
    // Migration 4 (json as written) has nothing to do: the shared tables are created with json.
    const nothingToDo = new Set([4])
    const shared = Conjoined.shared.map((migration) => [migration.id, migration.pg(Tables.quoted("s")).length > 0] as const)
    const store = Migrations.migrations.map((migration) => [migration.id, !nothingToDo.has(migration.id) && migration.pg(Tables.quoted("s")).length > 0] as const)
    expect(shared).toStrictEqual(store)
    expect(Conjoined.views("s", "acme").map((migration) => migration.id)).toStrictEqual(Migrations.migrations.map((migration) => migration.id))
  })
})
