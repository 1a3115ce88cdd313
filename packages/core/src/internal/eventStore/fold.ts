/**
 * The fold: an aggregate's stored events, decoded with its own event schemas (upcast first), run
 * through its `evolve` from its initial state or a snapshot. Every `load` goes through here, so
 * it is a plain loop: no closure and no Effect per event (see docs/performance.md).
 */
import { Either, Option, Schema } from "effect"
import type * as Aggregate from "../../Aggregate.js"
import { EventStoreError, SerializationError } from "../../Errors.js"
import type * as EventRegistry from "../../EventRegistry.js"
import { isReserved, type StoredEvent } from "../../EventStorage.js"
import { decodeEvent } from "../codec.js"
import { eventSchemaOf } from "../eventSchemas.js"
import * as Versions from "../versions.js"
import type { FoldStart } from "./snapshots.js"

/**
 * The aggregate `events` make, applied after `from` (or from the start); `None` when there is
 * nothing to start from and no event.
 */
export const foldEvents = <State, Ev extends { readonly _tag: string }>(
  registry: EventRegistry.EventRegistry,
  definition: Aggregate.Definition<State, Ev>,
  aggregateId: string,
  events: ReadonlyArray<StoredEvent>,
  from: FoldStart<State> | undefined = undefined
): Either.Either<Option.Option<Aggregate.Root<State, Ev>>, SerializationError | EventStoreError> => {
  if (events.length === 0 && from === undefined) return Either.right(Option.none())
  const owner = events[0]?.aggregateType ?? definition.type
  if (owner !== definition.type) {
    return Either.left(
      new EventStoreError({
        message: `Aggregate ${JSON.stringify(aggregateId)} is a ${JSON.stringify(owner)}, not a ${JSON.stringify(definition.type)}`
      })
    )
  }
  // The aggregate's type guard, made only when an alias needs it.
  let isEvent: ((value: unknown) => boolean) | undefined
  let state = from?.state ?? definition.initialState
  let version = from?.version ?? 0
  for (const stored of events) {
    // The store writes versions 1, 2, 3, ...: anything else was changed behind its back.
    if (stored.aggregateVersion !== ++version) {
      return Either.left(
        new EventStoreError({
          message: `The stored versions of ${JSON.stringify(aggregateId)} are not contiguous: version ${version} expected, ${stored.aggregateVersion} found at position ${stored.position}`
        })
      )
    }
    // The store's own events (`$restored`) count as versions, but are not the aggregate's.
    if (isReserved(stored.eventType)) continue
    const member = eventSchemaOf(definition, stored.eventType)
    const decoded = member !== undefined
      ? decodeMember(member, stored)
      : decodeAlias(registry, definition.type, stored, isEvent ??= Schema.is(definition.schema))
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    state = definition.evolve(state, decoded.right as Ev)
  }
  return Either.right(Option.some({
    definition,
    type: definition.type,
    id: aggregateId,
    version: events.length > 0 ? events[events.length - 1]!.aggregateVersion : from!.version,
    state,
    uncommittedEvents: []
  }))
}

/** An event of one of the aggregate's own schemas: brought up to its current version, decoded. */
const decodeMember = (member: Schema.Schema.AnyNoContext, stored: StoredEvent): Either.Either<unknown, SerializationError> => {
  const current = Versions.upcast(member, stored.eventType, stored.eventVersion, stored.data)
  return Either.isLeft(current) ? current : decodeEvent(member, stored.eventType, current.right)
}

/** An event stored under an alias registered for one of the aggregate's events. */
const decodeAlias = (
  registry: EventRegistry.EventRegistry,
  aggregateType: string,
  stored: StoredEvent,
  isEvent: (value: unknown) => boolean
): Either.Either<unknown, SerializationError> => {
  if (registry.unsafeGet(stored.eventType) === undefined) {
    return Either.left(
      new SerializationError({
        eventType: stored.eventType,
        message: `Event type ${JSON.stringify(stored.eventType)} is not an event of ${
          JSON.stringify(aggregateType)
        } (register it as an alias of one of its event schemas)`
      })
    )
  }
  return Either.filterOrLeft(registry.decode(stored.eventType, stored.eventVersion, stored.data), isEvent, () =>
    new SerializationError({
      eventType: stored.eventType,
      message: `Event type ${JSON.stringify(stored.eventType)} decodes to a value that is not an event of ${
        JSON.stringify(aggregateType)
      }`
    }))
}
