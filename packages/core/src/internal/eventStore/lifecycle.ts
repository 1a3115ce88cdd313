/**
 * The data lifecycle of streams: `delete` (a tombstone, and for a hard delete the removal of
 * what it hides), `restore`, `truncate`, and one retention pass. Everything here is built from
 * the storage's conditional append and its small removals, so every backend has the same rules:
 *
 * - A tombstone is an ordinary event of the reserved type `$deleted`, appended under optimistic
 *   concurrency: a delete and an append racing for the same version cannot both win, and the log
 *   carries the deletion to subscribers and projections once, in order.
 * - Removals only ever take a prefix of a stream (the oldest events) and never its newest event,
 *   so versions stay contiguous from the first event left, the stream's version stays known, and
 *   repeating an interrupted removal removes nothing twice.
 */
import { Clock, Duration, Effect, Option } from "effect"
import * as Event from "../../Event.js"
import { EventStoreError, OptimisticConcurrencyError, StreamDeletedError, StreamNotFoundError } from "../../Errors.js"
import { type AppendConflict, type EncodedEvent, type EventStorage, RESTORED, TOMBSTONE } from "../../EventStorage.js"
import type { EventMetadataInput } from "../../Event.js"
import type { ArchiveReport, RetentionReport, Service } from "../../EventStore.js"
import * as ExpectedVersion from "../../ExpectedVersion.js"
import * as Observability from "../observability.js"
import * as Validate from "../validate.js"
import { appendEncoded, type Writer } from "./append.js"

/** Events a hard delete, truncate or retention removes per statement unless told. */
const DEFAULT_BATCH_SIZE = 500

/** Streams a retention pass reads per page. */
const STREAMS_PER_PAGE = 100

/** The stream's head, failing when it has no events. */
const existing = (storage: EventStorage, aggregateId: string) =>
  Effect.flatMap(storage.inspect(aggregateId, []), (head) =>
    head.actualVersion === 0 ? Effect.fail(new StreamNotFoundError({ aggregateId })) : Effect.succeed(head))

/** The head of a stream that exists and is not deleted. */
const live = (storage: EventStorage, aggregateId: string) =>
  Effect.flatMap(existing(storage, aggregateId), (head) =>
    head.deleted ? Effect.fail(new StreamDeletedError({ aggregateId, version: head.actualVersion })) : Effect.succeed(head))

/**
 * Runs `step` (which handles at most `batchSize` events) until a batch comes back short: how many
 * in all. Between two batches it yields, so that writers waiting on the same connection (SQLite's
 * statements are synchronous: a fiber that never suspends would run batch after batch) go first.
 */
const inBatches = <E>(batchSize: number, step: (limit: number) => Effect.Effect<number, E>) =>
  Effect.gen(function*() {
    let total = 0
    while (true) {
      const batch = yield* step(batchSize)
      yield* Effect.yieldNow()
      total += batch
      if (batch < batchSize) return total
    }
  })

/** Removes the aggregate's events below `beforeVersion`, batch by batch: how many. */
const removeBefore = (storage: EventStorage, aggregateId: string, beforeVersion: number, batchSize: number) =>
  inBatches(batchSize, (limit) => storage.removeEvents(aggregateId, beforeVersion, limit))

/** A positive, finite duration, or a message saying what it must be. */
const positiveDuration = (what: string, value: unknown) =>
  Option.match(Validate.positiveDuration(value), {
    onNone: () => Effect.fail(new EventStoreError({ message: `The ${what} must be a positive duration, got ${String(value)}` })),
    onSome: Effect.succeed
  })

/** An event of the store's own, with an empty payload. */
const ownEvent = (eventType: string, now: Date, metadata: EventMetadataInput | undefined) =>
  Effect.map(Validate.metadataOf(eventType, metadata), ({ metadata, metadataJson }): EncodedEvent => ({
    eventId: Event.makeId(),
    eventType,
    eventVersion: 1,
    timestamp: now,
    metadata,
    data: {},
    dataJson: "{}",
    metadataJson
  }))


export const deleteStream = (writer: Writer): Service["delete"] => (aggregateId, options = {}) =>
  Effect.gen(function*() {
    const { storage } = writer
    yield* Validate.name("aggregate id", aggregateId)
    const expectedVersion = options.expectedVersion === undefined
      ? ExpectedVersion.streamExists
      : yield* Validate.expectedVersion(options.expectedVersion)
    const head: AppendConflict = yield* existing(storage, aggregateId)
    const aggregateType = head.aggregateType!
    let version = head.actualVersion
    if (head.deleted) {
      // Deleting again only makes sense as the removal a hard delete did not finish.
      if (options.hard !== true) return yield* new StreamDeletedError({ aggregateId, version })
    } else {
      const now = new Date(yield* Clock.currentTimeMillis)
      const tombstone = yield* ownEvent(TOMBSTONE, now, options.metadata)
      const result = yield* appendEncoded(writer, { aggregateId, aggregateType, expectedVersion, events: [tombstone] })
      version = result.version
    }
    if (options.hard !== true) return { version, removedEvents: 0 }
    const removedEvents = yield* removeBefore(storage, aggregateId, version, DEFAULT_BATCH_SIZE)
    yield* storage.removeSnapshot(aggregateId)
    yield* Observability.recordRemoval(aggregateType, removedEvents)
    return { version, removedEvents }
  }).pipe(Observability.span("EventStore.delete", { "eventuali.aggregate.id": aggregateId, "eventuali.delete.hard": options?.hard === true }))

export const restore = (writer: Writer): Service["restore"] => (aggregateId) =>
  Effect.gen(function*() {
    const { storage } = writer
    yield* Validate.name("aggregate id", aggregateId)
    const head = yield* existing(storage, aggregateId)
    const tombstoneVersion = head.actualVersion
    if (!head.deleted) {
      return yield* new EventStoreError({ message: `Aggregate ${JSON.stringify(aggregateId)} is not deleted: nothing to restore` })
    }
    // A hard delete leaves the tombstone alone: nothing before it to restore.
    const [before] = yield* storage.readStream(aggregateId, tombstoneVersion - 2)
    if (before === undefined || before.eventType === TOMBSTONE) {
      return yield* new EventStoreError({
        message: `Aggregate ${JSON.stringify(aggregateId)} was hard-deleted: its events are gone and it cannot be restored`
      })
    }
    if (!(yield* storage.removeTombstone(aggregateId, tombstoneVersion))) {
      return yield* new OptimisticConcurrencyError({
        aggregateId,
        expectedVersion: ExpectedVersion.exact(tombstoneVersion),
        actualVersion: Option.getOrElse(yield* storage.version(aggregateId), () => 0)
      })
    }
    // The notice takes the tombstone's version; should a writer get there first, the stream is
    // live again anyway and that writer's event is the news.
    const now = new Date(yield* Clock.currentTimeMillis)
    const notice = yield* ownEvent(RESTORED, now, undefined)
    return yield* appendEncoded(writer, {
      aggregateId,
      aggregateType: head.aggregateType!,
      expectedVersion: ExpectedVersion.exact(tombstoneVersion - 1),
      events: [notice]
    }).pipe(
      Effect.map((result) => ({ version: result.version })),
      Effect.catchTag("OptimisticConcurrencyError", (conflict) => Effect.succeed({ version: conflict.actualVersion }))
    )
  }).pipe(Observability.span("EventStore.restore", { "eventuali.aggregate.id": aggregateId }))

export const truncate = (storage: EventStorage): Service["truncate"] => (aggregateId, beforeVersion) =>
  Effect.gen(function*() {
    yield* Validate.name("aggregate id", aggregateId)
    yield* Validate.positiveInt("version to truncate before", beforeVersion)
    const head = yield* live(storage, aggregateId)
    if (beforeVersion > head.actualVersion) {
      return yield* new EventStoreError({
        message: `Cannot truncate ${JSON.stringify(aggregateId)} before version ${beforeVersion}: its version is ${head.actualVersion}, and its newest event always stays`
      })
    }
    const removedEvents = yield* removeBefore(storage, aggregateId, beforeVersion, DEFAULT_BATCH_SIZE)
    yield* Observability.recordRemoval(head.aggregateType!, removedEvents)
    return { removedEvents }
  }).pipe(Observability.span("EventStore.truncate", { "eventuali.aggregate.id": aggregateId, "eventuali.version.before": beforeVersion }))

/** A policy's limits, checked. */
export const validPolicy = (policy: Parameters<Service["applyRetention"]>[0]) =>
  Effect.gen(function*() {
    if (typeof policy !== "object" || policy === null) {
      return yield* new EventStoreError({ message: `A retention policy must be an object, got ${String(policy)}` })
    }
    yield* Validate.name("aggregate type", policy.aggregateType)
    if (policy.maxAge === undefined && policy.maxCount === undefined) {
      return yield* new EventStoreError({ message: `The retention policy of ${JSON.stringify(policy.aggregateType)} sets neither maxAge nor maxCount` })
    }
    if (policy.maxCount !== undefined) yield* Validate.positiveInt("maxCount of a retention policy", policy.maxCount)
    const maxAge = policy.maxAge === undefined ? undefined : yield* positiveDuration("maxAge of a retention policy", policy.maxAge)
    return { aggregateType: policy.aggregateType, maxCount: policy.maxCount, maxAge }
  })

export const applyRetention = (storage: EventStorage): Service["applyRetention"] => (policy, options = {}) =>
  Effect.gen(function*() {
    const { aggregateType, maxAge, maxCount } = yield* validPolicy(policy)
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
    yield* Validate.positiveInt("retention batch size", batchSize)
    const cutoff = maxAge === undefined ? undefined : new Date((yield* Clock.currentTimeMillis) - Duration.toMillis(maxAge))
    const report: { -readonly [K in keyof RetentionReport]: RetentionReport[K] } = { aggregateType, streams: 0, truncatedStreams: 0, removedEvents: 0 }
    let after: string | undefined
    while (true) {
      const page = yield* storage.listStreams({ aggregateType, afterAggregateId: after, limit: STREAMS_PER_PAGE })
      for (const stream of page) {
        report.streams++
        let keepFrom = maxCount === undefined ? 1 : stream.lastVersion - maxCount + 1
        if (cutoff !== undefined && stream.lastTimestamp < cutoff) keepFrom = stream.lastVersion
        else if (cutoff !== undefined) {
          keepFrom = Math.max(keepFrom, Option.getOrElse(yield* storage.firstVersionSince(stream.aggregateId, cutoff), () => stream.lastVersion))
        }
        keepFrom = Math.min(keepFrom, stream.lastVersion)
        if (keepFrom <= stream.firstVersion) continue
        const removed = yield* removeBefore(storage, stream.aggregateId, keepFrom, batchSize)
        if (removed > 0) report.truncatedStreams++
        report.removedEvents += removed
        yield* Observability.recordRemoval(aggregateType, removed)
      }
      if (page.length < STREAMS_PER_PAGE) return report
      after = page[page.length - 1]!.aggregateId
    }
  }).pipe(Observability.span("EventStore.applyRetention", { "eventuali.aggregate.type": policy?.aggregateType }))

/** An archive policy, checked: the duration after which an idle stream is closed, if any. */
const validArchivePolicy = (policy: Parameters<Service["archive"]>[0]) =>
  Effect.gen(function*() {
    if (typeof policy !== "object" || policy === null) {
      return yield* new EventStoreError({ message: `An archive policy must be an object, got ${String(policy)}` })
    }
    yield* Validate.name("aggregate type", policy.aggregateType)
    const idleFor = policy.idleFor === undefined ? undefined : yield* positiveDuration("idleFor of an archive policy", policy.idleFor)
    return { aggregateType: policy.aggregateType, idleFor }
  })

export const archive = (storage: EventStorage): Service["archive"] => (policy, options = {}) =>
  Effect.gen(function*() {
    const { aggregateType, idleFor } = yield* validArchivePolicy(policy)
    const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE
    yield* Validate.positiveInt("archive batch size", batchSize)
    const idleBefore = idleFor === undefined ? undefined : new Date((yield* Clock.currentTimeMillis) - Duration.toMillis(idleFor))
    const report: { -readonly [K in keyof ArchiveReport]: ArchiveReport[K] } = { aggregateType, streams: 0, archivedStreams: 0, movedEvents: 0 }
    let after: string | undefined
    while (true) {
      const page = yield* storage.listStreams({ aggregateType, afterAggregateId: after, limit: STREAMS_PER_PAGE })
      for (const stream of page) {
        report.streams++
        // The newest event stays in the hot table: it holds the stream's version (and tombstone),
        // so appends are checked as before. Of a deleted stream, the event before the tombstone
        // stays too: the head once `restore` removes the tombstone.
        if (stream.firstVersion >= stream.lastVersion) continue
        const idle = idleBefore !== undefined && stream.lastTimestamp < idleBefore
        // Of two events, a deleted stream keeps both: only an idle one has one to move.
        if (stream.firstVersion === stream.lastVersion - 1 && !idle) continue
        const { deleted } = yield* storage.inspect(stream.aggregateId, [])
        if (!deleted && !idle) continue
        const keepFrom = deleted ? stream.lastVersion - 1 : stream.lastVersion
        if (stream.firstVersion >= keepFrom) continue
        const moved = yield* inBatches(batchSize, (limit) => storage.archiveEvents(stream.aggregateId, keepFrom, limit))
        if (moved > 0) report.archivedStreams++
        report.movedEvents += moved
      }
      if (page.length < STREAMS_PER_PAGE) return report
      after = page[page.length - 1]!.aggregateId
    }
  }).pipe(Observability.span("EventStore.archive", { "eventuali.aggregate.type": policy?.aggregateType }))
