/**
 * The store a command works on, opened from `--url`, and the SQL the store API does not cover:
 * schema version, statistics, database size. Those queries run once per command, so they are
 * written with the `sql` template and the table names of `@eventuali/sql`'s `Tables`.
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import { DatabaseError, type EventStoreError } from "@eventuali/core/Errors"
import * as EventStore from "@eventuali/core/EventStore"
import * as ProjectionStore from "@eventuali/core/ProjectionStore"
import type * as Privacy from "@eventuali/core/Privacy"
import * as Tenants from "@eventuali/core/Tenants"
import * as Migrations from "@eventuali/sql/Migrations"
import { toDatabaseError } from "@eventuali/sql/SqlErrors"
import * as Tables from "@eventuali/sql/Tables"
import { Config, Context, Effect, Layer, Option, Redacted } from "effect"
import * as PgEventStore from "@eventuali/postgres/PgEventStore"
import * as PgTenants from "@eventuali/postgres/PgTenants"
import { ConnectionString, EventStore as FrontDoor } from "eventuali"

export interface Sql {
  readonly client: SqlClient.SqlClient
  /** The PostgreSQL schema of the store's tables, if any. */
  readonly schema: string | undefined
  /** The store's tables, as identifiers for the `sql` template. */
  readonly tables: Tables.Tables
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
export type Services = Database | EventStore.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy

/**
 * Opens the store. Opening a SQL store applies the migrations it lacks; a SQLite file is only
 * created when `create` is set (by `init`, `import`), so a mistyped path fails instead of leaving
 * an empty database behind.
 */
export const layer = (
  url: Redacted.Redacted<string>,
  options: {
    readonly create: boolean
    readonly tenant?: Option.Option<string> | undefined
    /** `--replica`: streaming replicas of the PostgreSQL server to read from. */
    readonly replicas?: ReadonlyArray<Redacted.Redacted<string>> | undefined
  }
): Layer.Layer<Services, DatabaseError | EventStoreError, FileSystem.FileSystem> =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const parsed = yield* ConnectionString.parse(Redacted.value(url))
    const shownUrl = ConnectionString.redact(Redacted.value(url))
    const replicas = options.replicas ?? []
    if (replicas.length > 0 && (parsed._tag !== "Postgres" || (options.tenant !== undefined && Option.isSome(options.tenant)))) {
      return yield* new DatabaseError({
        message: `--replica needs a PostgreSQL server (--url postgresql://…) and no --tenant, not ${shownUrl}${
          parsed._tag === "Postgres" ? " with --tenant" : ""
        }`
      })
    }
    if (options.tenant !== undefined && Option.isSome(options.tenant)) {
      if (parsed._tag !== "Postgres") {
        return yield* new DatabaseError({ message: `--tenant needs a PostgreSQL server (--url postgresql://…), not ${shownUrl}` })
      }
      return yield* tenantLayer(parsed.url, shownUrl, options.tenant.value, options.create)
    }
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
        sql: Option.some({ client, schema, tables: Tables.identifiers(schema) })
      }))
    )
    const store = replicas.length > 0 ? PgEventStore.layer({ url, replicas }) : FrontDoor.layerSql(url)
    return Layer.provideMerge(database, store)
  }))

/**
 * How the deployment's tenants are stored, from the environment: `EVENTUALI_TENANT_PREFIX`
 * (default `tenant_`), `EVENTUALI_TENANT_STRATEGY` (`schema`, the default, or `conjoined`: what
 * `init`/`import --tenant` and `tenants create` make; an existing tenant opens as it was created),
 * `EVENTUALI_TENANT_SHARED_SCHEMA` (the conjoined tables' schema, default `eventuali_conjoined`).
 */
export const tenantSettings = Effect.gen(function*() {
  const setting = (name: string, fallback: string) =>
    Config.string(name).pipe(Config.withDefault(fallback), Effect.orElseSucceed(() => fallback))
  const schemaPrefix = yield* setting("EVENTUALI_TENANT_PREFIX", "tenant_")
  const strategy = yield* setting("EVENTUALI_TENANT_STRATEGY", "schema")
  if (strategy !== "schema" && strategy !== "conjoined") {
    return yield* new DatabaseError({ message: `EVENTUALI_TENANT_STRATEGY must be schema or conjoined, not ${JSON.stringify(strategy)}` })
  }
  const conjoinedSchema = yield* setting("EVENTUALI_TENANT_SHARED_SCHEMA", "eventuali_conjoined")
  return { schemaPrefix, strategy, conjoinedSchema } as const
})

/**
 * The store of one tenant on the server of `url` (`PgTenants` with the schemas of that server as
 * its directory): created by `init` and `import`, refused by the other commands when missing.
 */
const tenantLayer = (url: string, shownUrl: string, tenantId: string, create: boolean) =>
  Effect.gen(function*() {
    if (PgEventStore.parseUrl(url).schema !== undefined) {
      return yield* new DatabaseError({ message: "--tenant chooses the schema: pass the server's URL without ?schema=" })
    }
    const settings = yield* tenantSettings
    const { schemaPrefix } = settings
    const tenants = PgTenants.layer({ servers: { server: url }, directory: "schemas", ...settings })
    const schema = `${schemaPrefix}${yield* Tenants.validateId(tenantId)}`
    const services = Layer.unwrapEffect(Effect.gen(function*() {
      if (create) yield* Effect.flatMap(PgTenants.PgTenants, (service) => service.create(tenantId))
      return PgTenants.tenantLayer(tenantId)
    }))
    const database = Layer.effect(
      Database,
      Effect.map(SqlClient.SqlClient, (client) => ({
        shownUrl: `${shownUrl} (tenant ${tenantId})`,
        backend: "postgres" as const,
        sql: Option.some({ client, schema, tables: Tables.identifiers(schema) })
      }))
    )
    return Layer.provideMerge(database, services).pipe(
      Layer.provide(tenants),
      Layer.catchAll((error) =>
        Layer.fail(
          error._tag === "TenantNotFoundError"
            ? new DatabaseError({ message: `No tenant ${JSON.stringify(tenantId)} on ${shownUrl} (create it with: eventuali init --tenant ${tenantId})` })
            : error
        )
      )
    )
  })

/** Runs a statement, failing with a DatabaseError that says what failed. */
const run = <Row extends object>(what: string, statement: Statement.Statement<Row>) =>
  Effect.mapError(statement, toDatabaseError(what))

/** The highest applied migration, and the highest this version of Eventuali knows. */
export const schemaVersion = (
  { client: sql, tables }: Sql
): Effect.Effect<{ readonly applied: number; readonly latest: number }, DatabaseError> =>
  run("Reading the schema version", sql<{ readonly version: number | string | null }>`SELECT max(id) AS version FROM ${sql(tables.migrations)}`)
    .pipe(Effect.map(([row]) => ({ applied: Number(row?.version ?? 0), latest: Migrations.latest })))

/** One trivial statement, for the latency of a round trip. */
export const ping = ({ client: sql }: Sql): Effect.Effect<void, DatabaseError> =>
  Effect.asVoid(run("Pinging the database", sql`SELECT 1 AS one`))

export interface Stats {
  readonly events: number
  readonly aggregates: number
  readonly lastPosition: bigint
  readonly databaseSizeBytes: number
  readonly aggregateTypes: ReadonlyArray<{ readonly name: string; readonly aggregates: number; readonly events: number }>
  readonly eventTypes: ReadonlyArray<{ readonly name: string; readonly events: number }>
}

type Count = number | string | bigint

export const stats = ({ client: sql, schema, tables }: Sql): Effect.Effect<Stats, DatabaseError> =>
  Effect.gen(function*() {
    const events = sql(tables.events)
    const what = "Reading statistics"
    const [totals] = yield* run(
      what,
      sql<{ readonly events: Count; readonly aggregates: Count; readonly last: Count | null }>`
        SELECT count(*) AS events, count(DISTINCT aggregate_id) AS aggregates, max(position) AS last FROM ${events}`
    )
    const aggregateTypes = yield* run(
      what,
      sql<{ readonly name: string; readonly aggregates: Count; readonly events: Count }>`
        SELECT aggregate_type AS name, count(DISTINCT aggregate_id) AS aggregates, count(*) AS events
        FROM ${events} GROUP BY aggregate_type ORDER BY count(*) DESC, aggregate_type`
    )
    const eventTypes = yield* run(
      what,
      sql<{ readonly name: string; readonly events: Count }>`
        SELECT event_type AS name, count(*) AS events FROM ${events} GROUP BY event_type ORDER BY count(*) DESC, event_type`
    )
    const [size] = yield* run(
      what,
      sql.onDialectOrElse({
        // The table's name as PostgreSQL parses it (quoted, so a schema keeps its case), bound as a parameter.
        pg: () => sql<{ readonly size: Count }>`SELECT pg_total_relation_size(${Tables.quoted(schema).events}) AS size`,
        orElse: () => sql<{ readonly size: Count }>`SELECT page_count * page_size AS size FROM pragma_page_count(), pragma_page_size()`
      })
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
export const eventsAfter = ({ client: sql, tables }: Sql, position: bigint): Effect.Effect<number, DatabaseError> =>
  run(
    "Counting events",
    // PostgreSQL takes the bigint as text (node-postgres sends JavaScript bigints as neither).
    sql<{ readonly count: Count }>`SELECT count(*) AS count FROM ${sql(tables.events)} WHERE position > ${
      sql.onDialectOrElse({ pg: () => position.toString(), orElse: () => position })
    }`
  ).pipe(Effect.map(([row]) => Number(row?.count ?? 0)))

/**
 * Refreshes the planner's statistics of the events table, as after any bulk load: a PostgreSQL
 * table filled faster than autovacuum notices is read page by page with a plan made for an empty
 * table (an export right after a 100,000-event import took five times longer).
 */
export const analyze = ({ client: sql, tables }: Sql): Effect.Effect<void, DatabaseError> =>
  Effect.asVoid(run("Analyzing the events table", sql`ANALYZE ${sql(tables.events)}`))
