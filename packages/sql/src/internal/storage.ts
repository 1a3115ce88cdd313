import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { EventStoreError, type SerializationError } from "@eventuali/core/Errors"
import { type AppendRequest, type EventStorage, parseJson, type StoredEvent } from "@eventuali/core/EventStorage"
import type * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import { Clock, Data, Duration, Effect, Either, Option, Schedule, type Stream } from "effect"
import { isUniqueViolation, toDatabaseError } from "./errors.js"
import * as Statements from "./statements.js"

/** A row as the read statements select it (drivers differ in how they return integers). */
interface EventRow {
  readonly position: number | bigint | string
  readonly event_id: string
  readonly event_type: string
  readonly event_version: number
  readonly aggregate_id: string
  readonly aggregate_type: string
  readonly aggregate_version: number | string
  readonly data: string
  readonly metadata: string
  readonly timestamp: number | string
}

const toStored = (row: EventRow): Either.Either<StoredEvent, SerializationError> =>
  Either.flatMap(parseJson(row.event_type, row.data), (data) =>
    Either.map(parseJson(row.event_type, row.metadata, "metadata"), (metadata) => ({
      eventId: row.event_id,
      eventType: row.event_type,
      eventVersion: Number(row.event_version),
      aggregateId: row.aggregate_id,
      aggregateType: row.aggregate_type,
      aggregateVersion: Number(row.aggregate_version),
      position: BigInt(row.position),
      timestamp: new Date(Number(row.timestamp)),
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

class Refused extends Data.TaggedError("Refused") {}

const liveClock = Clock.make()

/** How long a one-shot read waits for transactions in flight at its start (PostgreSQL). */
const CATCH_UP_LIMIT = Duration.seconds(5)

export interface Options {
  /** PostgreSQL schema holding the tables; validated by the caller. */
  readonly schema?: string | undefined
  /** Wake-ups from other processes (PostgreSQL: LISTEN on `Tables.channel`). */
  readonly notifications?: Stream.Stream<void> | undefined
}

export const make = (options: Options = {}): Effect.Effect<EventStorage, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tables = Statements.tables(options.schema)
    const statements = sql.onDialectOrElse({ pg: () => Statements.pg(tables), orElse: () => Statements.sqlite(tables) })
    const readTexts = new Map<string, string>()
    const readText = (shape: Statements.ReadShape) => {
      const key = `${shape.aggregateTypes}:${shape.eventTypes}:${shape.limited}`
      let text = readTexts.get(key)
      if (text === undefined) {
        text = statements.readAll(shape)
        readTexts.set(key, text)
      }
      return text
    }
    const appendTexts = new Map<number, string>()
    const appendText = (count: number) => {
      let text = appendTexts.get(count)
      if (text === undefined) {
        text = statements.append(count)
        appendTexts.set(count, text)
      }
      return text
    }

    /**
     * Inserts the batch in chunks of what one statement can bind; the first chunk carries the
     * caller's expectation, later ones expect exactly where the previous chunk ended.
     */
    const insert = (request: AppendRequest): Effect.Effect<Option.Option<ReadonlyArray<StoredEvent>>, SqlError> =>
      Effect.gen(function*() {
        const events = request.events
        const written: Array<StoredEvent> = []
        let [lo, hi] = versionRange(request.expectedVersion)
        for (let from = 0; from < events.length; from += statements.chunkSize) {
          const to = Math.min(from + statements.chunkSize, events.length)
          const rows = yield* sql.unsafe<{ readonly position: number | string; readonly aggregate_version: number | string }>(
            appendText(to - from),
            statements.appendParams(request, lo, hi, from, to, from)
          )
          if (rows.length === 0) return Option.none()
          const sorted = rows.map((row) => ({ position: BigInt(row.position), version: Number(row.aggregate_version) }))
            .sort((a, b) => a.version - b.version)
          for (let i = 0; i < sorted.length; i++) {
            const event = events[from + i]!
            written.push({
              eventId: event.eventId,
              eventType: event.eventType,
              eventVersion: event.eventVersion,
              aggregateId: request.aggregateId,
              aggregateType: request.aggregateType,
              aggregateVersion: sorted[i]!.version,
              position: sorted[i]!.position,
              timestamp: event.timestamp,
              metadata: event.metadata,
              data: event.data
            })
          }
          lo = hi = written[written.length - 1]!.aggregateVersion
        }
        return Option.some(written)
      })

    const append: EventStorage["append"] = (request) => {
      if (request.events.length > Statements.MAX_EVENTS_PER_TRANSACTION) {
        return Effect.fail(
          new EventStoreError({
            message: `Cannot append ${request.events.length} events at once: at most ${Statements.MAX_EVENTS_PER_TRANSACTION} per append`
          })
        )
      }
      return Effect.serviceOption(SqlClient.TransactionConnection).pipe(
        Effect.flatMap((transaction) => {
          // Alone, one statement is atomic. A batch larger than one statement needs a
          // transaction, and inside the caller's transaction a refused insert must not abort
          // it (PostgreSQL aborts a transaction on any error): both get a (nested) transaction,
          // which a refusal fails, rolling back to where the append started.
          const alone = request.events.length <= statements.chunkSize && Option.isNone(transaction)
          return alone ? insert(request) : sql.withTransaction(
            Effect.flatMap(insert(request), Option.match({ onNone: () => Effect.fail(new Refused()), onSome: Effect.succeedSome }))
          ).pipe(Effect.catchTag("Refused", () => Effect.succeedNone))
        }),
        Effect.catchIf(isUniqueViolation, () => Effect.succeedNone),
        Effect.mapError(toDatabaseError("Appending events"))
      )
    }

    /**
     * PostgreSQL: waits (briefly) until every transaction running at the start has ended, so a
     * one-shot read sees everything committed before it, without gaps.
     */
    const catchUp: Effect.Effect<void, SqlError> = statements.snapshot === undefined ? Effect.void : Effect.gen(function*() {
      const text = statements.snapshot!
      const [start] = yield* sql.unsafe<{ readonly xmin: string; readonly xmax: string }>(text)
      if (start === undefined || BigInt(start.xmin) >= BigInt(start.xmax)) return
      const horizon = BigInt(start.xmax)
      yield* sql.unsafe<{ readonly xmin: string; readonly xmax: string }>(text).pipe(
        Effect.repeat({
          schedule: Schedule.exponential("1 millis", 1.5).pipe(Schedule.union(Schedule.spaced("50 millis"))),
          until: ([now]) => now === undefined || BigInt(now.xmin) >= horizon
        }),
        Effect.timeoutOption(CATCH_UP_LIMIT),
        // Waiting on the database is real time, also in tests that run on a TestClock.
        Effect.withClock(liveClock)
      )
    })

    const storage: EventStorage = {
      append,

      inspect: (aggregateId, eventIds) =>
        Effect.all([
          sql.unsafe<{ readonly version: number | string; readonly type: string | null }>(statements.streamHead, [aggregateId]),
          sql.unsafe<{ readonly event_id: string; readonly aggregate_id: string; readonly aggregate_version: number | string }>(
            statements.existingIds,
            [JSON.stringify(eventIds)]
          )
        ]).pipe(
          Effect.map(([[head], existing]) => ({
            actualVersion: Number(head?.version ?? 0),
            aggregateType: head?.type ?? undefined,
            existing: existing.map((row) => ({
              eventId: row.event_id,
              aggregateId: row.aggregate_id,
              aggregateVersion: Number(row.aggregate_version)
            }))
          })),
          Effect.mapError(toDatabaseError("Reading the state of an aggregate"))
        ),

      readStream: (aggregateId, fromVersion) =>
        sql.unsafe<EventRow>(statements.readStream, [aggregateId, fromVersion]).pipe(
          Effect.mapError(toDatabaseError("Reading an aggregate's events")),
          Effect.flatMap(toStoredAll)
        ),

      readAll: ({ aggregateTypes, eventTypes, fromPosition, limit }) => {
        const params: Array<unknown> = [fromPosition]
        const shape: Statements.ReadShape = {
          aggregateTypes: Statements.filterShape(aggregateTypes),
          eventTypes: Statements.filterShape(eventTypes),
          limited: limit !== undefined
        }
        if (shape.aggregateTypes !== "none") params.push(shape.aggregateTypes === "one" ? aggregateTypes![0] : statements.list(aggregateTypes!))
        if (shape.eventTypes !== "none") params.push(shape.eventTypes === "one" ? eventTypes![0] : statements.list(eventTypes!))
        if (limit !== undefined) params.push(limit)
        return sql.unsafe<EventRow>(readText(shape), params).pipe(
          Effect.mapError(toDatabaseError("Reading events")),
          Effect.flatMap(toStoredAll)
        )
      },

      catchUp: Effect.mapError(catchUp, toDatabaseError("Waiting for transactions in flight")),

      head: sql.unsafe<{ readonly head: number | string | bigint }>(statements.logHead).pipe(
        Effect.map(([row]) => BigInt(row?.head ?? 0)),
        Effect.mapError(toDatabaseError("Reading the head of the log"))
      ),

      notifications: options.notifications,

      version: (aggregateId) =>
        sql.unsafe<{ readonly version: number | string | null }>(statements.version, [aggregateId]).pipe(
          Effect.map(([row]) => row?.version == null ? Option.none() : Option.some(Number(row.version))),
          Effect.mapError(toDatabaseError("Reading an aggregate's version"))
        )
    }
    return storage
  })
