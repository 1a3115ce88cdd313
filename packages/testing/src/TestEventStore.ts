/**
 * A fresh in-memory event store per test: for tests of code that uses the store (command
 * handlers, projections, services), where `DeciderSpec` is not enough.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import { CommandHandler } from "eventuali"
 * import { TestEventStore } from "@eventuali/testing"
 *
 * it.effect("a deposit is saved", () =>
 *   Effect.gen(function*() {
 *     yield* TestEventStore.given(Account, "acc-1", [new Opened({ owner: "Ada" })])
 *     const { root } = yield* CommandHandler.handle(Account, "acc-1", new Deposit({ amount: 5 }))
 *     expect(root.version).toBe(2)
 *   }).pipe(TestEventStore.provide))
 * ```
 *
 * @since 0.1.0
 */
import { Aggregate, EventStore, InMemoryEventStore, type ProjectionStore } from "@eventuali/core"
import { Effect, type Layer } from "effect"

/**
 * An empty in-memory store (and in-memory projection checkpoints), new each time the layer is
 * built: `Effect.provide(effect, TestEventStore.layer)` gives every run its own store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore> = InMemoryEventStore.layer

/**
 * Runs `effect` against a fresh, empty in-memory store.
 *
 * @since 0.1.0
 * @category running
 */
export const provide = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E, Exclude<R, EventStore.EventStore | ProjectionStore.ProjectionStore>> =>
  Effect.provide(effect, layer)

/**
 * Stores `events` as the history of the aggregate `aggregateId` (saved like any new aggregate:
 * versions 1 to `events.length`), and returns the committed root.
 *
 * @since 0.1.0
 * @category seeding
 */
export const given = <State, Event extends { readonly _tag: string }>(
  definition: Aggregate.Definition<State, Event>,
  aggregateId: string,
  events: ReadonlyArray<NoInfer<Event>>
): Effect.Effect<Aggregate.Root<State, Event>, EventStore.WriteError, EventStore.EventStore> =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    store.save(Aggregate.applyAll(Aggregate.empty(definition, aggregateId), events)))
