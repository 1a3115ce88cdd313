/**
 * The schema of the event store, as numbered migrations applied once per database.
 *
 * Each migration is idempotent DDL (`IF NOT EXISTS`, or an `ALTER` to what is already there),
 * applied in one transaction with its bookkeeping row. That transaction first takes a lock (on
 * PostgreSQL an advisory lock, on SQLite the file's write lock) and only then reads which
 * migrations are applied, so processes starting at once apply each migration exactly once.
 *
 * Why not `@effect/sql`'s `Migrator`, which does the same bookkeeping: on PostgreSQL it creates
 * its table outside its transaction and lock (two processes starting at once both try, and one
 * fails), and finds that table with a `'schema.table'::regclass` probe that folds the schema's
 * case (a store in schema `Tenant` would try to create it again on every start). Taking our lock
 * first does not help, as its failing probe would abort our transaction. Its table also differs
 * from the one 0.1.0 databases have (`id`, `name`, `applied_at`), which the CLI and SQLite's
 * read-only open read; and it skips any id below the highest applied one, where this applies
 * every migration a database lacks.
 *
 * The DDL is text per dialect, side by side (the column types differ throughout), with the
 * table names from {@link Tables.quoted}; the benchmarks' raw-driver baselines run the same
 * text. The bookkeeping goes through the `sql` template.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { DatabaseError } from "@eventuali/core/Errors"
import { Effect } from "effect"
import { toDatabaseError } from "./SqlErrors.js"
import * as Tables from "./Tables.js"

/**
 * A migration: an id (applied in ascending order) and the statements of each dialect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Migration {
  readonly id: number
  readonly name: string
  /** The statements, given the (possibly schema-qualified) table names as SQL text ({@link Tables.quoted}). */
  readonly sqlite: (tables: Tables.Tables) => ReadonlyArray<string>
  readonly pg: (tables: Tables.Tables) => ReadonlyArray<string>
  /**
   * `false` for a migration reads do not need (tables only projections use): a store opened
   * read-only opens a database without it. Default `true`.
   *
   * @since 0.2.0
   */
  readonly neededToRead?: false | undefined
}

/**
 * The store's migrations, in order.
 *
 * Events live in one table. `position` is the global order (SQLite: the rowid, assigned in
 * commit order by the single writer; PostgreSQL: the writer's transaction id in the high bits,
 * see `internal/statements.ts`, with `transaction_id` kept for inspection). `(aggregate_id, aggregate_version)` is unique, which is what
 * makes concurrent appends at the same version conflict; `event_id` is unique, which is what
 * makes retries idempotent; `(aggregate_type, position)` serves reads by type.
 *
 * @since 0.1.0
 * @category models
 */
export const migrations: ReadonlyArray<Migration> = [
  {
    id: 1,
    name: "events",
    sqlite: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.events} (
        position INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        aggregate_type TEXT NOT NULL,
        aggregate_version INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        event_version INTEGER NOT NULL,
        data TEXT NOT NULL,
        metadata TEXT NOT NULL,
        timestamp INTEGER NOT NULL
      )`,
      `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_stream ON ${t.events} (aggregate_id, aggregate_version)`,
      `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_event_id ON ${t.events} (event_id)`,
      `CREATE INDEX IF NOT EXISTS eventuali_events_type ON ${t.events} (aggregate_type, position)`
    ],
    pg: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.events} (
        position bigint PRIMARY KEY,
        transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        event_id text NOT NULL,
        aggregate_id text NOT NULL,
        aggregate_type text NOT NULL,
        aggregate_version bigint NOT NULL,
        event_type text NOT NULL,
        event_version integer NOT NULL,
        data jsonb NOT NULL,
        metadata jsonb NOT NULL,
        timestamp timestamptz NOT NULL
      )`,
      `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_stream ON ${t.events} (aggregate_id, aggregate_version)`,
      `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_event_id ON ${t.events} (event_id)`,
      `CREATE INDEX IF NOT EXISTS eventuali_events_type ON ${t.events} (aggregate_type, position)`
    ]
  },
  {
    id: 2,
    name: "subscriptions and projections",
    sqlite: (t) => [
      `CREATE INDEX IF NOT EXISTS eventuali_events_event_type ON ${t.events} (event_type, position)`,
      `CREATE TABLE IF NOT EXISTS ${t.checkpoints} (
        name TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      )`
    ],
    pg: (t) => [
      `CREATE INDEX IF NOT EXISTS eventuali_events_event_type ON ${t.events} (event_type, position)`,
      `CREATE TABLE IF NOT EXISTS ${t.checkpoints} (
        name text PRIMARY KEY,
        position bigint NOT NULL,
        updated_at timestamptz NOT NULL
      )`
    ]
  },
  {
    id: 3,
    name: "snapshots",
    sqlite: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.snapshots} (
        aggregate_id TEXT PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        aggregate_version INTEGER NOT NULL,
        schema_version INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL
      )`
    ],
    pg: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.snapshots} (
        aggregate_id text PRIMARY KEY,
        aggregate_type text NOT NULL,
        aggregate_version bigint NOT NULL,
        schema_version integer NOT NULL,
        state jsonb NOT NULL,
        created_at timestamptz NOT NULL
      )`
    ]
  },
  {
    // `jsonb` stores a parsed form whose objects have their keys sorted (shortest first), so
    // payloads, metadata and snapshots loaded with their keys out of the order written, unlike
    // on SQLite. `json` keeps the text as written, and is cheaper to write and read (the store
    // only ever reads it back as text). Rows written before keep the order jsonb gave them.
    id: 4,
    name: "json as written",
    sqlite: () => [],
    pg: (t) => [
      `ALTER TABLE ${t.events} ALTER COLUMN data TYPE json USING data::json, ALTER COLUMN metadata TYPE json USING metadata::json`,
      `ALTER TABLE ${t.snapshots} ALTER COLUMN state TYPE json USING state::json`
    ]
  },
  {
    // Partitions, parked events and the completeness record of projections (SqlProjectionStore).
    // Times are epoch milliseconds from the database's clock on both dialects: leases compare
    // them, and one clock is what makes an expiry mean the same to every instance. Digests are
    // unsigned 64-bit sums, kept as text: SQLite reads integers above 2^53 imprecisely.
    id: 5,
    name: "projection partitions, parking and completeness",
    neededToRead: false,
    sqlite: (t) => projectionTables(t, { text: "TEXT", integer: "INTEGER", bigint: "INTEGER" }),
    pg: (t) => projectionTables(t, { text: "text", integer: "integer", bigint: "bigint" })
  },
  {
    // The keys of the data subjects whose personal data the events hold (`Privacy`): a subject's
    // current key is its highest generation; `forget` deletes all its rows. A database without
    // the table holds nothing sealed: its reads need no keys.
    id: 6,
    name: "subject keys",
    neededToRead: false,
    sqlite: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.keys} (
        subject_id TEXT NOT NULL,
        generation INTEGER NOT NULL,
        key_id TEXT NOT NULL,
        material BLOB NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (subject_id, generation)
      )`
    ],
    pg: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.keys} (
        subject_id text NOT NULL,
        generation integer NOT NULL,
        key_id text NOT NULL,
        material bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (subject_id, generation)
      )`
    ]
  },
  {
    // Archived streams' events (`EventStore.archive`): the events table's columns, and the
    // index reads by aggregate need. A table of its own rather than a partition of the events
    // table: a unique index of a partitioned table must contain the partition key, so event ids
    // and (aggregate id, version) could no longer be unique across the store. (Id 7: 6 is the
    // subject keys' table.)
    id: 7,
    name: "archive",
    // A database without it has archived nothing: a read-only store reads it without looking there.
    neededToRead: false,
    sqlite: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.archive} (
        position INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        aggregate_type TEXT NOT NULL,
        aggregate_version INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        event_version INTEGER NOT NULL,
        data TEXT NOT NULL,
        metadata TEXT NOT NULL,
        timestamp INTEGER NOT NULL
      )`,
      `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_archive_stream ON ${t.archive} (aggregate_id, aggregate_version)`
    ],
    pg: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.archive} (
        position bigint PRIMARY KEY,
        transaction_id xid8 NOT NULL,
        event_id text NOT NULL,
        aggregate_id text NOT NULL,
        aggregate_type text NOT NULL,
        aggregate_version bigint NOT NULL,
        event_type text NOT NULL,
        event_version integer NOT NULL,
        data json NOT NULL,
        metadata json NOT NULL,
        timestamp timestamptz NOT NULL
      )`,
      `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_archive_stream ON ${t.archive} (aggregate_id, aggregate_version)`
    ]
  },
  {
    // The active version of each versioned projection (`ProjectionStore.activate`): which of its
    // read models serves queries. Switched in one transaction with the views that readers query.
    id: 8,
    name: "projection versions",
    neededToRead: false,
    sqlite: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.projectionVersions} (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        activated_at INTEGER NOT NULL
      )`
    ],
    pg: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.projectionVersions} (
        name text PRIMARY KEY,
        version integer NOT NULL,
        activated_at bigint NOT NULL
      )`
    ]
  },
  {
    // An archived event keeps its id: an idempotent retry of its append is recognised (the
    // refused append finds the id in the archive) and a new event cannot take it. The archive's
    // own unique index, and a check of the archive on every insert into the events table: on
    // SQLite a trigger (an index probe inside the insert, which any writer of the file runs),
    // on PostgreSQL a condition of the append statement (`packages/postgres/src/internal/append.ts`).
    id: 9,
    name: "archived event ids",
    neededToRead: false,
    sqlite: (t) => [
      `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_archive_event_id ON ${t.archive} (event_id)`,
      `CREATE TRIGGER IF NOT EXISTS eventuali_events_archived_id BEFORE INSERT ON ${t.events}
        WHEN EXISTS (SELECT 1 FROM ${t.archive} WHERE event_id = NEW.event_id)
        BEGIN SELECT RAISE(ABORT, '${ARCHIVED_ID_CONFLICT}'); END`
    ],
    pg: (t) => [
      `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_archive_event_id ON ${t.archive} (event_id)`
    ]
  },
  {
    // SQLite: counts of the key rows ever removed or changed and added, kept by triggers (so also
    // for a forget by an older version, or a row changed by hand) and read in one cheap
    // statement: while neither moved, the keys a store remembers are the keys, and a read of
    // personal data need not look them up again (`SqlKeyStore`; the lookup was the larger part of
    // what opening cost). PostgreSQL looks them up on every read: nothing to do.
    id: 10,
    name: "subject key changes",
    // Without it a store looks the keys up on every read, as before.
    neededToRead: false,
    sqlite: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t.keyChanges} (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        removed INTEGER NOT NULL,
        added INTEGER NOT NULL
      )`,
      `INSERT OR IGNORE INTO ${t.keyChanges} (id, removed, added) VALUES (1, 0, 0)`,
      `CREATE TRIGGER IF NOT EXISTS eventuali_subject_keys_added AFTER INSERT ON ${t.keys}
        BEGIN UPDATE ${t.keyChanges} SET added = added + 1; END`,
      `CREATE TRIGGER IF NOT EXISTS eventuali_subject_keys_removed AFTER DELETE ON ${t.keys}
        BEGIN UPDATE ${t.keyChanges} SET removed = removed + 1; END`,
      `CREATE TRIGGER IF NOT EXISTS eventuali_subject_keys_changed AFTER UPDATE ON ${t.keys}
        BEGIN UPDATE ${t.keyChanges} SET removed = removed + 1; END`
    ],
    pg: () => []
  },
  {
    // Rebuilds without downtime: the active build's generation and the generation asked for
    // (`ProjectionStore.requestRebuild`), and whether the code that registered a projection can
    // be rebuilt so (what `eventuali projections rebuild` decides by). SQLite has no
    // `ADD COLUMN IF NOT EXISTS`: the bookkeeping row, in the same transaction, makes it run once.
    id: 11,
    name: "projection rebuild generations",
    neededToRead: false,
    sqlite: (t) => [
      `ALTER TABLE ${t.projectionVersions} ADD COLUMN generation INTEGER NOT NULL DEFAULT 0`,
      `ALTER TABLE ${t.projectionVersions} ADD COLUMN requested_generation INTEGER NOT NULL DEFAULT 0`,
      `ALTER TABLE ${t.projections} ADD COLUMN rebuildable INTEGER NOT NULL DEFAULT 0`
    ],
    pg: (t) => rebuildColumns(t)
  }
]

/** Migration 11's columns on PostgreSQL (also the conjoined tenants' shared tables). @since 0.2.0 */
export function rebuildColumns(t: Tables.Tables): ReadonlyArray<string> {
  return [
    `ALTER TABLE ${t.projectionVersions} ADD COLUMN IF NOT EXISTS generation integer NOT NULL DEFAULT 0,
      ADD COLUMN IF NOT EXISTS requested_generation integer NOT NULL DEFAULT 0`,
    `ALTER TABLE ${t.projections} ADD COLUMN IF NOT EXISTS rebuildable integer NOT NULL DEFAULT 0`
  ]
}

function projectionTables(
  t: Tables.Tables,
  type: { readonly text: string; readonly integer: string; readonly bigint: string }
): ReadonlyArray<string> {
  return [
    `CREATE TABLE IF NOT EXISTS ${t.projections} (
      name ${type.text} PRIMARY KEY,
      partitions ${type.integer} NOT NULL,
      aggregate_types ${type.text} NOT NULL,
      event_types ${type.text} NOT NULL,
      created_at ${type.bigint} NOT NULL
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.leases} (
      name ${type.text} NOT NULL,
      partition_index ${type.integer} NOT NULL,
      owner ${type.text} NOT NULL,
      expires_at ${type.bigint} NOT NULL,
      PRIMARY KEY (name, partition_index)
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.instances} (
      name ${type.text} NOT NULL,
      owner ${type.text} NOT NULL,
      expires_at ${type.bigint} NOT NULL,
      PRIMARY KEY (name, owner)
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.ranges} (
      checkpoint ${type.text} NOT NULL,
      from_position ${type.bigint} NOT NULL,
      to_position ${type.bigint} NOT NULL,
      handled ${type.bigint} NOT NULL,
      digest ${type.text} NOT NULL,
      PRIMARY KEY (checkpoint, from_position)
    )`,
    `CREATE TABLE IF NOT EXISTS ${t.parked} (
      name ${type.text} NOT NULL,
      position ${type.bigint} NOT NULL,
      partition_index ${type.integer} NOT NULL,
      event_id ${type.text} NOT NULL,
      error_tag ${type.text} NOT NULL,
      error_message ${type.text} NOT NULL,
      attempts ${type.integer} NOT NULL,
      parked_at ${type.bigint} NOT NULL,
      retry_requested ${type.integer} NOT NULL,
      PRIMARY KEY (name, position)
    )`
  ]
}

/**
 * The highest migration id: the schema version of a fully migrated database.
 *
 * @since 0.1.0
 * @category models
 */
export const latest: number = migrations[migrations.length - 1]!.id

/**
 * The highest migration id with statements for `dialect` that reads need: what a database of
 * that dialect must have applied for this version to read it (a read-only SQLite store cannot
 * migrate, and needs none of the migrations that change PostgreSQL only or add projection
 * tables or the archive).
 *
 * @since 0.1.0
 * @category models
 */
export const latestOf = (dialect: "sqlite" | "pg"): number =>
  migrations.reduce(
    (highest, migration) =>
      migration.neededToRead !== false && migration[dialect](Tables.quoted(undefined)).length > 0 ? migration.id : highest,
    0
  )

/**
 * The message of the SQLite trigger that refuses an insert of an archived event id: a unique
 * violation across the events table and its archive (`SqlBackend.isUniqueError` knows it).
 *
 * @since 0.2.0
 * @category models
 */
export const ARCHIVED_ID_CONFLICT = "UNIQUE constraint failed: eventuali_events_archive.event_id"

/** The id of the migration that creates the archive table (reads look there once it is applied). */
export const ARCHIVE = 7

/** A fixed namespace for the advisory lock that serialises migrations on PostgreSQL. */
const MIGRATION_LOCK_CLASS = 7_368_736

/**
 * Applies the migrations not yet applied to the database (in `schema`, created if missing, on
 * PostgreSQL). `migrations`: another list with the same bookkeeping (default: the store's,
 * {@link migrations}); `PgTenants`' conjoined tables and their per-tenant views have their own.
 *
 * @since 0.1.0
 * @category migrations
 */
export const run = (
  options: { readonly schema?: string | undefined; readonly migrations?: ReadonlyArray<Migration> | undefined } = {}
): Effect.Effect<void, DatabaseError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { schema } = options
    const bookkeeping = sql(Tables.identifiers(schema).migrations)
    const ddl = Tables.quoted(schema)
    const createBookkeeping = sql`CREATE TABLE IF NOT EXISTS ${bookkeeping} (
        id integer PRIMARY KEY,
        name text NOT NULL,
        applied_at text NOT NULL
      )`
    const apply = Effect.gen(function*() {
      const applied = yield* sql<{ readonly id: number }>`SELECT id FROM ${bookkeeping}`
      const done = new Set(applied.map((row) => Number(row.id)))
      for (const migration of options.migrations ?? migrations) {
        if (done.has(migration.id)) continue
        const statements = sql.onDialectOrElse({ pg: () => migration.pg(ddl), orElse: () => migration.sqlite(ddl) })
        for (const statement of statements) yield* sql.unsafe(statement)
        yield* sql`INSERT INTO ${bookkeeping} ${
          sql.insert({ id: migration.id, name: migration.name, applied_at: new Date().toISOString() })
        }`
      }
    })
    yield* sql.onDialectOrElse({
      pg: () =>
        sql.withTransaction(Effect.gen(function*() {
          yield* sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_CLASS}, hashtext(${schema ?? ""}))`
          if (schema !== undefined) yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`
          yield* createBookkeeping
          yield* apply
        })),
      // SQLite: the transaction takes the file's write lock before it reads anything, so that a
      // process migrating at the same moment waits for it (busy timeout) and then reads what it
      // applied. A transaction that read first could not wait: SQLite refuses its first write at
      // once (SQLITE_BUSY, or SQLITE_BUSY_SNAPSHOT once the other committed), and both would
      // have seen a migration as missing (an `ADD COLUMN`, which has no `IF NOT EXISTS`, fails
      // the second time). The no-op `UPDATE` takes the lock; it needs the table, created
      // (idempotently: the loser of a race waits, then finds it) just before, in its own commit.
      orElse: () =>
        Effect.zipRight(
          createBookkeeping,
          sql.withTransaction(Effect.zipRight(sql`UPDATE ${bookkeeping} SET id = id WHERE 0`, apply))
        )
    }).pipe(
      Effect.mapError(toDatabaseError("Migrating the event store schema")),
      Effect.withSpan("EventStore.migrate")
    )
  })
