/**
 * The SQL behind the pages. Each query reads through an index (the position key, the stream
 * key, the event id, the type indexes) or a bounded window of the log, so a page costs the same
 * on a store of a thousand events and of millions (docs/performance.md has the figures). They
 * run once per request, so they use the `sql` template and `@eventuali/sql`'s table names.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import type { DatabaseError } from "@eventuali/core/Errors"
import * as Migrations from "@eventuali/sql/Migrations"
import { toDatabaseError } from "@eventuali/sql/SqlErrors"
import * as Tables from "@eventuali/sql/Tables"
import { Effect } from "effect"

/** The store's database, as the queries need it. */
export interface Sql {
  readonly client: SqlClient.SqlClient
  readonly dialect: "sqlite" | "postgres"
  /** The PostgreSQL schema of the store's tables, if any. */
  readonly schema: string | undefined
  readonly tables: Tables.Tables
}

export const make = (client: SqlClient.SqlClient, schema: string | undefined): Sql => ({
  client,
  dialect: client.onDialectOrElse({ pg: () => "postgres" as const, orElse: () => "sqlite" as const }),
  schema,
  tables: Tables.identifiers(schema)
})

type Count = number | string | bigint

/** A stored event row, as either driver returns it. */
export interface EventRow {
  readonly position: Count
  readonly event_id: string
  readonly aggregate_id: string
  readonly aggregate_type: string
  readonly aggregate_version: Count
  readonly event_type: string
  readonly event_version: Count
  readonly data: unknown
  readonly metadata: unknown
  readonly timestamp: Count | Date
}

/** An event of the log, decoded from its row. */
export interface Event {
  readonly position: bigint
  readonly eventId: string
  readonly eventType: string
  readonly eventVersion: number
  readonly aggregateId: string
  readonly aggregateType: string
  readonly aggregateVersion: number
  readonly timestamp: Date
  readonly metadata: Record<string, unknown>
  readonly data: unknown
}

/** SQLite stores JSON as text; node-postgres parses PostgreSQL's json columns itself. */
const json = (sql: Sql, value: unknown): unknown => {
  if (sql.dialect === "postgres" || typeof value !== "string") return value
  try {
    return JSON.parse(value)
  } catch {
    // A row changed by hand: show what is there rather than fail the page.
    return value
  }
}

const metadataOf = (sql: Sql, value: unknown): Record<string, unknown> => {
  const parsed = json(sql, value)
  return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? parsed as Record<string, unknown> : {}
}

export const eventOf = (sql: Sql) => (row: EventRow): Event => ({
  position: BigInt(row.position),
  eventId: row.event_id,
  eventType: row.event_type,
  eventVersion: Number(row.event_version),
  aggregateId: row.aggregate_id,
  aggregateType: row.aggregate_type,
  aggregateVersion: Number(row.aggregate_version),
  timestamp: row.timestamp instanceof Date ? row.timestamp : new Date(Number(row.timestamp)),
  metadata: metadataOf(sql, row.metadata),
  data: json(sql, row.data)
})

/** Runs a statement, failing with a DatabaseError that says what failed. */
const run = <Row extends object>(what: string, statement: Statement.Statement<Row>) =>
  Effect.mapError(statement, toDatabaseError(what))

/** A bigint as a parameter: node-postgres takes it as text (it sends JavaScript bigints as neither). */
const big = (sql: Sql, value: bigint): bigint | string => sql.dialect === "postgres" ? value.toString() : value

/** A time as a parameter: SQLite stores milliseconds since the epoch. */
const instant = (sql: Sql, value: Date): Date | number => sql.dialect === "postgres" ? value : value.getTime()

/** The correlation id of a row's metadata, as SQL. */
const correlationOf = (sql: Sql) =>
  sql.dialect === "postgres"
    ? sql.client.literal("(metadata->>'correlationId')")
    : sql.client.literal("json_extract(metadata, '$.correlationId')")

/** The highest applied migration. */
export const schemaVersion = (sql: Sql): Effect.Effect<number, DatabaseError> =>
  run(
    "Reading the schema version",
    sql.client<{ readonly version: Count | null }>`SELECT max(id) AS version FROM ${sql.client(sql.tables.migrations)}`
  ).pipe(Effect.map(([row]) => Number(row?.version ?? 0)))

export const latestSchemaVersion = Migrations.latest

/** The file's size (SQLite) or the events table's with its indexes (PostgreSQL). */
export const sizeBytes = (sql: Sql): Effect.Effect<number, DatabaseError> =>
  run(
    "Reading the database size",
    sql.dialect === "postgres"
      ? sql.client<{ readonly size: Count }>`SELECT pg_total_relation_size(${Tables.quoted(sql.schema).events}) AS size`
      : sql.client<{ readonly size: Count }>`SELECT page_count * page_size AS size FROM pragma_page_count(), pragma_page_size()`
  ).pipe(Effect.map(([row]) => Number(row?.size ?? 0)))

/**
 * How many events the store holds, from what the database already knows: SQLite's positions
 * are its rowids, so the highest is the count (events are never deleted); PostgreSQL's planner
 * statistics. Shown while the first exact count runs.
 */
export const estimatedEvents = (sql: Sql): Effect.Effect<number, DatabaseError> =>
  run(
    "Estimating the number of events",
    sql.dialect === "postgres"
      ? sql.client<{ readonly count: Count | null }>`SELECT greatest(reltuples, 0)::bigint AS count FROM pg_class WHERE oid = to_regclass(${
        Tables.quoted(sql.schema).events
      })`
      : sql.client<{ readonly count: Count | null }>`SELECT max(position) AS count FROM ${sql.client(sql.tables.events)}`
  ).pipe(Effect.map(([row]) => Number(row?.count ?? 0)))

export interface TypeCount {
  readonly aggregateType: string
  readonly eventType: string
  readonly events: number
  /** Events at version 1: each starts one aggregate. */
  readonly aggregates: number
}

/**
 * Events and aggregates per (aggregate type, event type) up to `head`, in one pass over the
 * table: the only full scan the UI makes, once, in the background (see `counts.ts`).
 */
export const typeCounts = (sql: Sql, head: bigint): Effect.Effect<ReadonlyArray<TypeCount>, DatabaseError> =>
  run(
    "Counting events by type",
    sql.client<{ readonly aggregate_type: string; readonly event_type: string; readonly events: Count; readonly aggregates: Count | null }>`
      SELECT aggregate_type, event_type, count(*) AS events,
        sum(CASE WHEN aggregate_version = 1 THEN 1 ELSE 0 END) AS aggregates
      FROM ${sql.client(sql.tables.events)} WHERE position <= ${big(sql, head)}
      GROUP BY aggregate_type, event_type`
  ).pipe(Effect.map((rows) =>
    rows.map((row) => ({
      aggregateType: row.aggregate_type,
      eventType: row.event_type,
      events: Number(row.events),
      aggregates: Number(row.aggregates ?? 0)
    }))
  ))

/** The type columns and time of the events in `(after, upTo]`, by position, at most `limit`. */
export const typesAfter = (
  sql: Sql,
  after: bigint,
  upTo: bigint,
  limit: number
): Effect.Effect<ReadonlyArray<{ readonly position: bigint; readonly aggregateType: string; readonly eventType: string; readonly first: boolean; readonly timestamp: Date }>, DatabaseError> =>
  run(
    "Reading new events",
    sql.client<Pick<EventRow, "position" | "aggregate_type" | "event_type" | "aggregate_version" | "timestamp">>`
      SELECT position, aggregate_type, event_type, aggregate_version, timestamp FROM ${sql.client(sql.tables.events)}
      WHERE position > ${big(sql, after)} AND position <= ${big(sql, upTo)} ORDER BY position LIMIT ${limit}`
  ).pipe(Effect.map((rows) =>
    rows.map((row) => ({
      position: BigInt(row.position),
      aggregateType: row.aggregate_type,
      eventType: row.event_type,
      first: Number(row.aggregate_version) === 1,
      timestamp: row.timestamp instanceof Date ? row.timestamp : new Date(Number(row.timestamp))
    }))
  ))

/** Events per minute (epoch minutes) for the events in `(after, upTo]`. */
export const perMinute = (
  sql: Sql,
  after: bigint,
  upTo: bigint
): Effect.Effect<ReadonlyArray<{ readonly minute: number; readonly events: number }>, DatabaseError> =>
  run(
    "Counting events per minute",
    sql.dialect === "postgres"
      ? sql.client<{ readonly minute: Count; readonly events: Count }>`
        SELECT floor(extract(epoch FROM timestamp) / 60)::bigint AS minute, count(*) AS events FROM ${sql.client(sql.tables.events)}
        WHERE position > ${big(sql, after)} AND position <= ${big(sql, upTo)} GROUP BY 1`
      : sql.client<{ readonly minute: Count; readonly events: Count }>`
        SELECT timestamp / 60000 AS minute, count(*) AS events FROM ${sql.client(sql.tables.events)}
        WHERE position > ${big(sql, after)} AND position <= ${big(sql, upTo)} GROUP BY 1`
  ).pipe(Effect.map((rows) => rows.map((row) => ({ minute: Number(row.minute), events: Number(row.events) }))))

/**
 * The position before the first event stamped at or after `time`, found by bisecting the
 * position key: the table has no index on time, and events are stamped as they are saved, so
 * times grow with positions. Events saved with an older timestamp of their own (an import) can
 * fall outside a time range that this finds.
 *
 * The bisection runs inside the database as one recursive query (each step one lookup on the
 * position key): PostgreSQL's positions span about 2^40 values on a store of a million appends,
 * and forty round trips cost more than the page may take.
 */
export const positionBeforeTime = (sql: Sql, time: Date, head: bigint): Effect.Effect<bigint, DatabaseError> => {
  const s = sql.client
  const events = s(sql.tables.events)
  // Invariant: every event at or below `low` is older than `time`; the first event at or after
  // `high`, if any, is not. Each step looks at the first event at or after the middle (SQLite
  // allows no subquery over the recursive table, so its lookup is written where it is used).
  const next = s`(SELECT position FROM ${events} WHERE position >= (low + high) / 2 ORDER BY position LIMIT 1)`
  const statement = sql.dialect === "postgres"
    ? s<{ readonly low: Count }>`
      WITH RECURSIVE bisect(low, high, step) AS (
        SELECT 0::bigint, ${big(sql, head + 1n)}::bigint, 0
        UNION ALL
        SELECT
          CASE WHEN probe.position < bisect.high AND probe.timestamp < ${time} THEN probe.position ELSE bisect.low END,
          CASE WHEN probe.position < bisect.high AND probe.timestamp < ${time} THEN bisect.high ELSE (bisect.low + bisect.high) / 2 END,
          bisect.step + 1
        FROM bisect LEFT JOIN LATERAL (
          SELECT position, timestamp FROM ${events} WHERE position >= (bisect.low + bisect.high) / 2 ORDER BY position LIMIT 1
        ) probe ON true
        WHERE bisect.high - bisect.low > 1 AND bisect.step < 200
      )
      SELECT low FROM bisect ORDER BY step DESC LIMIT 1`
    : s<{ readonly low: Count }>`
      WITH RECURSIVE bisect(low, high, step) AS (
        SELECT 0, ${head + 1n}, 0
        UNION ALL
        SELECT
          CASE WHEN ${next} < high AND (SELECT timestamp FROM ${events} WHERE position = ${next}) < ${time.getTime()} THEN ${next} ELSE low END,
          CASE WHEN ${next} < high AND (SELECT timestamp FROM ${events} WHERE position = ${next}) < ${time.getTime()} THEN high ELSE (low + high) / 2 END,
          step + 1
        FROM bisect WHERE high - low > 1 AND step < 200
      )
      SELECT low FROM bisect ORDER BY step DESC LIMIT 1`
  return run("Finding a time in the log", statement).pipe(Effect.map(([row]) => BigInt(row?.low ?? 0)))
}

/** What the log shows. */
export interface LogFilter {
  readonly aggregateType?: string | undefined
  readonly eventType?: string | undefined
  /** Only events stamped at or after. */
  readonly since?: Date | undefined
  /** Only events stamped before. */
  readonly until?: Date | undefined
  readonly aggregateId?: string | undefined
  readonly eventId?: string | undefined
}

/**
 * One page of the log within `(after, before)`, newest first when `direction` is "older",
 * oldest first when "newer".
 */
export const logPage = (
  sql: Sql,
  filter: LogFilter,
  range: { readonly after: bigint; readonly before: bigint },
  direction: "older" | "newer",
  limit: number
): Effect.Effect<ReadonlyArray<Event>, DatabaseError> => {
  const s = sql.client
  const conditions = [
    s`position > ${big(sql, range.after)}`,
    s`position < ${big(sql, range.before)}`,
    ...(filter.aggregateType === undefined ? [] : [s`aggregate_type = ${filter.aggregateType}`]),
    ...(filter.eventType === undefined ? [] : [s`event_type = ${filter.eventType}`]),
    ...(filter.aggregateId === undefined ? [] : [s`aggregate_id = ${filter.aggregateId}`]),
    ...(filter.eventId === undefined ? [] : [s`event_id = ${filter.eventId}`]),
    ...(filter.since === undefined ? [] : [s`timestamp >= ${instant(sql, filter.since)}`]),
    ...(filter.until === undefined ? [] : [s`timestamp < ${instant(sql, filter.until)}`])
  ]
  const order = direction === "older" ? s.literal("DESC") : s.literal("ASC")
  return run(
    "Reading the log",
    s<EventRow>`SELECT * FROM ${s(sql.tables.events)} WHERE ${s.and(conditions)} ORDER BY position ${order} LIMIT ${limit}`
  ).pipe(Effect.map((rows) => rows.map(eventOf(sql))))
}

/**
 * The events of one correlation id within a window of `window` events below `before`, newest
 * first, and the lowest position the window reached (`undefined` when it reached the start).
 */
export const correlated = (
  sql: Sql,
  correlationId: string,
  before: bigint,
  window: number,
  limit: number
): Effect.Effect<{ readonly events: ReadonlyArray<Event>; readonly scannedDownTo: bigint | undefined }, DatabaseError> =>
  Effect.gen(function*() {
    const s = sql.client
    const events = s(sql.tables.events)
    const [edge] = yield* run(
      "Searching by correlation id",
      s<{ readonly low: Count | null; readonly scanned: Count }>`
        SELECT min(position) AS low, count(*) AS scanned FROM (
          SELECT position FROM ${events} WHERE position < ${big(sql, before)} ORDER BY position DESC LIMIT ${window}
        ) w`
    )
    const low = edge?.low === null || edge?.low === undefined ? 0n : BigInt(edge.low)
    const reachedStart = Number(edge?.scanned ?? 0) < window
    const rows = yield* run(
      "Searching by correlation id",
      s<EventRow>`SELECT * FROM ${events} WHERE position >= ${big(sql, low)} AND position < ${big(sql, before)}
        AND ${correlationOf(sql)} = ${correlationId} ORDER BY position DESC LIMIT ${limit}`
    )
    return { events: rows.map(eventOf(sql)), scannedDownTo: reachedStart ? undefined : low }
  })

/** One aggregate's events from `fromVersion` (exclusive), by version. */
export const streamEvents = (
  sql: Sql,
  aggregateId: string,
  fromVersion: number,
  limit: number
): Effect.Effect<ReadonlyArray<Event>, DatabaseError> =>
  run(
    "Reading an aggregate",
    sql.client<EventRow>`SELECT * FROM ${sql.client(sql.tables.events)} WHERE aggregate_id = ${aggregateId}
      AND aggregate_version > ${fromVersion} ORDER BY aggregate_version LIMIT ${limit}`
  ).pipe(Effect.map((rows) => rows.map(eventOf(sql))))

/** An aggregate's type and current version, if it has events. */
export const streamHead = (
  sql: Sql,
  aggregateId: string
): Effect.Effect<{ readonly aggregateType: string; readonly version: number } | undefined, DatabaseError> =>
  run(
    "Reading an aggregate",
    sql.client<{ readonly aggregate_type: string; readonly aggregate_version: Count }>`
      SELECT aggregate_type, aggregate_version FROM ${sql.client(sql.tables.events)} WHERE aggregate_id = ${aggregateId}
      ORDER BY aggregate_version DESC LIMIT 1`
  ).pipe(Effect.map(([row]) =>
    row === undefined ? undefined : { aggregateType: row.aggregate_type, version: Number(row.aggregate_version) }
  ))

/** An event without its payload: what the causation graph draws. */
export type Link = Omit<Event, "data">

const linkColumns = "position, event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, metadata, timestamp"

const linkOf = (sql: Sql) => (row: Omit<EventRow, "data">): Link => eventOf(sql)({ ...row, data: null })

/** The event with this id, if any. */
export const linkById = (sql: Sql, eventId: string): Effect.Effect<Link | undefined, DatabaseError> =>
  run(
    "Reading an event",
    sql.client<Omit<EventRow, "data">>`SELECT ${sql.client.literal(linkColumns)} FROM ${sql.client(sql.tables.events)} WHERE event_id = ${eventId}`
  ).pipe(Effect.map(([row]) => row === undefined ? undefined : linkOf(sql)(row)))

/**
 * Of the `window` events from `position` on, those whose correlation id is one of
 * `correlationIds` or whose causation id is one of `causationIds`, by position, without payloads.
 * Filtered in the database: only the conversation's events cross the wire.
 */
export const linksFrom = (
  sql: Sql,
  position: bigint,
  window: number,
  links: { readonly correlationIds: ReadonlyArray<string>; readonly causationIds: ReadonlyArray<string> }
): Effect.Effect<{ readonly links: ReadonlyArray<Link>; readonly scanned: number }, DatabaseError> => {
  const s = sql.client
  const causationOf = sql.dialect === "postgres"
    ? s.literal("(metadata->>'causationId')")
    : s.literal("json_extract(metadata, '$.causationId')")
  const inList = (values: ReadonlyArray<string>) => values.length === 0 ? s.literal("(NULL)") : s.in(values)
  const windowed = s`SELECT ${s.literal(linkColumns)} FROM ${s(sql.tables.events)} WHERE position >= ${big(sql, position)} ORDER BY position LIMIT ${window}`
  return Effect.all([
    run(
      "Reading the events after a cause",
      s<Omit<EventRow, "data">>`SELECT * FROM (${windowed}) w
        WHERE ${correlationOf(sql)} IN ${inList(links.correlationIds)} OR ${causationOf} IN ${inList(links.causationIds)}
        ORDER BY position`
    ),
    run(
      "Reading the events after a cause",
      s<{ readonly scanned: Count }>`SELECT count(*) AS scanned FROM (
        SELECT position FROM ${s(sql.tables.events)} WHERE position >= ${big(sql, position)} ORDER BY position LIMIT ${window}
      ) w`
    )
  ]).pipe(Effect.map(([rows, [count]]) => ({ links: rows.map(linkOf(sql)), scanned: Number(count?.scanned ?? 0) })))
}

/** When the first event after `position` (up to `upTo`) was stamped, if there is one. */
export const firstTimeAfter = (sql: Sql, position: bigint, upTo: bigint): Effect.Effect<Date | undefined, DatabaseError> =>
  run(
    "Reading a projection's lag",
    sql.client<{ readonly timestamp: Count | Date }>`SELECT timestamp FROM ${sql.client(sql.tables.events)}
      WHERE position > ${big(sql, position)} AND position <= ${big(sql, upTo)} ORDER BY position LIMIT 1`
  ).pipe(Effect.map(([row]) => row === undefined ? undefined : row.timestamp instanceof Date ? row.timestamp : new Date(Number(row.timestamp))))

/** Events after `position` (up to `upTo`), counted up to `cap` (so the count stays cheap when far behind). */
export const eventsAfter = (sql: Sql, position: bigint, upTo: bigint, cap: number): Effect.Effect<number, DatabaseError> =>
  run(
    "Counting a projection's lag",
    sql.client<{ readonly count: Count }>`SELECT count(*) AS count FROM (
      SELECT 1 AS one FROM ${sql.client(sql.tables.events)} WHERE position > ${big(sql, position)} AND position <= ${big(sql, upTo)}
      ORDER BY position LIMIT ${cap}
    ) w`
  ).pipe(Effect.map(([row]) => Number(row?.count ?? 0)))
