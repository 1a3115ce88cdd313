/**
 * Reads of one aggregate: `load` (from its newest usable snapshot, then {@link foldEvents}),
 * `loadOrFail`, and `loadEvents` (its envelopes, unfolded).
 */
import { Effect, Option } from "effect"
import { AggregateNotFoundError } from "../../Errors.js"
import type * as EventRegistry from "../../EventRegistry.js"
import type { EventStorage } from "../../EventStorage.js"
import type { Service } from "../../EventStore.js"
import * as Metrics from "../../Metrics.js"
import * as Observability from "../observability.js"
import * as Validate from "../validate.js"
import { annotateEventCount, decodeEnvelopes } from "./envelopes.js"
import { foldEvents } from "./fold.js"
import { usableSnapshot } from "./snapshots.js"

export const load = (storage: EventStorage, registry: EventRegistry.EventRegistry): Service["load"] =>
(definition, aggregateId) =>
  Validate.name("aggregate id", aggregateId).pipe(
    Effect.zipRight(
      definition.snapshot === undefined
        ? Effect.succeed(undefined)
        : usableSnapshot(storage, definition.snapshot, definition.type, aggregateId)
    ),
    Effect.flatMap((from) =>
      Effect.flatMap(
        storage.readStream(aggregateId, from?.version ?? 0),
        (events) => foldEvents(registry, definition, aggregateId, events, from)
      )
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
    Effect.flatMap((events) => decodeEnvelopes(registry, events)),
    Effect.tap(annotateEventCount),
    Observability.span("EventStore.loadEvents", { "eventuali.aggregate.id": aggregateId })
  )
