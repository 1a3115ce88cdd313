/**
 * Appending: one conditional append to the storage and, when the storage refuses it, why. A
 * refusal is a version conflict, an id of another aggregate type, an event id stored elsewhere,
 * an idempotent retry of an append already made (answered with what it wrote), or a race lost to
 * another writer between the append and the look at why (tried again).
 */
import { Clock, Effect, Option, PubSub } from "effect"
import { EventStoreError, OptimisticConcurrencyError, StreamDeletedError } from "../../Errors.js"
import type { AppendConflict, AppendOutcome, AppendRequest, EncodedEvent, EventStorage } from "../../EventStorage.js"
import type { AppendResult, Service, WriteError } from "../../EventStore.js"
import * as ExpectedVersion from "../../ExpectedVersion.js"
import * as Metrics from "../../Metrics.js"
import type * as EventRegistry from "../../EventRegistry.js"
import type * as Privacy from "../../Privacy.js"
import * as Observability from "../observability.js"
import { isSealedPayload, sealRequest } from "../privacy.js"
import * as Validate from "../validate.js"

/**
 * Why an append was refused when `inspect` finds no reason: another writer changed the aggregate
 * between the refused append and `inspect`. The append is tried again.
 */
class LostRace {
  readonly _tag = "LostRace"
}

const isLostRace = (error: unknown): error is LostRace => error instanceof LostRace

/** How often an append that lost a race is tried again before it fails as a conflict. */
const MAX_LOST_RACES = 20

/** What appending needs: the storage, the store's wake-ups, and the append to make (with inline projections). */
export interface Writer {
  readonly storage: EventStorage
  readonly wakeUps: PubSub.PubSub<void>
  /** `storage.append`, or it with the inline projections in its transaction (`inline.ts`). */
  readonly append: (request: AppendRequest) => Effect.Effect<AppendOutcome, WriteError>
  /** Seals personal data before an append (`privacy.ts`); `undefined`: the store has no key store. */
  readonly privacy: Privacy.Service | undefined
  /** The schemas `append` seals registered event types with. */
  readonly registry: EventRegistry.EventRegistry
}

/**
 * Appends, says why the storage refused, and tries again when it only lost a race. A committed
 * append is counted and wakes this store's live subscribers.
 */
export const appendEncoded = (
  writer: Writer,
  request: AppendRequest,
  attempt = 1
): Effect.Effect<AppendResult, WriteError> =>
  Effect.flatMap(writer.append(request), (outcome) => {
    if (Option.isNone(outcome)) return afterRefusal(writer, request, attempt)
    const events = outcome.value
    const result: AppendResult = { version: events[events.length - 1]!.aggregateVersion, events }
    return Effect.as(
      Effect.zipRight(Observability.recordAppend(request.aggregateType, events), PubSub.publish(writer.wakeUps, undefined)),
      result
    )
  })

/** What a refused append comes to: its error, the result of the retry it repeats, or another attempt. */
const afterRefusal = (
  writer: Writer,
  request: AppendRequest,
  attempt: number
): Effect.Effect<AppendResult, WriteError> => {
  const { storage } = writer
  return storage.inspect(request.aggregateId, request.events.map((event) => event.eventId)).pipe(
    Effect.flatMap((conflict) => explainRefusal(storage, request, conflict)),
    Effect.tap((result) => Observability.annotatePosition(result.events)),
    Effect.catchIf(isLostRace, () =>
      attempt <= MAX_LOST_RACES
        ? appendEncoded(writer, request, attempt + 1)
        : Effect.flatMap(storage.version(request.aggregateId), (version) =>
          Effect.fail(
            new OptimisticConcurrencyError({
              aggregateId: request.aggregateId,
              expectedVersion: request.expectedVersion,
              actualVersion: Option.getOrElse(version, () => 0)
            })
          )))
  )
}

/** Says why the storage refused an append, or recognises an idempotent retry. */
const explainRefusal = (
  storage: EventStorage,
  request: AppendRequest,
  conflict: AppendConflict
): Effect.Effect<AppendResult, WriteError | LostRace> => {
  if (conflict.existing.length > 0) {
    const firstVersion = retriedFrom(request, conflict)
    if (firstVersion === undefined) return Effect.fail(eventIdClash(conflict.existing[0]!))
    return Effect.map(storage.readStream(request.aggregateId, firstVersion - 1), (events): AppendResult => {
      const written = events.slice(0, request.events.length)
      return { version: written[written.length - 1]!.aggregateVersion, events: written }
    })
  }
  if (conflict.deleted) {
    return Effect.fail(new StreamDeletedError({ aggregateId: request.aggregateId, version: conflict.actualVersion }))
  }
  if (conflict.aggregateType !== undefined && conflict.aggregateType !== request.aggregateType) {
    return Effect.fail(
      new EventStoreError({
        message: `Aggregate ${JSON.stringify(request.aggregateId)} is a ${JSON.stringify(conflict.aggregateType)}, not a ${
          JSON.stringify(request.aggregateType)
        }`
      })
    )
  }
  if (!ExpectedVersion.isSatisfiedBy(request.expectedVersion, conflict.actualVersion)) {
    return Effect.fail(
      new OptimisticConcurrencyError({
        aggregateId: request.aggregateId,
        expectedVersion: request.expectedVersion,
        actualVersion: conflict.actualVersion
      })
    )
  }
  return Effect.fail(new LostRace())
}

/**
 * The version the request's first event was stored at, when the request is an idempotent retry:
 * the same events, in order, on the same aggregate of the same type (an id of another type is not
 * the stream the events were appended to, whatever their ids), at an expected version that held.
 */
const retriedFrom = (request: AppendRequest, conflict: AppendConflict): number | undefined => {
  const stored = new Map(conflict.existing.map((event) => [event.eventId, event]))
  const first = stored.get(request.events[0]!.eventId)
  const isRetry = first !== undefined && first.aggregateId === request.aggregateId &&
    conflict.aggregateType === request.aggregateType &&
    request.events.every((event, i) => {
      const match = stored.get(event.eventId)
      return match !== undefined && match.aggregateId === request.aggregateId &&
        match.aggregateVersion === first.aggregateVersion + i
    }) &&
    ExpectedVersion.isSatisfiedBy(request.expectedVersion, first.aggregateVersion - 1)
  return isRetry ? first.aggregateVersion : undefined
}

const eventIdClash = (clash: AppendConflict["existing"][number]) =>
  new EventStoreError({
    message: `Event id ${JSON.stringify(clash.eventId)} is already stored (aggregate ${
      JSON.stringify(clash.aggregateId)
    }, version ${clash.aggregateVersion}); an idempotent retry must repeat the same events at the same expected version`
  })

/** `EventStore.append`: checks the new events, settles their ids and timestamps, and appends them. */
export const append = (writer: Writer): Service["append"] =>
(aggregateType, aggregateId, events, options) =>
  Effect.gen(function*() {
    yield* Validate.name("aggregate type", aggregateType)
    yield* Validate.name("aggregate id", aggregateId)
    const expectedVersion = options?.expectedVersion === undefined
      ? ExpectedVersion.any
      : yield* Validate.expectedVersion(options.expectedVersion)
    if (!Array.isArray(events)) {
      return yield* new EventStoreError({ message: `append takes an array of events, got ${typeof events}` })
    }
    if (events.length === 0) {
      const version = Option.getOrElse(yield* writer.storage.version(aggregateId), () => 0)
      if (!ExpectedVersion.isSatisfiedBy(expectedVersion, version)) {
        return yield* new OptimisticConcurrencyError({ aggregateId, expectedVersion, actualVersion: version })
      }
      return { version, events: [] }
    }
    const now = new Date(yield* Clock.currentTimeMillis)
    const encoded: Array<EncodedEvent> = []
    for (const event of events) encoded.push(yield* Validate.newEvent(event, now))
    yield* Validate.eventIds(encoded)
    for (const event of encoded) yield* Validate.notReserved(event.eventType)
    // Events of a registered type with personal fields are sealed as `save` seals them.
    const request = yield* sealRequest(
      writer.privacy,
      undefined,
      { aggregateId, aggregateType, expectedVersion, events: encoded },
      (event) => writer.registry.unsafeGet(event.eventType)
    )
    const result = yield* appendEncoded(writer, request)
    // What this append wrote sealed comes back as the caller gave it. A retry answers with the
    // earlier append's events, read (and opened) from the store: they keep their stored payloads.
    return {
      ...result,
      events: result.events.map((event, i) => isSealedPayload(event.data) ? { ...event, data: encoded[i]!.data } : event)
    }
  }).pipe(
    Observability.observe(Metrics.saveDuration, aggregateType),
    Observability.span("EventStore.append", {
      "eventuali.aggregate.type": aggregateType,
      "eventuali.aggregate.id": aggregateId,
      "eventuali.event.count": events.length
    })
  )
