import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { DatabaseError, EventStoreError, SerializationError } from "@eventuali/core/Errors"
import { type AppendRequest, type EventStorage, parseJson, type StoredEvent } from "@eventuali/core/EventStorage"
import type * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import { Clock, Data, Duration, Effect, Either, Exit, Option, Queue, Schedule, type Scope, type Stream } from "effect"
import type * as SyncConnection from "../SyncConnection.js"
import { failedTransactionAsError, isUniqueViolation, toDatabaseError } from "./errors.js"
import * as Statements from "./statements.js"
import * as SyncAppend from "./syncAppend.js"

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

const describe = (value: unknown): string =>
  value === null || value === undefined
    ? "NULL"
    : typeof value === "string"
    ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    : typeof value === "object"
    ? `a ${value.constructor?.name ?? "value"}`
    : `${typeof value} ${String(value)}`

const isVersion = (value: unknown): boolean =>
  (typeof value === "number" || typeof value === "string") && Number.isSafeInteger(Number(value)) && Number(value) >= 1

/**
 * What is wrong with a row the store did not write as it is (changed by hand, by another
 * program, by a failing disk), if anything: the store writes none of these.
 */
const rowProblem = (row: EventRow): string | undefined => {
  for (const column of ["event_id", "event_type", "aggregate_id", "aggregate_type", "data", "metadata"] as const) {
    const value: unknown = row[column]
    if (typeof value !== "string" || value === "") return `its ${column} is ${describe(value)}`
  }
  for (const column of ["aggregate_version", "event_version"] as const) {
    if (!isVersion(row[column])) return `its ${column} is ${describe(row[column])}, not a positive integer`
  }
  const timestamp: unknown = row.timestamp
  if ((typeof timestamp !== "number" && typeof timestamp !== "string") || !isDateTime(Number(timestamp))) {
    return `its timestamp is ${describe(timestamp)}`
  }
  return undefined
}

/** Whether a Date holds these milliseconds (what `new Date(ms)` accepts, without making one). */
const isDateTime = (millis: number): boolean => Number.isFinite(millis) && Math.abs(millis) <= 8.64e15

const isStringRecord = (value: unknown): boolean => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false
  for (const key in value) if (typeof (value as Record<string, unknown>)[key] !== "string") return false
  return true
}

const metadataProblem = (metadata: unknown): string | undefined => {
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) return "is not an object"
  const fields = metadata as Readonly<Record<string, unknown>>
  for (const field of ["correlationId", "causationId", "userId"]) {
    if (fields[field] !== undefined && typeof fields[field] !== "string") return `has a ${field} that is not a string`
  }
  if (!isStringRecord(fields["headers"])) return "has headers that are not an object of strings"
  return undefined
}

const corrupt = (row: EventRow, problem: string) =>
  Either.left(
    new SerializationError({
      eventType: typeof row.event_type === "string" ? row.event_type : "(unknown)",
      message: `The stored event at position ${String(row.position)} is corrupt: ${problem}`
    })
  )

const toStored = (row: EventRow): Either.Either<StoredEvent, SerializationError> => {
  const problem = rowProblem(row)
  if (problem !== undefined) return corrupt(row, problem)
  const data = parseJson(row.event_type, row.data)
  if (Either.isLeft(data)) return Either.left(data.left)
  const metadata = parseJson(row.event_type, row.metadata, "metadata")
  if (Either.isLeft(metadata)) return Either.left(metadata.left)
  const badMetadata = metadataProblem(metadata.right)
  if (badMetadata !== undefined) return corrupt(row, `its metadata ${badMetadata}`)
  return Either.right({
    eventId: row.event_id,
    eventType: row.event_type,
    eventVersion: Number(row.event_version),
    aggregateId: row.aggregate_id,
    aggregateType: row.aggregate_type,
    aggregateVersion: Number(row.aggregate_version),
    position: BigInt(row.position),
    timestamp: new Date(Number(row.timestamp)),
    metadata: metadata.right as StoredEvent["metadata"],
    data: data.right
  })
}

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

/** How long the notifier gathers appends before waking other processes' subscribers. */
const NOTIFY_WINDOW = Duration.millis(2)

/** How long a one-shot read waits for transactions in flight at its start (PostgreSQL). */
const CATCH_UP_LIMIT = Duration.seconds(5)

export interface Options {
  /** PostgreSQL schema holding the tables; validated by the caller. */
  readonly schema?: string | undefined
  /** Wake-ups from other processes (PostgreSQL: LISTEN on `Tables.channel`). */
  readonly notifications?: Stream.Stream<void> | undefined
  /** The client's connection for synchronous use, when the driver has one (better-sqlite3). */
  readonly connection?: SyncConnection.SyncConnection | undefined
}

/** Most appends committed in one group. */
const MAX_GROUP = 256

type AppendOutcome = SyncAppend.AppendOutcome

/** An append waiting for the writer, and how to answer its caller. */
interface Waiting {
  readonly request: AppendRequest
  readonly answer: (outcome: Effect.Effect<AppendOutcome, DatabaseError>) => void
}

/**
 * The appends waiting to be written, and the writer fiber that drains them: one waiting append
 * runs alone (no extra statements), several run together in one transaction. Callers wait in
 * `Effect.async` and the writer sleeps in one: on the path of every save, a plain array and two
 * callbacks cost a fraction of a Queue and a Deferred.
 */
const makeGroupCommit = (run: {
  readonly one: (request: AppendRequest) => Effect.Effect<AppendOutcome, DatabaseError>
  readonly many: (requests: ReadonlyArray<AppendRequest>) => Effect.Effect<ReadonlyArray<AppendOutcome>, DatabaseError>
}) =>
  Effect.gen(function*() {
    let waiting: Array<Waiting> = []
    let wakeWriter: (() => void) | undefined
    const work = Effect.async<void>((resume) => {
      if (waiting.length > 0) return resume(Effect.void)
      wakeWriter = () => {
        wakeWriter = undefined
        resume(Effect.void)
      }
    })
    // Having woken for the first append, let the other ready fibers add theirs before taking
    // them all: that is what makes concurrent saves share a commit.
    const takeGroup = Effect.zipRight(Effect.zipRight(work, Effect.yieldNow()), Effect.sync(() => {
      const group = waiting.length <= MAX_GROUP ? waiting : waiting.slice(0, MAX_GROUP)
      waiting = waiting.length <= MAX_GROUP ? [] : waiting.slice(MAX_GROUP)
      return group
    }))
    const alone = (item: Waiting) => Effect.flatMap(Effect.exit(run.one(item.request)), (exit) => Effect.sync(() => item.answer(exit)))
    // Closing the store answers whatever still waits, and every later append, instead of
    // leaving them waiting for a writer that is gone.
    let closed = false
    const storeClosed = Effect.fail(new DatabaseError({ message: "Appending events failed: the event store is closed" }))
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const item of waiting.splice(0)) item.answer(storeClosed)
      })
    )
    yield* takeGroup.pipe(
      Effect.flatMap((group) => {
        if (group.length === 1) return alone(group[0]!)
        return Effect.flatMap(Effect.exit(run.many(group.map((item) => item.request))), (exit) =>
          Exit.isSuccess(exit)
            ? Effect.sync(() => group.forEach((item, i) => item.answer(Exit.succeed(exit.value[i]!))))
            // The group was rolled back. One append that cannot be written (too large for the
            // disk space left) must not fail the others with it, again and again as they retry
            // together: each goes alone and gets its own answer.
            : Effect.forEach(group, alone, { discard: true }))
      }),
      Effect.forever,
      Effect.forkScoped
    )
    return (request: AppendRequest): Effect.Effect<AppendOutcome, DatabaseError> =>
      Effect.async((answer) => {
        if (closed) return answer(storeClosed)
        waiting.push({ request, answer })
        wakeWriter?.()
      })
  })

export const make = (options: Options = {}): Effect.Effect<EventStorage, never, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const direct = options.connection
    const tables = Statements.tables(options.schema)
    const statements = sql.onDialectOrElse({ pg: () => Statements.pg(tables), orElse: () => Statements.sqlite(tables) })
    const readText = Statements.memoized(
      statements.readAll,
      (shape: Statements.ReadShape) => `${shape.aggregateTypes}:${shape.eventTypes}:${shape.limited}`
    )
    const appendText = Statements.memoized(statements.append)

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
            statements.appendParams(request, lo, hi, from, to)
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
        if (request.snapshot !== undefined) {
          yield* sql.unsafe(statements.writeSnapshot, [
            request.aggregateId,
            request.aggregateType,
            written[written.length - 1]!.aggregateVersion,
            request.snapshot.schemaVersion,
            request.snapshot.stateJson
          ])
        }
        return Option.some(written)
      })

    /** One append, on the current connection (inside a transaction if there is one). */
    const appendNow = (request: AppendRequest): Effect.Effect<Option.Option<ReadonlyArray<StoredEvent>>, SqlError> =>
      Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) => {
        // One statement is atomic. A batch larger than one statement (or with a snapshot to
        // write) needs a transaction, and
        // where an error aborts the surrounding transaction (PostgreSQL), an append inside one
        // needs a savepoint: both get a (nested) transaction, which a refusal fails, rolling back
        // to where the append started.
        const nested = request.events.length > statements.chunkSize || request.snapshot !== undefined ||
          (Option.isSome(transaction) && statements.errorsAbortTransactions)
        return nested
          ? sql.withTransaction(
            Effect.flatMap(insert(request), Option.match({ onNone: () => Effect.fail(new Refused()), onSome: Effect.succeedSome }))
          ).pipe(Effect.catchTag("Refused", () => Effect.succeedNone), failedTransactionAsError)
          : insert(request)
      }).pipe(Effect.catchIf(isUniqueViolation, () => Effect.succeedNone))

    /** A statement of the store: on the synchronous connection when there is one and no transaction of the caller's. */
    const query = <Row extends object>(text: string, params: ReadonlyArray<unknown> = []): Effect.Effect<ReadonlyArray<Row>, SqlError> =>
      direct === undefined
        ? sql.unsafe<Row>(text, params)
        : Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
          Option.isSome(transaction)
            ? sql.unsafe<Row>(text, params)
            : direct.exclusive((session) => session.all(text, params) as ReadonlyArray<Row>))

    const appendError = toDatabaseError("Appending events")

    const appendGroup = direct !== undefined && statements.insertRows !== undefined ? SyncAppend.make(statements) : undefined
    /** A group of appends on the synchronous connection, when the driver has one (SQLite). */
    const appendDirect = direct === undefined || appendGroup === undefined ? undefined : (requests: ReadonlyArray<AppendRequest>) =>
      Effect.mapError(direct.exclusive((session) => appendGroup(session, requests)), appendError)

    /**
     * Wake-ups for other processes, sent by one fiber after commits: a burst of appends while a
     * notification is on its way costs one more notification, not one each.
     */
    const notify: Effect.Effect<void> = statements.notify === undefined ? Effect.void : yield* Effect.gen(function*() {
      const pending = yield* Queue.sliding<void>(1)
      yield* Queue.take(pending).pipe(
        // A short pause gathers the appends of a burst (or of a busy sequential writer) into one.
        Effect.zipRight(Effect.withClock(Effect.sleep(NOTIFY_WINDOW), liveClock)),
        Effect.zipRight(Queue.takeAll(pending)),
        Effect.zipRight(sql.unsafe(statements.notify!, [tables.channel])),
        Effect.catchAll((error) => Effect.logDebug("eventuali: notifying subscribers failed", error)),
        Effect.forever,
        Effect.forkScoped
      )
      return Effect.asVoid(Queue.offer(pending, undefined))
    })
    const notifyOnCommit: Effect.Effect<void, DatabaseError> = statements.notify === undefined
      ? Effect.void
      : Effect.asVoid(Effect.mapError(sql.unsafe(statements.notify, [tables.channel]), appendError))
    const appendOne = (request: AppendRequest) => Effect.mapError(appendNow(request), appendError)

    /**
     * Group commit (SQLite): appends from concurrent fibers queue up, and one writer commits
     * everything waiting in one transaction, so N concurrent saves cost one commit (one fsync
     * with synchronous=FULL) instead of N. A refused append inserts nothing and fails nothing,
     * so it does not disturb the others; each caller is answered only after the commit.
     */
    const grouped = statements.groupCommit
      ? yield* makeGroupCommit(appendDirect !== undefined ? {
        one: (request) => Effect.map(appendDirect([request]), (outcomes) => outcomes[0]!),
        many: appendDirect
      } : {
        one: appendOne,
        many: (requests) =>
          sql.withTransaction(Effect.forEach(requests, appendNow)).pipe(
            // A failing COMMIT (a full disk) surfaces as a defect in @effect/sql: an error that
            // says what the driver said, like any other.
            failedTransactionAsError,
            Effect.mapError(appendError),
            Effect.catchAllDefect((defect) => Effect.fail(new DatabaseError({ message: `Appending events failed: ${String(defect)}`, cause: defect })))
          )
      })
      : undefined

    const append: EventStorage["append"] = (request) => {
      if (request.events.length > Statements.MAX_EVENTS_PER_TRANSACTION) {
        return Effect.fail(
          new EventStoreError({
            message: `Cannot append ${request.events.length} events at once: at most ${Statements.MAX_EVENTS_PER_TRANSACTION} per append`
          })
        )
      }
      if (grouped === undefined) {
        return Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
          Effect.tap(appendOne(request), (outcome) =>
            Option.isNone(outcome)
              ? Effect.void
              : Option.isNone(transaction)
              ? notify
              // In the caller's transaction: a transactional NOTIFY, delivered when it commits.
              : notifyOnCommit))
      }
      // Inside the caller's own transaction the append must run on its connection, now.
      return Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) =>
        Option.isSome(transaction) ? appendOne(request) : grouped(request))
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
          query<{ readonly version: number | string; readonly type: string | null }>(statements.streamHead, [aggregateId]),
          query<{ readonly event_id: string; readonly aggregate_id: string; readonly aggregate_version: number | string }>(
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
        query<EventRow>(statements.readStream, [aggregateId, fromVersion]).pipe(
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
        return query<EventRow>(readText(shape), params).pipe(
          Effect.mapError(toDatabaseError("Reading events")),
          Effect.flatMap(toStoredAll)
        )
      },

      catchUp: Effect.mapError(catchUp, toDatabaseError("Waiting for transactions in flight")),

      readSnapshot: (aggregateId) =>
        query<{
          readonly aggregate_type: string
          readonly aggregate_version: number | string
          readonly schema_version: number
          readonly state: string
        }>(statements.readSnapshot, [aggregateId]).pipe(
          Effect.mapError(toDatabaseError("Reading a snapshot")),
          Effect.flatMap(([row]) =>
            row === undefined ? Effect.succeedNone : Effect.map(parseJson(row.aggregate_type, row.state, "snapshot"), (state) =>
              Option.some({
                aggregateId,
                aggregateType: row.aggregate_type,
                aggregateVersion: Number(row.aggregate_version),
                schemaVersion: Number(row.schema_version),
                state
              })))
        ),

      head: query<{ readonly head: number | string | bigint }>(statements.logHead).pipe(
        Effect.map(([row]) => BigInt(row?.head ?? 0)),
        Effect.mapError(toDatabaseError("Reading the head of the log"))
      ),

      notifications: options.notifications,

      version: (aggregateId) =>
        query<{ readonly version: number | string | null }>(statements.version, [aggregateId]).pipe(
          Effect.map(([row]) => row?.version == null ? Option.none() : Option.some(Number(row.version))),
          Effect.mapError(toDatabaseError("Reading an aggregate's version"))
        )
    }
    return storage
  })
