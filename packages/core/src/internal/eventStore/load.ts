/**
 * Reads of one aggregate: `load` (from its newest usable snapshot, then {@link foldEvents}),
 * `loadOrFail`, and `loadEvents` (its envelopes, unfolded).
 */
import { Effect, Either, Option } from "effect"
import type * as Aggregate from "../../Aggregate.js"
import { AggregateNotFoundError, type EventStoreError, type SerializationError, StreamTruncatedError } from "../../Errors.js"
import type * as EventRegistry from "../../EventRegistry.js"
import { type EventStorage, isReserved, type StoredEvent, TOMBSTONE } from "../../EventStorage.js"
import type { Service } from "../../EventStore.js"
import * as Metrics from "../../Metrics.js"
import * as Observability from "../observability.js"
import * as Validate from "../validate.js"
import { annotateEventCount, decodeEnvelopes } from "./envelopes.js"
import { foldEvents } from "./fold.js"
import { usableSnapshot } from "./snapshots.js"

/** A stream whose newest event is a tombstone was deleted: it reads as absent. */
export const isDeleted = (events: ReadonlyArray<StoredEvent>): boolean => events[events.length - 1]?.eventType === TOMBSTONE

export const load = (storage: EventStorage, registry: EventRegistry.EventRegistry): Service["load"] =>
<State, Ev extends { readonly _tag: string }>(definition: Aggregate.Definition<State, Ev>, aggregateId: string) =>
  Validate.name("aggregate id", aggregateId).pipe(
    Effect.zipRight(
      definition.snapshot === undefined
        ? Effect.succeed(undefined)
        : usableSnapshot(storage, definition.snapshot, definition.type, aggregateId)
    ),
    Effect.flatMap((from) =>
      Effect.flatMap(storage.readStream(aggregateId, from?.version ?? 0), (events): Either.Either<
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
      })
    ),
    Observability.observe(Metrics.loadDuration, definition.type),
    Observability.span("EventStore.load", { "eventuali.aggregate.type": definition.type, "eventuali.aggregate.id": aggregateId })
  )

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
