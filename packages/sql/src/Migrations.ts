/**
 * The schema of the event store, as numbered migrations applied once per database.
 *
 * Each migration is idempotent DDL (`IF NOT EXISTS`), applied in one transaction with its
 * bookkeeping row; on PostgreSQL the transaction first takes an advisory lock, so processes
 * starting at once apply each migration exactly once.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { DatabaseError } from "@eventuali/core/Errors"
import { Effect } from "effect"
import { toDatabaseError } from "./internal/errors.js"
import { type Tables, tables } from "./internal/statements.js"

/**
 * A migration: an id (applied in ascending order) and the statements of each dialect.
 *
 * @since 0.1.0
 * @category models
 */
export interface Migration {
  readonly id: number
  readonly name: string
  /** The statements, given the (possibly schema-qualified) table names. */
  readonly sqlite: (tables: Tables) => ReadonlyArray<string>
  readonly pg: (tables: Tables) => ReadonlyArray<string>
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
  }
]

/**
 * The highest migration id: the schema version of a fully migrated database.
 *
 * @since 0.1.0
 * @category models
 */
export const latest: number = migrations[migrations.length - 1]!.id

/** A fixed namespace for the advisory lock that serialises migrations on PostgreSQL. */
const MIGRATION_LOCK_CLASS = 7_368_736

/**
 * Applies the migrations not yet applied to the database (in `schema`, created if missing, on
 * PostgreSQL).
 *
 * @since 0.1.0
 * @category migrations
 */
export const run = (
  options: { readonly schema?: string | undefined } = {}
): Effect.Effect<void, DatabaseError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = sql.onDialectOrElse({ pg: () => "pg" as const, orElse: () => "sqlite" as const })
    const t = tables(options.schema)
    yield* sql.withTransaction(Effect.gen(function*() {
      if (dialect === "pg") {
        yield* sql.unsafe(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_CLASS}, hashtext($1))`, [options.schema ?? ""])
        if (options.schema !== undefined) yield* sql.unsafe(`CREATE SCHEMA IF NOT EXISTS "${options.schema}"`)
      }
      yield* sql.unsafe(`CREATE TABLE IF NOT EXISTS ${t.migrations} (
        id integer PRIMARY KEY,
        name text NOT NULL,
        applied_at text NOT NULL
      )`)
      const applied = yield* sql.unsafe<{ readonly id: number }>(`SELECT id FROM ${t.migrations}`)
      const done = new Set(applied.map((row) => Number(row.id)))
      for (const migration of migrations) {
        if (done.has(migration.id)) continue
        for (const statement of migration[dialect](t)) yield* sql.unsafe(statement)
        yield* sql.unsafe(
          dialect === "pg"
            ? `INSERT INTO ${t.migrations} (id, name, applied_at) VALUES ($1, $2, $3)`
            : `INSERT INTO ${t.migrations} (id, name, applied_at) VALUES (?, ?, ?)`,
          [migration.id, migration.name, new Date().toISOString()]
        )
      }
    })).pipe(
      Effect.mapError(toDatabaseError("Migrating the event store schema")),
      Effect.withSpan("EventStore.migrate")
    )
  })
