/**
 * An event store in memory, with exactly the semantics of the SQL stores (payloads are stored
 * as JSON text, so what round-trips here round-trips there). For tests and prototypes.
 *
 * @since 0.1.0
 */
import { Effect, Either, FiberRef, Layer, Option, type Scope } from "effect"
import type { SerializationError } from "./Errors.js"
import * as EventStore from "./EventStore.js"
import { type AppendOutcome, type AppendRequest, appended, type EventStorage, refused, type StoredEvent, TOMBSTONE } from "./EventStorage.js"
import * as ExpectedVersion from "./ExpectedVersion.js"
import * as Privacy from "./Privacy.js"
import * as ProjectionStore from "./ProjectionStore.js"
import { parseJson } from "./internal/codec.js"

interface Row {
  readonly eventId: string
  readonly eventType: string
  readonly eventVersion: number
  readonly aggregateId: string
  readonly aggregateType: string
  readonly aggregateVersion: number
  readonly position: bigint
  readonly timestamp: number
  readonly dataJson: string
  readonly metadataJson: string
}

const toEnvelope = (row: Row, data: unknown, metadata: StoredEvent["metadata"]): StoredEvent => ({
  eventId: row.eventId,
  eventType: row.eventType,
  eventVersion: row.eventVersion,
  aggregateId: row.aggregateId,
  aggregateType: row.aggregateType,
  aggregateVersion: row.aggregateVersion,
  position: row.position,
  timestamp: new Date(row.timestamp),
  metadata,
  data
})

const toStored = (row: Row): Either.Either<StoredEvent, SerializationError> =>
  Either.all([parseJson(row.eventType, row.dataJson), parseJson(row.eventType, row.metadataJson, "metadata")]).pipe(
    Either.map(([data, metadata]) => toEnvelope(row, data, metadata as StoredEvent["metadata"]))
  )

const toStoredAll = (rows: ReadonlyArray<Row>) => Either.all(rows.map(toStored))

interface Snapshot {
  readonly aggregateType: string
  readonly aggregateVersion: number
  readonly schemaVersion: number
  readonly stateJson: string
}

/** How to undo an open transaction's writes: the log's length before it, and the snapshots it replaced. */
interface Undo {
  readonly logLength: number
  readonly snapshots: Array<readonly [aggregateId: string, previous: Snapshot | undefined]>
}

/**
 * The storage behind the in-memory store (for backends that want to wrap it).
 *
 * Transactions (for inline projections) are what the SQL stores' are: one at a time (other
 * appends wait), their appends invisible to other fibers until the commit, rolled back when the
 * effect fails. Reads of other fibers see only committed events; the transaction's own fiber
 * sees its writes.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStorage: Effect.Effect<EventStorage> = Effect.sync(() => {
  /** By position - 1; an event removed (truncate, retention, hard delete) leaves a hole. */
  const log: Array<Row | undefined> = []
  /** Each aggregate's stored events by version (the oldest may have been removed or archived). */
  const streams = new Map<string, Array<Row>>()
  /** Archived events by aggregate, by version: out of the log, still read by `readStream`. */
  const archived = new Map<string, Array<Row>>()
  const byEventId = new Map<string, Row>()
  const snapshots = new Map<string, Snapshot>()
  /** How many events of `log` are committed (the rest belong to the open transaction). */
  let committed = 0
  const writeLock = Effect.unsafeMakeSemaphore(1)
  /** The undo record of the transaction the fiber is in, if any (nested ones stack). */
  const transactionOf = FiberRef.unsafeMake<Undo | undefined>(undefined)

  const rollBack = (undo: Undo) => {
    while (log.length > undo.logLength) {
      const row = log.pop()
      if (row === undefined) continue
      const stream = streams.get(row.aggregateId)!
      stream.pop()
      if (stream.length === 0) streams.delete(row.aggregateId)
      byEventId.delete(row.eventId)
    }
    for (const [aggregateId, previous] of undo.snapshots.reverse()) {
      if (previous === undefined) snapshots.delete(aggregateId)
      else snapshots.set(aggregateId, previous)
    }
  }

  /** The stream as the current fiber may see it: without another fiber's uncommitted events. */
  const visible = (stream: ReadonlyArray<Row> | undefined, own: boolean): ReadonlyArray<Row> => {
    if (stream === undefined) return []
    if (own) return stream
    let length = stream.length
    while (length > 0 && stream[length - 1]!.position > BigInt(committed)) length--
    return length === stream.length ? stream : stream.slice(0, length)
  }
  const withVisible = <A>(body: (own: boolean) => A) => Effect.map(FiberRef.get(transactionOf), (undo) => body(undo !== undefined))
  const versionOf = (stream: ReadonlyArray<Row>): number => stream[stream.length - 1]?.aggregateVersion ?? 0
  const isDeleted = (stream: ReadonlyArray<Row> | undefined): boolean => stream?.[stream.length - 1]?.eventType === TOMBSTONE

  /** How many of the first rows are below `beforeVersion`, at most `limit`. */
  const oldestBelow = (rows: ReadonlyArray<Row>, beforeVersion: number, limit: number): number => {
    let count = 0
    while (count < limit && count < rows.length && rows[count]!.aggregateVersion < beforeVersion) count++
    return count
  }

  /** Takes committed events out of their stream and leaves their holes in the log. */
  const removeRows = (aggregateId: string, stream: Array<Row>, rows: ReadonlyArray<Row>) => {
    if (stream.length === 0) streams.delete(aggregateId)
    for (const row of rows) {
      log[Number(row.position) - 1] = undefined
      byEventId.delete(row.eventId)
    }
  }

  /** The append, made at once: by a fiber in a transaction (`undo`), or holding the write lock. */
  const appendNow = (request: AppendRequest, undo: Undo | undefined): Effect.Effect<AppendOutcome> =>
      Effect.suspend(() => {
        const stream = streams.get(request.aggregateId)
        const actualVersion = stream === undefined ? 0 : versionOf(stream)
        if (
          !ExpectedVersion.isSatisfiedBy(request.expectedVersion, actualVersion) ||
          (stream !== undefined && stream[0]!.aggregateType !== request.aggregateType) ||
          isDeleted(stream) ||
          request.events.some((event) => byEventId.has(event.eventId))
        ) {
          return Effect.succeed(refused)
        }
        const rows = request.events.map((event, i): Row => ({
          eventId: event.eventId,
          eventType: event.eventType,
          eventVersion: event.eventVersion,
          aggregateId: request.aggregateId,
          aggregateType: request.aggregateType,
          aggregateVersion: actualVersion + i + 1,
          position: BigInt(log.length + i + 1),
          timestamp: event.timestamp.getTime(),
          dataJson: event.dataJson,
          metadataJson: event.metadataJson
        }))
        const target = stream ?? []
        if (stream === undefined) streams.set(request.aggregateId, target)
        for (const row of rows) {
          log.push(row)
          target.push(row)
          byEventId.set(row.eventId, row)
        }
        if (request.snapshot !== undefined) {
          undo?.snapshots.push([request.aggregateId, snapshots.get(request.aggregateId)])
          snapshots.set(request.aggregateId, {
            aggregateType: request.aggregateType,
            aggregateVersion: rows[rows.length - 1]!.aggregateVersion,
            schemaVersion: request.snapshot.schemaVersion,
            stateJson: request.snapshot.stateJson
          })
        }
        if (undo === undefined) committed = log.length
        // Exactly the envelopes a read returns: no backend-only fields such as `dataJson`.
        return Effect.succeed(appended(rows.map((row, i) =>
          toEnvelope(row, request.events[i]!.data, request.events[i]!.metadata)
        )))
      })

  const transaction = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(FiberRef.get(transactionOf), (outer) => {
      if (outer !== undefined) {
        // Nested: a savepoint, undone alone when its effect fails.
        const undo: Undo = { logLength: log.length, snapshots: [] }
        return Effect.locally(effect, transactionOf, undo).pipe(
          Effect.tapErrorCause(() => Effect.sync(() => rollBack(undo))),
          Effect.tap(() => Effect.sync(() => outer.snapshots.push(...undo.snapshots)))
        )
      }
      return writeLock.withPermits(1)(Effect.suspend(() => {
        const undo: Undo = { logLength: log.length, snapshots: [] }
        return Effect.locally(effect, transactionOf, undo).pipe(
          Effect.onExit((exit) => Effect.sync(() => exit._tag === "Success" ? (committed = log.length) : rollBack(undo)))
        )
      }))
    })

  return {
    append: (request) =>
      Effect.flatMap(FiberRef.get(transactionOf), (undo) =>
        undo !== undefined ? appendNow(request, undo) : writeLock.withPermits(1)(appendNow(request, undefined))),

    transaction,

    inspect: (aggregateId, eventIds) =>
      Effect.sync(() => {
        const stream = streams.get(aggregateId)
        return {
          actualVersion: stream === undefined ? 0 : versionOf(stream),
          aggregateType: stream?.[0]?.aggregateType,
          deleted: isDeleted(stream),
          existing: eventIds.flatMap((eventId) => {
            const row = byEventId.get(eventId)
            return row === undefined ? [] : [{ eventId, aggregateId: row.aggregateId, aggregateVersion: row.aggregateVersion }]
          })
        }
      }),

    readStream: (aggregateId, fromVersion) =>
      Effect.flatten(withVisible((own) =>
        toStoredAll(
          [...(archived.get(aggregateId) ?? []), ...visible(streams.get(aggregateId), own)].filter((row) =>
            row.aggregateVersion > fromVersion
          )
        )
      )),

    readAll: ({ aggregateTypes, eventTypes, fromPosition, limit }) =>
      Effect.flatten(withVisible((own) => {
        const end = own ? log.length : committed
        const rows: Array<Row> = []
        const max = limit ?? Infinity
        const byAggregateType = aggregateTypes !== undefined && aggregateTypes.length > 0 ? new Set(aggregateTypes) : undefined
        const byEventType = eventTypes !== undefined && eventTypes.length > 0 ? new Set(eventTypes) : undefined
        for (let i = Number(fromPosition); i < end && rows.length < max; i++) {
          const row = log[i]
          if (row === undefined) continue
          if (byAggregateType !== undefined && !byAggregateType.has(row.aggregateType)) continue
          if (byEventType !== undefined && !byEventType.has(row.eventType)) continue
          rows.push(row)
        }
        return toStoredAll(rows)
      })),

    head: withVisible((own) => BigInt(own ? log.length : committed)),

    catchUp: Effect.void,

    readSnapshot: (aggregateId) =>
      Effect.flatten(withVisible((own) => {
        const snapshot = snapshots.get(aggregateId)
        // A snapshot written by another fiber's open transaction is not there yet.
        if (snapshot === undefined || snapshot.aggregateVersion > versionOf(visible(streams.get(aggregateId), own))) return Effect.succeedNone
        return Effect.map(parseJson(snapshot.aggregateType, snapshot.stateJson, "snapshot"), (state) =>
          Option.some({
            aggregateId,
            aggregateType: snapshot.aggregateType,
            aggregateVersion: snapshot.aggregateVersion,
            schemaVersion: snapshot.schemaVersion,
            state
          }))
      })),

    version: (aggregateId) =>
      withVisible((own) => {
        const version = versionOf(visible(streams.get(aggregateId), own))
        return version === 0 ? Option.none() : Option.some(version)
      }),

    removeEvents: (aggregateId, beforeVersion, limit) =>
      Effect.sync(() => {
        const old = archived.get(aggregateId) ?? []
        const fromArchive = oldestBelow(old, beforeVersion, limit)
        for (const row of old.splice(0, fromArchive)) byEventId.delete(row.eventId)
        const stream = streams.get(aggregateId)
        if (stream === undefined) return fromArchive
        const count = oldestBelow(stream, beforeVersion, limit - fromArchive)
        removeRows(aggregateId, stream, stream.splice(0, count))
        return fromArchive + count
      }),

    archiveEvents: (aggregateId, beforeVersion, limit) =>
      Effect.sync(() => {
        const stream = streams.get(aggregateId)
        if (stream === undefined) return 0
        const moved = stream.splice(0, oldestBelow(stream, beforeVersion, limit))
        removeRows(aggregateId, stream, moved)
        // Archived events keep their ids: a retry of their append is recognised, and no new event takes them.
        for (const row of moved) byEventId.set(row.eventId, row)
        archived.set(aggregateId, [...(archived.get(aggregateId) ?? []), ...moved])
        return moved.length
      }),

    removeSnapshot: (aggregateId) => Effect.sync(() => void snapshots.delete(aggregateId)),

    removeTombstone: (aggregateId, version) =>
      Effect.sync(() => {
        const stream = streams.get(aggregateId)
        const last = stream?.[stream.length - 1]
        if (last === undefined || last.eventType !== TOMBSTONE || last.aggregateVersion !== version) return false
        removeRows(aggregateId, stream!, stream!.splice(stream!.length - 1, 1))
        return true
      }),

    listStreams: ({ afterAggregateId, aggregateType, limit }) =>
      Effect.sync(() =>
        [...streams.entries()]
          .filter(([id, stream]) =>
            stream.length > 0 && stream[0]!.aggregateType === aggregateType &&
            (afterAggregateId === undefined || id > afterAggregateId)
          )
          .sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)
          .slice(0, limit)
          .map(([aggregateId, stream]) => ({
            aggregateId,
            firstVersion: stream[0]!.aggregateVersion,
            lastVersion: versionOf(stream),
            lastTimestamp: new Date(stream.reduce((newest, row) => Math.max(newest, row.timestamp), -Infinity))
          }))
      ),

    firstVersionSince: (aggregateId, since) =>
      Effect.sync(() => {
        const found = (streams.get(aggregateId) ?? []).find((row) => row.timestamp >= since.getTime())
        return found === undefined ? Option.none() : Option.some(found.aggregateVersion)
      })
  }
})

/**
 * A new, empty in-memory store.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<EventStore.Service, never, Scope.Scope> = Effect.flatMap(
  makeStorage,
  (storage) => EventStore.make(storage)
)

/**
 * A fresh, empty in-memory store per use of the layer, with in-memory projection checkpoints.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore> = Layer.merge(
  Layer.scoped(EventStore.EventStore, make),
  ProjectionStore.layerMemory
)

/**
 * {@link layer} with personal data (`Privacy.personal` fields) sealed under keys kept in memory,
 * and the `Privacy` service (`Privacy.forget`, `Privacy.rotate`). The cipher is a parameter so
 * that this package uses no Node.js API: `NodeCipher.aes256gcm` from `@eventuali/core/NodeCipher`
 * on Node.js (the `eventuali` package's `memory://` store uses it).
 *
 * @since 0.2.0
 * @category layers
 */
export const layerWithPrivacy = (
  cipher: Privacy.Cipher
): Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy> =>
  Layer.merge(
    Layer.scoped(
      EventStore.EventStore,
      Effect.flatMap(Privacy.Privacy, (privacy) => Effect.flatMap(makeStorage, (storage) => EventStore.make(storage, { privacy })))
    ),
    ProjectionStore.layerMemory
  ).pipe(Layer.provideMerge(Privacy.layerMemory(cipher)))
