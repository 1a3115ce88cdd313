import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type { SerializationError } from "@eventuali/core/Errors"
import { type AppendRequest, type EventStorage, parseJson, type StoredEvent } from "@eventuali/core/EventStorage"
import * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import { Data, Effect, Either, Option } from "effect"
import { isUniqueViolation, toDatabaseError } from "./errors.js"

/** Events per INSERT statement: keeps bound parameters far below SQLite's limit of 32766. */
const CHUNK = 1000

/** A row as the read statements select it. */
interface EventRow {
  readonly position: number | bigint | string
  readonly event_id: string
  readonly event_type: string
  readonly event_version: number
  readonly aggregate_id: string
  readonly aggregate_type: string
  readonly aggregate_version: number
  readonly data: string
  readonly metadata: string
  readonly timestamp: number
}

const COLUMNS =
  "position, event_id, event_type, event_version, aggregate_id, aggregate_type, aggregate_version, data, metadata, timestamp"

const toStored = (row: EventRow): Either.Either<StoredEvent, SerializationError> =>
  Either.flatMap(parseJson(row.event_type, row.data), (data) =>
    Either.map(parseJson(row.event_type, row.metadata, "metadata"), (metadata) => ({
      eventId: row.event_id,
      eventType: row.event_type,
      eventVersion: row.event_version,
      aggregateId: row.aggregate_id,
      aggregateType: row.aggregate_type,
      aggregateVersion: row.aggregate_version,
      position: BigInt(row.position),
      timestamp: new Date(row.timestamp),
      metadata: metadata as StoredEvent["metadata"],
      data
    })))

const toStoredAll = (rows: ReadonlyArray<EventRow>): Either.Either<Array<StoredEvent>, SerializationError> => {
  const events: Array<StoredEvent> = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const event = toStored(rows[i]!)
    if (Either.isLeft(event)) return Either.left(event.left)
    events[i] = event.right
  }
  return Either.right(events)
}

/** The expectation as an inclusive range of acceptable current versions (bound as ?3, ?4). */
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

/**
 * One statement appends a whole batch, conditionally: the current version and owner type are
 * read in the same statement, so the insert happens only if the expectation holds, and the new
 * versions are `current + k`. The expectation is a range of acceptable current versions, so one
 * statement text (prepared once per batch size) serves every ExpectedVersion mode, and the
 * stream's head (version and owner type) is one index seek. Zero rows returned means refused. SQLite runs a statement
 * atomically and alone, so no explicit transaction is needed for a batch that fits one statement.
 */
const appendStatement = (count: number): string => {
  const values = new Array<string>(count)
  for (let k = 0; k < count; k++) values[k] = `(${k + 1}, ?, ?, ?, ?, ?, ?)`
  return `WITH p(aggregate_id, aggregate_type, lo, hi) AS (VALUES (?, ?, ?, ?)),
    s(version, type) AS (
      SELECT coalesce(max(aggregate_version), 0), max(aggregate_type) FROM (
        SELECT aggregate_version, aggregate_type FROM eventuali_events
        WHERE aggregate_id = (SELECT aggregate_id FROM p)
        ORDER BY aggregate_version DESC LIMIT 1)),
    v(k, event_id, event_type, event_version, data, metadata, timestamp) AS (VALUES ${values.join(", ")})
    INSERT INTO eventuali_events
      (event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
    SELECT v.event_id, p.aggregate_id, p.aggregate_type, s.version + v.k, v.event_type, v.event_version, v.data, v.metadata, v.timestamp
    FROM p, s, v
    WHERE (s.type IS NULL OR s.type = p.aggregate_type) AND s.version BETWEEN p.lo AND p.hi
    RETURNING position, aggregate_version`
}

export const make: Effect.Effect<EventStorage, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const statements = new Map<number, string>()
  const appendSql = (count: number) => {
    let text = statements.get(count)
    if (text === undefined) {
      text = appendStatement(count)
      statements.set(count, text)
    }
    return text
  }

  const appendChunk = (request: AppendRequest, expected: ExpectedVersion.ExpectedVersion, from: number, to: number) => {
    const params: Array<unknown> = [request.aggregateId, request.aggregateType, ...versionRange(expected)]
    for (let i = from; i < to; i++) {
      const event = request.events[i]!
      params.push(
        event.eventId,
        event.eventType,
        event.eventVersion,
        event.dataJson,
        event.metadataJson,
        event.timestamp.getTime()
      )
    }
    return sql.unsafe<{ readonly position: number; readonly aggregate_version: number }>(appendSql(to - from), params)
  }

  const insert = (request: AppendRequest): Effect.Effect<Option.Option<ReadonlyArray<StoredEvent>>, SqlError> =>
    Effect.gen(function*() {
      const events = request.events
      const written: Array<StoredEvent> = []
      let expected = request.expectedVersion
      for (let from = 0; from < events.length; from += CHUNK) {
        const to = Math.min(from + CHUNK, events.length)
        const rows = yield* appendChunk(request, expected, from, to)
        if (rows.length === 0) return Option.none()
        const sorted = [...rows].sort((a, b) => a.aggregate_version - b.aggregate_version)
        for (let i = 0; i < sorted.length; i++) {
          const event = events[from + i]!
          written.push({
            eventId: event.eventId,
            eventType: event.eventType,
            eventVersion: event.eventVersion,
            aggregateId: request.aggregateId,
            aggregateType: request.aggregateType,
            aggregateVersion: Number(sorted[i]!.aggregate_version),
            position: BigInt(sorted[i]!.position),
            timestamp: event.timestamp,
            metadata: event.metadata,
            data: event.data
          })
        }
        expected = ExpectedVersion.exact(written[written.length - 1]!.aggregateVersion)
      }
      return Option.some(written)
    })

  const append: EventStorage["append"] = (request) => {
    // A batch larger than one statement needs a transaction to stay all-or-nothing: a refused
    // later chunk fails it, so the earlier chunks are rolled back.
    const atomic = request.events.length <= CHUNK ? insert(request) : sql.withTransaction(
      Effect.flatMap(insert(request), Option.match({ onNone: () => Effect.fail(new Refused()), onSome: Effect.succeedSome }))
    ).pipe(Effect.catchTag("Refused", () => Effect.succeedNone))
    return atomic.pipe(
      Effect.catchIf(isUniqueViolation, () => Effect.succeedNone),
      Effect.mapError(toDatabaseError("Appending events"))
    )
  }

  const storage: EventStorage = {
    append,

    inspect: (aggregateId, eventIds) =>
      Effect.all([
        sql.unsafe<{ readonly version: number; readonly type: string | null }>(
          `SELECT coalesce(max(aggregate_version), 0) AS version, max(aggregate_type) AS type FROM (
             SELECT aggregate_version, aggregate_type FROM eventuali_events
             WHERE aggregate_id = ? ORDER BY aggregate_version DESC LIMIT 1)`,
          [aggregateId]
        ),
        sql.unsafe<{ readonly event_id: string; readonly aggregate_id: string; readonly aggregate_version: number }>(
          `SELECT event_id, aggregate_id, aggregate_version FROM eventuali_events
           WHERE event_id IN (SELECT value FROM json_each(?))`,
          [JSON.stringify(eventIds)]
        )
      ]).pipe(
        Effect.map(([[stream], existing]) => ({
          actualVersion: Number(stream?.version ?? 0),
          aggregateType: stream?.type ?? undefined,
          existing: existing.map((row) => ({
            eventId: row.event_id,
            aggregateId: row.aggregate_id,
            aggregateVersion: Number(row.aggregate_version)
          }))
        })),
        Effect.mapError(toDatabaseError("Reading the state of an aggregate"))
      ),

    readStream: (aggregateId, fromVersion) =>
      sql.unsafe<EventRow>(
        `SELECT ${COLUMNS} FROM eventuali_events
         WHERE aggregate_id = ? AND aggregate_version > ? ORDER BY aggregate_version`,
        [aggregateId, fromVersion]
      ).pipe(
        Effect.mapError(toDatabaseError("Reading an aggregate's events")),
        Effect.flatMap(toStoredAll)
      ),

    readAll: ({ aggregateType, fromPosition, limit }) => {
      const params: Array<unknown> = [fromPosition]
      let text = `SELECT ${COLUMNS} FROM eventuali_events WHERE position > ?`
      if (aggregateType !== undefined) {
        text += " AND aggregate_type = ?"
        params.push(aggregateType)
      }
      text += " ORDER BY position"
      if (limit !== undefined) {
        text += " LIMIT ?"
        params.push(limit)
      }
      return sql.unsafe<EventRow>(text, params).pipe(
        Effect.mapError(toDatabaseError("Reading events")),
        Effect.flatMap(toStoredAll)
      )
    },

    version: (aggregateId) =>
      sql.unsafe<{ readonly version: number | null }>(
        `SELECT max(aggregate_version) AS version FROM eventuali_events WHERE aggregate_id = ?`,
        [aggregateId]
      ).pipe(
        Effect.map(([row]) => row?.version == null ? Option.none() : Option.some(Number(row.version))),
        Effect.mapError(toDatabaseError("Reading an aggregate's version"))
      )
  }
  return storage
})

class Refused extends Data.TaggedError("Refused") {}
