/**
 * The store a command works on, opened from `--url`, and the SQL the store API does not cover:
 * schema version, statistics, database size.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as SqlClient from "@effect/sql/SqlClient"
import { DatabaseError } from "@eventuali/core/Errors"
import * as EventStore from "@eventuali/core/EventStore"
import * as ProjectionStore from "@eventuali/core/ProjectionStore"
import * as Migrations from "@eventuali/sql/Migrations"
import { Context, Effect, Layer, Option, Redacted } from "effect"
import * as PgEventStore from "@eventuali/postgres/PgEventStore"
import { ConnectionString, EventStore as FrontDoor } from "eventuali"

/** The tables of the store, as `@eventuali/sql` names them (in a PostgreSQL schema, if any). */
export interface Tables {
  readonly events: string
  readonly migrations: string
  readonly checkpoints: string
}

const tables = (schema: string | undefined): Tables => {
  const qualify = (name: string) => schema === undefined ? name : `"${schema}".${name}`
  return {
    events: qualify("eventuali_events"),
    migrations: qualify("eventuali_migrations"),
    checkpoints: qualify("eventuali_checkpoints")
  }
}

export interface Sql {
  readonly client: SqlClient.SqlClient
  readonly dialect: "sqlite" | "postgres"
  readonly tables: Tables
}

export interface Service {
  /** The connection string with its password hidden. */
  readonly shownUrl: string
  readonly backend: "memory" | "sqlite" | "postgres"
  /** The SQL client of the SQLite and PostgreSQL stores; none for `memory://`. */
  readonly sql: Option.Option<Sql>
}

export class Database extends Context.Tag("eventuali/cli/Database")<Database, Service>() {}

/** What a command needs from the database beside the store. */
export type Services = Database | EventStore.EventStore | ProjectionStore.ProjectionStore

/**
 * Opens the store. Opening a SQL store applies the migrations it lacks; a SQLite file is only
 * created when `create` is set (by `init`, `import`), so a mistyped path fails instead of leaving
 * an empty database behind.
 */
export const layer = (
  url: Redacted.Redacted<string>,
  options: { readonly create: boolean }
): Layer.Layer<Services, DatabaseError, FileSystem.FileSystem> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const parsed = yield* ConnectionString.parse(Redacted.value(url))
    const shownUrl = ConnectionString.redact(Redacted.value(url))
    if (parsed._tag === "Sqlite" && parsed.filename !== ":memory:" && !options.create) {
      const fs = yield* FileSystem.FileSystem
      const exists = yield* fs.exists(parsed.filename).pipe(Effect.orElseSucceed(() => false))
      if (!exists) {
        return yield* new DatabaseError({
          message: `No SQLite database at ${JSON.stringify(parsed.filename)} (create one with: eventuali init --url ${shownUrl})`
        })
      }
    }
    if (parsed._tag === "Memory") {
      return Layer.merge(FrontDoor.layer(url), Layer.succeed(Database, { shownUrl, backend: "memory", sql: Option.none() }))
    }
    const dialect = parsed._tag === "Sqlite" ? "sqlite" as const : "postgres" as const
    const schema = parsed._tag === "Postgres" ? PgEventStore.parseUrl(parsed.url).schema : undefined
    const database = Layer.effect(
      Database,
      Effect.map(SqlClient.SqlClient, (client) => ({
        shownUrl,
        backend: dialect,
        sql: Option.some({ client, dialect, tables: tables(schema) })
      }))
    )
    return Layer.provideMerge(database, FrontDoor.layerSql(url))
  }))

const toDatabaseError = (what: string) => (error: { readonly message: string; readonly cause?: unknown }) =>
  new DatabaseError({ message: `${what}: ${sqlMessage(error)}`, cause: error })

/** `SqlError`'s own message is generic ("Failed to execute statement"): the driver's is the useful one. */
const sqlMessage = (error: { readonly message: string; readonly cause?: unknown }): string =>
  error.cause instanceof Error && error.cause.message !== "" ? error.cause.message : error.message

const query = <Row extends object>(sql: Sql, what: string, statement: string, params: ReadonlyArray<unknown> = []) =>
  sql.client.unsafe<Row>(statement, params).pipe(Effect.mapError(toDatabaseError(what)))

/** The highest applied migration, and the highest this version of Eventuali knows. */
export const schemaVersion = (sql: Sql): Effect.Effect<{ readonly applied: number; readonly latest: number }, DatabaseError> =>
  query<{ readonly version: number | string | null }>(sql, "Reading the schema version", `SELECT max(id) AS version FROM ${sql.tables.migrations}`)
    .pipe(Effect.map(([row]) => ({ applied: Number(row?.version ?? 0), latest: Migrations.latest })))

/** One trivial statement, for the latency of a round trip. */
export const ping = (sql: Sql): Effect.Effect<void, DatabaseError> =>
  Effect.asVoid(query(sql, "Pinging the database", "SELECT 1 AS one"))

export interface Stats {
  readonly events: number
  readonly aggregates: number
  readonly lastPosition: bigint
  readonly databaseSizeBytes: number
  readonly aggregateTypes: ReadonlyArray<{ readonly name: string; readonly aggregates: number; readonly events: number }>
  readonly eventTypes: ReadonlyArray<{ readonly name: string; readonly events: number }>
}

type Count = number | string | bigint

export const stats = (sql: Sql): Effect.Effect<Stats, DatabaseError> =>
  Effect.gen(function*() {
    const { events } = sql.tables
    const what = "Reading statistics"
    const [totals] = yield* query<{ readonly events: Count; readonly aggregates: Count; readonly last: Count | null }>(
      sql,
      what,
      `SELECT count(*) AS events, count(DISTINCT aggregate_id) AS aggregates, max(position) AS last FROM ${events}`
    )
    const aggregateTypes = yield* query<{ readonly name: string; readonly aggregates: Count; readonly events: Count }>(
      sql,
      what,
      `SELECT aggregate_type AS name, count(DISTINCT aggregate_id) AS aggregates, count(*) AS events
       FROM ${events} GROUP BY aggregate_type ORDER BY count(*) DESC, aggregate_type`
    )
    const eventTypes = yield* query<{ readonly name: string; readonly events: Count }>(
      sql,
      what,
      `SELECT event_type AS name, count(*) AS events FROM ${events} GROUP BY event_type ORDER BY count(*) DESC, event_type`
    )
    const [size] = yield* query<{ readonly size: Count }>(
      sql,
      what,
      sql.dialect === "sqlite"
        ? "SELECT page_count * page_size AS size FROM pragma_page_count(), pragma_page_size()"
        : `SELECT pg_total_relation_size('${events.replaceAll("'", "''")}') AS size`
    )
    return {
      events: Number(totals?.events ?? 0),
      aggregates: Number(totals?.aggregates ?? 0),
      lastPosition: BigInt(totals?.last ?? 0),
      databaseSizeBytes: Number(size?.size ?? 0),
      aggregateTypes: aggregateTypes.map((row) => ({ name: row.name, aggregates: Number(row.aggregates), events: Number(row.events) })),
      eventTypes: eventTypes.map((row) => ({ name: row.name, events: Number(row.events) }))
    }
  })

/** How many events lie after a position. */
export const eventsAfter = (sql: Sql, position: bigint): Effect.Effect<number, DatabaseError> =>
  query<{ readonly count: Count }>(
    sql,
    "Counting events",
    `SELECT count(*) AS count FROM ${sql.tables.events} WHERE position > ${sql.dialect === "sqlite" ? "?" : "$1"}`,
    [sql.dialect === "sqlite" ? position : position.toString()]
  ).pipe(Effect.map(([row]) => Number(row?.count ?? 0)))

/**
 * Refreshes the planner's statistics of the events table, as after any bulk load: a PostgreSQL
 * table filled faster than autovacuum notices is read page by page with a plan made for an empty
 * table (an export right after a 100,000-event import took five times longer).
 */
export const analyze = (sql: Sql): Effect.Effect<void, DatabaseError> =>
  Effect.asVoid(query(sql, "Analyzing the events table", `ANALYZE ${sql.tables.events}`))
