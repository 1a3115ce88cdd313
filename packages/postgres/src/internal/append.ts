/**
 * The PostgreSQL append: one conditional statement, one round trip. It reads the stream head
 * (current version and owner type), and inserts every event — bound as arrays through `unnest` —
 * only if the owner matches, the newest event is no tombstone (the aggregate was not deleted) and
 * the current version is what the request expects and no event id is an archived event's
 * (migration 9: the archive keeps its events' ids), with versions
 * `current + k` and positions from this transaction's id (the position scheme is explained in
 * `packages/sql/src/internal/statements.ts`). No rows back means refused; a unique violation (a
 * concurrent append took the version, or an event id is stored) is refused too.
 *
 * Hand-written placeholder SQL on purpose: this is every save's statement, and one round trip
 * is what sets PostgreSQL's save rate (docs/performance.md).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { type AppendOutcome, type AppendRequest, appended, refused, type StoredEvent, TOMBSTONE } from "@eventuali/core/EventStorage"
import * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import * as SqlBackend from "@eventuali/sql/SqlBackend"
import * as Tables from "@eventuali/sql/Tables"
import { Data, Effect, Option } from "effect"
import type { Run } from "./statements.js"

/** The statement: params are the aggregate id and type, the range of acceptable current versions, and six arrays. */
export const statement = (schema: string | undefined): string => {
  const t = Tables.quoted(schema)
  const shift = SqlBackend.POSITION_SHIFT
  return `WITH s AS (
        SELECT coalesce(max(aggregate_version), 0) AS version, max(aggregate_type) AS type, max(event_type) AS head_type FROM (
          SELECT aggregate_version, aggregate_type, event_type FROM ${t.events}
          WHERE aggregate_id = $1 ORDER BY aggregate_version DESC LIMIT 1) h),
      x AS (SELECT pg_current_xact_id()::text::bigint << ${shift} AS base),
      -- Continue after this transaction's earlier appends (a caller's transaction, process managers).
      n AS (
        SELECT coalesce(max(e.position) - x.base, 0) AS written FROM x
        LEFT JOIN ${t.events} e ON e.position >= x.base AND e.position < x.base + ${2 ** shift}
        GROUP BY x.base),
      i AS (INSERT INTO ${t.events}
        (position, event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version,
         data, metadata, timestamp)
      SELECT x.base + n.written + v.k, v.event_id, $1, $2,
             s.version + v.k, v.event_type, v.event_version, v.data::json, v.metadata::json,
             'epoch'::timestamptz + v.ms * interval '1 millisecond'
      FROM s, x, n, unnest($5::text[], $6::text[], $7::int4[], $8::text[], $9::text[], $10::int8[])
        WITH ORDINALITY AS v(event_id, event_type, event_version, data, metadata, ms, k)
      WHERE (s.type IS NULL OR s.type = $2) AND s.version BETWEEN $3 AND $4
        AND s.head_type IS DISTINCT FROM '${TOMBSTONE}'
        AND n.written + cardinality($5::text[]) <= ${SqlBackend.MAX_EVENTS_PER_TRANSACTION}
        AND NOT EXISTS (SELECT 1 FROM ${t.archive} a WHERE a.event_id = ANY($5::text[]))
      RETURNING position, aggregate_version)
      -- One row back, whatever the number of events: positions and versions both go up by one
      -- an event (+ v.k), so the first of each says them all.
      SELECT count(*)::int AS inserted, min(position)::text AS first_position, min(aggregate_version)::text AS first_version FROM i`
}

/** The expectation as an inclusive range of acceptable current versions. */
const versionRange = (expected: ExpectedVersion.ExpectedVersion): readonly [number, number] => {
  switch (expected._tag) {
    case "Any":
      return [0, Number.MAX_SAFE_INTEGER]
    case "NoStream":
      return [0, 0]
    case "StreamExists":
      return [1, Number.MAX_SAFE_INTEGER]
    case "Exact":
      return [expected.version, expected.version]
  }
}

/** The statement's parameters for a request: its events as six arrays. */
export const params = (request: AppendRequest): Array<unknown> => {
  const ids: Array<string> = []
  const types: Array<string> = []
  const versions: Array<number> = []
  const data: Array<string> = []
  const metadata: Array<string> = []
  const ms: Array<number> = []
  for (const event of request.events) {
    ids.push(event.eventId)
    types.push(event.eventType)
    versions.push(event.eventVersion)
    data.push(event.dataJson)
    metadata.push(event.metadataJson)
    ms.push(event.timestamp.getTime())
  }
  const [lo, hi] = versionRange(request.expectedVersion)
  return [request.aggregateId, request.aggregateType, lo, hi, ids, types, versions, data, metadata, ms]
}

/** A refused append raised as a failure, only to roll its savepoint back; caught right after. */
class Refused extends Data.TaggedError("Refused") {}

/** What the statement answers: how many events it wrote, and the position and version of the first. */
interface InsertedRow {
  readonly inserted: number
  readonly first_position: string | null
  readonly first_version: string | null
}

/**
 * The stored events of an append the statement answered with `row`; `undefined` when it wrote
 * nothing (refused). Measured hot path: a row per event back (and a `BigInt` and an object per
 * row, and a sort) cost the client more than the statement's one summary row.
 */
const writtenBy = (request: AppendRequest, row: InsertedRow | undefined): Array<StoredEvent> | undefined => {
  if (row === undefined || row.inserted === 0 || row.first_position === null || row.first_version === null) return undefined
  const position = BigInt(row.first_position)
  const version = Number(row.first_version)
  const written: Array<StoredEvent> = new Array(request.events.length)
  for (let i = 0; i < written.length; i++) {
    written[i] = SqlBackend.storedEvent(request, request.events[i]!, version + i, position + BigInt(i))
  }
  return written
}

/**
 * Makes the append. `inTransaction`: whether the caller holds a transaction, in which a failing
 * statement would abort it all.
 */
export const make = (sql: SqlClient.SqlClient, run: Run, shared: SqlBackend.Statements, schema: string | undefined) => {
  const text = statement(schema)

  const insert = (request: AppendRequest): Effect.Effect<AppendOutcome, SqlError> =>
    Effect.flatMap(run<InsertedRow>(text, params(request)), (rows) => {
      const written = writtenBy(request, rows[0])
      if (written === undefined) return Effect.succeed(refused)
      if (request.snapshot === undefined) return Effect.succeed(appended(written))
      return Effect.as(
        run(shared.writeSnapshot, [
          request.aggregateId,
          request.aggregateType,
          written[written.length - 1]!.aggregateVersion,
          request.snapshot.schemaVersion,
          request.snapshot.stateJson
        ]),
        appended(written)
      )
    })

  /** The append and its snapshot in a (nested) transaction, rolled back when refused. */
  const insertInTransaction = (request: AppendRequest): Effect.Effect<AppendOutcome, SqlError> =>
    sql.withTransaction(
      Effect.flatMap(insert(request), (outcome) => Option.isNone(outcome) ? Effect.fail(new Refused()) : Effect.succeed(outcome))
    ).pipe(Effect.catchTag("Refused", () => Effect.succeed(refused)), SqlBackend.failedTransactionAsError)

  return (request: AppendRequest, inTransaction: boolean): Effect.Effect<AppendOutcome, SqlError> =>
    // One statement is atomic. A snapshot to write with it needs a transaction, and inside the
    // caller's transaction (which an error aborts) the append needs a savepoint, so that a
    // unique violation fails only the append.
    (request.snapshot !== undefined || inTransaction ? insertInTransaction(request) : insert(request)).pipe(
      Effect.catchIf(SqlBackend.isUniqueViolation, () => Effect.succeed(refused))
    )
}
