/**
 * The `EventStorage` of a SQL database, built from the driver's backend: the reads and their row
 * checks are shared, the append and the catch-up wait are the backend's own.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { type DatabaseError, EventStoreError } from "@eventuali/core/Errors"
import { type EventStorage, parseJson, TOMBSTONE } from "@eventuali/core/EventStorage"
import { Effect, Either, Option } from "effect"
import type { SqlBackend } from "../SqlBackend.js"
import { toDatabaseError } from "../SqlErrors.js"
import { failedTransactionAsError } from "./errors.js"
import * as KeyChanges from "./keyChanges.js"
import { type EventRow, toStoredAll } from "./rows.js"
import * as Statements from "./statements.js"

interface SnapshotRow {
  readonly aggregate_type: string
  readonly aggregate_version: number | string
  readonly schema_version: number
  readonly state: string
}

interface HeadRow {
  readonly version: number | string
  readonly type: string | null
  readonly head_type: string | null
}

interface VersionRow {
  readonly version: number | string | null
}

interface StreamRow {
  readonly aggregate_id: string
  readonly first_version: number | string
  readonly last_version: number | string
  readonly last_timestamp: number | string
}

interface ExistingRow {
  readonly event_id: string
  readonly aggregate_id: string
  readonly aggregate_version: number | string
}

const tooMany = (count: number) =>
  Effect.fail(
    new EventStoreError({
      message: `Cannot append ${count} events at once: at most ${Statements.MAX_EVENTS_PER_TRANSACTION} per append`
    })
  )

/** What the transaction's own effect failed with, kept apart from the transaction's `SqlError`. */
class Failed<E> {
  constructor(readonly error: E) {}
}

/**
 * `EventStorage.transaction` on the store's client: the backend's append joins a transaction the
 * fiber holds (SQLite: on the same connection; PostgreSQL: in a savepoint), and so does whatever
 * else the effect writes through the client.
 */
const transaction = (sql: SqlClient.SqlClient) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | DatabaseError, R> =>
  sql.withTransaction(Effect.mapError(effect, (error) => new Failed(error))).pipe(
    failedTransactionAsError,
    Effect.catchAll((error): Effect.Effect<never, E | DatabaseError> =>
      error instanceof Failed ? Effect.fail(error.error) : Effect.fail(toDatabaseError("A transaction")(error))
    )
  )

const readStreamError = toDatabaseError("Reading an aggregate's events")

/**
 * The storage of a backend (with transactions when given the store's client). `archive: false`:
 * the database has no archive table (a read-only store on a database made before it), so reads
 * do not look there.
 */
export const make = (
  backend: SqlBackend,
  sql?: SqlClient.SqlClient,
  options: { readonly archive?: boolean | undefined; readonly keyChanges?: boolean | undefined } = {}
): EventStorage => {
  const { query, statements } = backend
  // With the key store's change counts (`keyChanges.ts`) when the key store remembers keys under them.
  const withKeyChanges = options.keyChanges === true ? statements.readStreamWithKeyChanges : undefined
  const toEvents = (rows: ReadonlyArray<EventRow & KeyChanges.KeyChangeColumns>, seenIn: ReadonlyArray<EventRow & KeyChanges.KeyChangeColumns>) =>
    Either.map(toStoredAll(rows), (events) => KeyChanges.leave(events, seenIn[0], backend))
  const readText = Statements.memoized(
    statements.readAll,
    (shape: Statements.ReadShape) => `${shape.aggregateTypes}:${shape.eventTypes}:${shape.limited}`
  )

  // Each time the events this store archived doubled (1, 2, 4, … moved): a plan made while the
  // archive was small is remade before the archive outgrows it. See `refreshArchiveStatistics`.
  const refreshText = statements.refreshArchiveStatistics
  let archivedByThisStore = 0
  let nextRefreshAt = 1
  const refreshArchiveStatistics = (moved: number) =>
    Effect.suspend(() => {
      archivedByThisStore += moved
      if (refreshText === undefined || archivedByThisStore < nextRefreshAt) return Effect.void
      nextRefreshAt = archivedByThisStore * 2
      return Effect.asVoid(query(refreshText, []))
    })

  const readAll: EventStorage["readAll"] = ({ aggregateTypes, eventTypes, fromPosition, limit }) => {
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
  }

  return {
    append: (request) => request.events.length > Statements.MAX_EVENTS_PER_TRANSACTION ? tooMany(request.events.length) : backend.append(request),

    inspect: (aggregateId, eventIds) =>
      Effect.all([
        query<HeadRow>(statements.streamHead, [aggregateId]),
        eventIds.length === 0 ? Effect.succeed([]) : query<ExistingRow>(statements.existingIds, [JSON.stringify(eventIds)])
      ]).pipe(
        Effect.map(([[head], existing]) => ({
          actualVersion: Number(head?.version ?? 0),
          aggregateType: head?.type ?? undefined,
          deleted: head?.head_type === TOMBSTONE,
          existing: existing.map((row) => ({
            eventId: row.event_id,
            aggregateId: row.aggregate_id,
            aggregateVersion: Number(row.aggregate_version)
          }))
        })),
        Effect.mapError(toDatabaseError("Reading the state of an aggregate"))
      ),

    // Measured hot path (every load): one step from the rows to the events when the stream is
    // all in the hot table, as most are.
    readStream: (aggregateId, fromVersion, readOptions) =>
      Effect.flatMap(
        Effect.mapError(
          query<EventRow & KeyChanges.KeyChangeColumns>(
            readOptions?.personalData === true && withKeyChanges !== undefined ? withKeyChanges : statements.readStream,
            [aggregateId, fromVersion]
          ),
          readStreamError
        ),
        (rows) => {
          // An archived stream keeps its newest event here, the rest in the archive: only a
          // stream that starts later than asked (archived or truncated) needs a second look.
          const first = rows[0] === undefined ? undefined : Number(rows[0].aggregate_version)
          if (options.archive === false || first === undefined || first === fromVersion + 1) return toEvents(rows, rows)
          return query<EventRow>(statements.readArchived, [aggregateId, fromVersion, first]).pipe(
            Effect.mapError(readStreamError),
            Effect.flatMap((archived) => toEvents(archived.length === 0 ? rows : [...archived, ...rows], rows))
          )
        }
      ),

    readAll,

    catchUp: Effect.mapError(backend.catchUp, toDatabaseError("Waiting for transactions in flight")),

    readSnapshot: (aggregateId) =>
      query<SnapshotRow>(statements.readSnapshot, [aggregateId]).pipe(
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

    head: query<{ readonly head: number | string | bigint }>(statements.logHead, []).pipe(
      Effect.map(([row]) => BigInt(row?.head ?? 0)),
      Effect.mapError(toDatabaseError("Reading the head of the log"))
    ),

    notifications: backend.notifications,

    ...(sql === undefined ? {} : { transaction: transaction(sql) }),

    version: (aggregateId) =>
      query<VersionRow>(statements.version, [aggregateId]).pipe(
        Effect.map(([row]) => row?.version == null ? Option.none() : Option.some(Number(row.version))),
        Effect.mapError(toDatabaseError("Reading an aggregate's version"))
      ),

    // The oldest events are the archived ones: those go first.
    removeEvents: (aggregateId, beforeVersion, limit) =>
      (options.archive === false ? Effect.succeed([]) : query(statements.removeArchivedEvents, [aggregateId, beforeVersion, limit])).pipe(
        Effect.flatMap((archived) =>
          archived.length === limit
            ? Effect.succeed(archived.length)
            : Effect.map(
              query(statements.removeEvents, [aggregateId, beforeVersion, limit - archived.length]),
              (rows) => archived.length + rows.length
            )
        ),
        Effect.mapError(toDatabaseError("Removing events"))
      ),

    archiveEvents: (aggregateId, beforeVersion, limit) =>
      query(statements.archiveCopy, [aggregateId, beforeVersion, limit]).pipe(
        Effect.zipRight(query(statements.archiveRemove, [aggregateId, beforeVersion, aggregateId])),
        Effect.tap((rows) => refreshArchiveStatistics(rows.length)),
        Effect.map((rows) => rows.length),
        Effect.mapError(toDatabaseError("Archiving events"))
      ),

    removeSnapshot: (aggregateId) =>
      query(statements.removeSnapshot, [aggregateId]).pipe(
        Effect.asVoid,
        Effect.mapError(toDatabaseError("Removing a snapshot"))
      ),

    removeTombstone: (aggregateId, version) =>
      query(statements.removeTombstone, [aggregateId, version]).pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(toDatabaseError("Removing a tombstone"))
      ),

    listStreams: ({ afterAggregateId, aggregateType, limit }) =>
      // Every aggregate id is a non-empty string: "" is below them all.
      query<StreamRow>(statements.listStreams, [aggregateType, afterAggregateId ?? "", limit]).pipe(
        Effect.mapError(toDatabaseError("Listing streams")),
        Effect.map((rows) =>
          rows.map((row) => ({
            aggregateId: row.aggregate_id,
            firstVersion: Number(row.first_version),
            lastVersion: Number(row.last_version),
            lastTimestamp: new Date(Number(row.last_timestamp))
          }))
        )
      ),

    firstVersionSince: (aggregateId, since) =>
      query<VersionRow>(statements.firstVersionSince, [aggregateId, since.getTime()]).pipe(
        Effect.map(([row]) => row?.version == null ? Option.none() : Option.some(Number(row.version))),
        Effect.mapError(toDatabaseError("Reading an aggregate's versions by time"))
      )
  }
}
