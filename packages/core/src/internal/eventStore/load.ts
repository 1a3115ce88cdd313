/**
 * Reads of one aggregate: `load` (from its newest usable snapshot, then {@link foldEvents}),
 * `loadOrFail`, and `loadEvents` (its envelopes, unfolded).
 */
import { Effect, Either, Option } from "effect"
import type * as Aggregate from "../../Aggregate.js"
import { AggregateNotFoundError, type EventStoreError, type SerializationError, StreamTruncatedError } from "../../Errors.js"
import type * as EventRegistry from "../../EventRegistry.js"
import { type EventStorage, isReserved, type ReadStreamOptions, type StoredEvent, TOMBSTONE } from "../../EventStorage.js"
import type { Service } from "../../EventStore.js"
import * as Metrics from "../../Metrics.js"
import * as Observability from "../observability.js"
import { hasPersonalData } from "../privacy.js"
import * as Validate from "../validate.js"
import { annotateEventCount, decodeEnvelopes } from "./envelopes.js"
import { foldEvents } from "./fold.js"
import { type FoldStart, usableSnapshot } from "./snapshots.js"

const PERSONAL_DATA: ReadStreamOptions = { personalData: true }

/** A stream whose newest event is a tombstone was deleted: it reads as absent. */
export const isDeleted = (events: ReadonlyArray<StoredEvent>): boolean => events[events.length - 1]?.eventType === TOMBSTONE

/**
 * Measured hot path (every load; docs/performance.md, "PostgreSQL loads"): the checks and the
 * fold are plain functions between as few Effect steps as the reads need — the name check is an
 * `Either`, and without a snapshot policy the stream is read at once — since each step of a fiber
 * costs about as much as checking a row.
 */
export const load = (storage: EventStorage, registry: EventRegistry.EventRegistry): Service["load"] =>
<State, Ev extends { readonly _tag: string }>(definition: Aggregate.Definition<State, Ev>, aggregateId: string) => {
  const foldFrom = (from: FoldStart<State> | undefined) =>
  (events: ReadonlyArray<StoredEvent>): Either.Either<
    Option.Option<Aggregate.Root<State, Ev>>,
    SerializationError | EventStoreError | StreamTruncatedError
  > => {
    if (isDeleted(events)) return Either.right(Option.none())
    const first = events[0]?.aggregateVersion
    if (first !== undefined && first > (from?.version ?? 0) + 1) {
      return Either.left(
        new StreamTruncatedError({ aggregateId, firstVersion: first, ...(from === undefined ? {} : { snapshotVersion: from.version }) })
      )
    }
    return foldEvents(registry, definition, aggregateId, events, from)
  }
  // An aggregate with personal data says so: the SQLite store then reads its key check with the events.
  const readOptions = hasPersonalData(definition) ? PERSONAL_DATA : undefined
  const readFrom = (from: FoldStart<State> | undefined) =>
    Effect.flatMap(storage.readStream(aggregateId, from?.version ?? 0, readOptions), foldFrom(from))
  const invalid = Validate.name("aggregate id", aggregateId)
  const loaded = Either.isLeft(invalid)
    ? Effect.fail(invalid.left)
    : definition.snapshot === undefined
    ? Effect.suspend(() => readFrom(undefined))
    : Effect.flatMap(Effect.suspend(() => usableSnapshot(storage, definition.snapshot!, definition.type, aggregateId)), readFrom)
  return loaded.pipe(
    Observability.observe(Metrics.loadDuration, definition.type),
    Observability.span("EventStore.load", { "eventuali.aggregate.type": definition.type, "eventuali.aggregate.id": aggregateId })
  )
}

export const loadOrFail = (load: Service["load"]): Service["loadOrFail"] => (definition, aggregateId) =>
  Effect.flatMap(
    load(definition, aggregateId),
    Option.match({
      onNone: () => Effect.fail(new AggregateNotFoundError({ aggregateType: definition.type, aggregateId })),
      onSome: Effect.succeed
    })
  )

export const loadEvents = (storage: EventStorage, registry: EventRegistry.EventRegistry): Service["loadEvents"] =>
(aggregateId, fromVersion = 0) =>
  Validate.name("aggregate id", aggregateId).pipe(
    Effect.zipRight(Validate.nonNegativeInt("fromVersion", fromVersion)),
    Effect.zipRight(Effect.suspend(() => storage.readStream(aggregateId, fromVersion))),
    Effect.flatMap((events) => decodeEnvelopes(registry, isDeleted(events) ? [] : events.filter((event) => !isReserved(event.eventType)))),
    Effect.tap(annotateEventCount),
    Observability.span("EventStore.loadEvents", { "eventuali.aggregate.id": aggregateId })
  )
