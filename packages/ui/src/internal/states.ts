/**
 * An aggregate's state after a given version. The store's `load` only folds to the newest
 * version; rather than fold a second way (and get upcasting, aliases or decoding subtly
 * different), the events up to that version are replayed into an in-memory store and loaded
 * there with the application's own `Aggregate` definition: the state shown is the one `load`
 * would have returned at that version.
 */
import type * as Aggregate from "@eventuali/core/Aggregate"
import type { StreamTruncatedError } from "@eventuali/core/Errors"
import { isReserved } from "@eventuali/core/EventStorage"
import type { WriteError } from "@eventuali/core/EventStore"
import * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import * as InMemoryEventStore from "@eventuali/core/InMemoryEventStore"
import { Effect, Option } from "effect"
import type * as Queries from "./queries.js"

/** The definition of any aggregate, whatever its state and event types. */
export type AnyDefinition = Aggregate.Definition<any, any>

/**
 * A state as JSON: what the browser can show. Values JSON has no form for (bigints, dates,
 * maps, sets, class instances) become their nearest JSON form.
 */
export const toJson = (value: unknown, seen: Set<unknown> = new Set()): unknown => {
  if (value === null || typeof value === "string" || typeof value === "boolean") return value
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value)
  if (typeof value === "bigint") return value.toString()
  if (value === undefined || typeof value === "function" || typeof value === "symbol") return null
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString()
  if (seen.has(value)) return "[circular]"
  seen.add(value)
  try {
    if (Array.isArray(value)) return value.map((item) => toJson(item, seen))
    if (value instanceof Set) return [...value].map((item) => toJson(item, seen))
    if (value instanceof Map) return Object.fromEntries([...value].map(([key, item]) => [String(key), toJson(item, seen)]))
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, toJson(item, seen)]))
  } finally {
    seen.delete(value)
  }
}

/** The states after `events.length - 1` and `events.length` events (`events` are versions 1..n). */
export const statesAt = (
  definition: AnyDefinition,
  aggregateId: string,
  events: ReadonlyArray<Queries.Event>
): Effect.Effect<{ readonly previous: unknown; readonly state: unknown }, WriteError | StreamTruncatedError> =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* InMemoryEventStore.make
    // The store's own events ($deleted, $restored) change no state, and only the store writes them.
    const replay = (all: ReadonlyArray<Queries.Event>) => {
      const batch = all.filter((event) => !isReserved(event.eventType))
      return batch.length === 0 ? Effect.void : store.append(
        definition.type,
        aggregateId,
        batch.map((event) => ({
          eventId: event.eventId,
          eventType: event.eventType,
          eventVersion: event.eventVersion,
          timestamp: event.timestamp,
          data: event.data
        })),
        { expectedVersion: ExpectedVersion.any }
      )
    }
    const load = Effect.map(store.load(definition, aggregateId), (root) =>
      toJson(Option.match(root, { onNone: () => definition.initialState, onSome: (root) => root.state })))
    yield* replay(events.slice(0, -1))
    const previous = yield* load
    yield* replay(events.slice(-1))
    return { previous, state: yield* load }
  }))
