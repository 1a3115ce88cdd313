/**
 * Reads of the global log by position, over every aggregate: `streamAll` and
 * `streamEventsByType` (paged streams), `loadEventsByType` (all at once), `readEvents` (one page)
 * and `currentCheckpoint`. One-shot reads first wait for `storage.catchUp`, so they see every
 * append committed before them.
 */
import { Chunk, Effect, Option, Stream } from "effect"
import * as Checkpoint from "../../Checkpoint.js"
import type { EventStoreError } from "../../Errors.js"
import type * as EventRegistry from "../../EventRegistry.js"
import type { EventStorage } from "../../EventStorage.js"
import type { Service, StreamOptions } from "../../EventStore.js"
import * as Observability from "../observability.js"
import * as Validate from "../validate.js"
import { annotateEventCount, decodeEnvelopes } from "./envelopes.js"

/** Rows a stream of the log reads per query, unless told (`StreamOptions.batchSize`). */
const DEFAULT_STREAM_PAGE_SIZE = 1000

/**
 * Events `readEvents` returns at most, unless told: the size of a subscription's page
 * (`DEFAULT_SUBSCRIPTION_PAGE_SIZE` in subscriptions.ts), since `readEvents` is the page
 * projections read. Two names, so that either can change without the other.
 */
const DEFAULT_READ_EVENTS_LIMIT = 500

/** The filters of a read by position. */
export interface LogFilters {
  readonly aggregateTypes?: ReadonlyArray<string> | undefined
  readonly eventTypes?: ReadonlyArray<string> | undefined
}

/** Span attributes of a read by position: where it starts, and the filters. */
export const readAttributes = (fromPosition: bigint | number | undefined, filters: LogFilters): Record<string, unknown> => ({
  "eventuali.position.from": fromPosition ?? 0,
  // Computed before the filters are validated: a filter that is not an array must not throw here.
  ...(filters.aggregateTypes === undefined ? {} : { "eventuali.aggregate.type": String(filters.aggregateTypes) }),
  ...(filters.eventTypes === undefined ? {} : { "eventuali.event.type": String(filters.eventTypes) })
})

export const validateFilters = (filters: LogFilters) =>
  Effect.gen(function*() {
    yield* Validate.filter("aggregate type", filters.aggregateTypes)
    yield* Validate.filter("event type", filters.eventTypes)
  })

/** The log read page after page, from `options.fromPosition`, with the filters given. */
const streamLog = (
  storage: EventStorage,
  registry: EventRegistry.EventRegistry,
  spanName: string,
  filters: LogFilters,
  validate: Effect.Effect<void, EventStoreError>,
  options: StreamOptions | undefined
) => {
  const batchSize = options?.batchSize ?? DEFAULT_STREAM_PAGE_SIZE
  const readPage = (cursor: bigint) =>
    storage.readAll({ ...filters, fromPosition: cursor, limit: batchSize }).pipe(
      Effect.flatMap((events) => decodeEnvelopes(registry, events)),
      Effect.tap(annotateEventCount),
      Observability.span(spanName, readAttributes(cursor, filters)),
      Effect.map((events) =>
        [
          Chunk.unsafeFromArray(events),
          events.length < batchSize ? Option.none() : Option.some(events[events.length - 1]!.position)
        ] as const
      )
    )
  return Stream.unwrap(
    Effect.map(
      Effect.zipLeft(
        Effect.all([Validate.position(options?.fromPosition), Validate.positiveInt("batch size", batchSize), validate]),
        storage.catchUp
      ),
      ([fromPosition]) => Stream.paginateChunkEffect(fromPosition, readPage)
    )
  )
}

export const streamAll = (storage: EventStorage, registry: EventRegistry.EventRegistry): Service["streamAll"] => (options) =>
  streamLog(
    storage,
    registry,
    "EventStore.streamAll.page",
    { aggregateTypes: options?.aggregateTypes, eventTypes: options?.eventTypes },
    validateFilters(options ?? {}),
    options
  )

export const streamEventsByType = (
  storage: EventStorage,
  registry: EventRegistry.EventRegistry
): Service["streamEventsByType"] =>
(aggregateType, options) =>
  streamLog(
    storage,
    registry,
    "EventStore.streamEventsByType.page",
    { aggregateTypes: [aggregateType] },
    Validate.name("aggregate type", aggregateType),
    options
  )

export const loadEventsByType = (storage: EventStorage, registry: EventRegistry.EventRegistry): Service["loadEventsByType"] =>
(aggregateType, fromPosition) =>
  Effect.all([Validate.name("aggregate type", aggregateType), Validate.position(fromPosition)]).pipe(
    Effect.zipLeft(storage.catchUp),
    Effect.flatMap(([, from]) => storage.readAll({ aggregateTypes: [aggregateType], fromPosition: from })),
    Effect.flatMap((events) => decodeEnvelopes(registry, events)),
    Effect.tap(annotateEventCount),
    Observability.span("EventStore.loadEventsByType", {
      "eventuali.aggregate.type": aggregateType,
      "eventuali.position.from": fromPosition ?? 0
    })
  )

export const readEvents = (storage: EventStorage, registry: EventRegistry.EventRegistry): Service["readEvents"] =>
// Without options (an untyped caller) it is the first page, not a TypeError thrown from here.
(readOptions = {}) =>
  Effect.gen(function*() {
    const limit = readOptions.limit ?? DEFAULT_READ_EVENTS_LIMIT
    yield* Validate.positiveInt("limit", limit)
    yield* validateFilters(readOptions)
    const fromPosition = yield* Validate.position(readOptions.fromPosition)
    const events = yield* storage.readAll({
      fromPosition,
      limit,
      aggregateTypes: readOptions.aggregateTypes,
      eventTypes: readOptions.eventTypes
    })
    return yield* decodeEnvelopes(registry, events)
  }).pipe(
    Effect.tap(annotateEventCount),
    Observability.span("EventStore.readEvents", readAttributes(readOptions.fromPosition, readOptions))
  )

export const currentCheckpoint = (storage: EventStorage): Service["currentCheckpoint"] =>
  Effect.zipRight(storage.catchUp, Effect.map(storage.head, Checkpoint.fromPosition)).pipe(
    Observability.span("EventStore.currentCheckpoint", {})
  )
