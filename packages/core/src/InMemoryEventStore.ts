/**
 * An event store in memory, with exactly the semantics of the SQL stores (payloads are stored
 * as JSON text, so what round-trips here round-trips there). For tests and prototypes.
 *
 * @since 0.1.0
 */
import { Effect, Either, Layer, Option, type Scope } from "effect"
import type { SerializationError } from "./Errors.js"
import * as EventStore from "./EventStore.js"
import { appended, type EventStorage, refused, type StoredEvent } from "./EventStorage.js"
import * as ExpectedVersion from "./ExpectedVersion.js"
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

/**
 * The storage behind the in-memory store (for backends that want to wrap it).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStorage: Effect.Effect<EventStorage> = Effect.sync(() => {
  const log: Array<Row> = []
  const streams = new Map<string, Array<Row>>()
  const byEventId = new Map<string, Row>()
  const snapshots = new Map<string, { readonly aggregateType: string; readonly aggregateVersion: number; readonly schemaVersion: number; readonly stateJson: string }>()

  return {
    append: (request) =>
      Effect.suspend(() => {
        const stream = streams.get(request.aggregateId)
        const actualVersion = stream?.length ?? 0
        if (
          !ExpectedVersion.isSatisfiedBy(request.expectedVersion, actualVersion) ||
          (stream !== undefined && stream[0]!.aggregateType !== request.aggregateType) ||
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
          snapshots.set(request.aggregateId, {
            aggregateType: request.aggregateType,
            aggregateVersion: rows[rows.length - 1]!.aggregateVersion,
            schemaVersion: request.snapshot.schemaVersion,
            stateJson: request.snapshot.stateJson
          })
        }
        // Exactly the envelopes a read returns: no backend-only fields such as `dataJson`.
        return Effect.succeed(appended(rows.map((row, i) =>
          toEnvelope(row, request.events[i]!.data, request.events[i]!.metadata)
        )))
      }),

    inspect: (aggregateId, eventIds) =>
      Effect.sync(() => {
        const stream = streams.get(aggregateId)
        return {
          actualVersion: stream?.length ?? 0,
          aggregateType: stream?.[0]?.aggregateType,
          existing: eventIds.flatMap((eventId) => {
            const row = byEventId.get(eventId)
            return row === undefined ? [] : [{ eventId, aggregateId: row.aggregateId, aggregateVersion: row.aggregateVersion }]
          })
        }
      }),

    readStream: (aggregateId, fromVersion) =>
      Effect.suspend(() => toStoredAll((streams.get(aggregateId) ?? []).slice(fromVersion))),

    readAll: ({ aggregateTypes, eventTypes, fromPosition, limit }) =>
      Effect.suspend(() => {
        const rows: Array<Row> = []
        const max = limit ?? Infinity
        const byAggregateType = aggregateTypes !== undefined && aggregateTypes.length > 0 ? new Set(aggregateTypes) : undefined
        const byEventType = eventTypes !== undefined && eventTypes.length > 0 ? new Set(eventTypes) : undefined
        for (let i = Number(fromPosition); i < log.length && rows.length < max; i++) {
          const row = log[i]!
          if (byAggregateType !== undefined && !byAggregateType.has(row.aggregateType)) continue
          if (byEventType !== undefined && !byEventType.has(row.eventType)) continue
          rows.push(row)
        }
        return toStoredAll(rows)
      }),

    head: Effect.sync(() => BigInt(log.length)),

    catchUp: Effect.void,

    readSnapshot: (aggregateId) =>
      Effect.suspend(() => {
        const snapshot = snapshots.get(aggregateId)
        if (snapshot === undefined) return Effect.succeedNone
        return Effect.map(parseJson(snapshot.aggregateType, snapshot.stateJson, "snapshot"), (state) =>
          Option.some({
            aggregateId,
            aggregateType: snapshot.aggregateType,
            aggregateVersion: snapshot.aggregateVersion,
            schemaVersion: snapshot.schemaVersion,
            state
          }))
      }),

    version: (aggregateId) =>
      Effect.sync(() => {
        const length = streams.get(aggregateId)?.length
        return length === undefined ? Option.none() : Option.some(length)
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
