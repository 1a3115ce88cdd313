/**
 * Stored events as the reads that return envelopes deliver them (`loadEvents`, the log reads,
 * subscriptions): each payload decoded with the schema registered for its event type, if any.
 */
import { Effect, Either } from "effect"
import type * as EventRegistry from "../../EventRegistry.js"
import type { StoredEvent } from "../../EventStorage.js"
import * as Observability from "../observability.js"

/** The events with their payloads decoded by the registry; the first that fails fails them all. */
export const decodeEnvelopes = (registry: EventRegistry.EventRegistry, events: ReadonlyArray<StoredEvent>) =>
  Effect.suspend(() => {
    const decoded: Array<StoredEvent> = new Array(events.length)
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!
      const data = registry.decode(event.eventType, event.eventVersion, event.data)
      if (Either.isLeft(data)) return Either.left(data.left)
      decoded[i] = data.right === event.data ? event : { ...event, data: data.right }
    }
    return Either.right(decoded)
  })

/** Puts how many events a read returned on its span. */
export const annotateEventCount = (events: ReadonlyArray<unknown>) =>
  Observability.annotate({ "eventuali.event.count": events.length })
