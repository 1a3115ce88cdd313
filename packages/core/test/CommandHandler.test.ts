import { describe, expect, it } from "@effect/vitest"
import { Aggregate, CommandHandler, EventStore, InMemoryEventStore, OptimisticConcurrencyError, ExpectedVersion } from "@eventuali/core"
import { Clock, Effect, Fiber, Layer, Ref, Schedule, Schema, TestClock } from "effect"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}

/** Records the time of every decision. */
const makeAccount = (decisions: Ref.Ref<ReadonlyArray<number>>, thinking: Effect.Effect<void> = Effect.void) =>
  Aggregate.make({
    type: "Account",
    events: [Deposited],
    initialState: 0,
    evolve: (balance, event) => balance + event.amount,
    decide: (amount: number, _balance) =>
      Clock.currentTimeMillis.pipe(
        Effect.flatMap((now) => Ref.update(decisions, (times) => [...times, now])),
        Effect.zipRight(thinking),
        Effect.as([new Deposited({ amount })])
      )
  })

/** An in-memory store whose every save loses a race. */
const alwaysConflicting = Layer.scoped(
  EventStore.EventStore,
  Effect.map(InMemoryEventStore.make, (store): EventStore.Service => ({
    ...store,
    save: (root) =>
      Effect.fail(
        new OptimisticConcurrencyError({
          aggregateId: root.id,
          expectedVersion: ExpectedVersion.exact(Aggregate.committedVersion(root)),
          actualVersion: Aggregate.committedVersion(root) + 1
        })
      )
  }))
)

describe("CommandHandler", () => {
  it.effect("the default schedule retries a conflict five times, about 10, 20, 40, 80 and 160 ms apart, then fails", () =>
    Effect.gen(function*() {
      const decisions = yield* Ref.make<ReadonlyArray<number>>([])
      const fiber = yield* Effect.fork(CommandHandler.handle(makeAccount(decisions), "acc-1", 5))
      yield* TestClock.adjust("10 seconds")
      const error = yield* Effect.flip(Fiber.join(fiber))
      expect(error._tag).toBe("OptimisticConcurrencyError")
      const times = yield* Ref.get(decisions)
      expect(times).toHaveLength(6)
      const gaps = times.slice(1).map((time, i) => time - times[i]!)
      for (const [i, base] of [10, 20, 40, 80, 160].entries()) {
        expect(gaps[i]).toBeGreaterThanOrEqual(base * 0.8)
        expect(gaps[i]).toBeLessThanOrEqual(base * 1.2)
      }
    }).pipe(Effect.provide(alwaysConflicting)))

  it.effect("a schedule of one's own replaces the default", () =>
    Effect.gen(function*() {
      const decisions = yield* Ref.make<ReadonlyArray<number>>([])
      const error = yield* Effect.flip(CommandHandler.handle(makeAccount(decisions), "acc-1", 5, { retry: Schedule.recurs(2) }))
      expect(error._tag).toBe("OptimisticConcurrencyError")
      expect(yield* Ref.get(decisions)).toHaveLength(3)
    }).pipe(Effect.provide(alwaysConflicting)))

  it.live("with the default schedule, colliding commands on a real clock all commit", () =>
    Effect.gen(function*() {
      const decisions = yield* Ref.make<ReadonlyArray<number>>([])
      // Each decision takes 2 ms, so the four first tries all decide on version 0. A command can
      // lose at most once to each of the three others: five retries always suffice.
      const account = makeAccount(decisions, Effect.sleep("2 millis"))
      yield* Effect.all([1, 2, 3, 4].map((amount) => CommandHandler.handle(account, "acc-1", amount)), {
        concurrency: "unbounded"
      })
      const store = yield* EventStore.EventStore
      const loaded = yield* store.loadOrFail(account, "acc-1")
      expect(loaded.state).toBe(10)
      expect(loaded.version).toBe(4)
      expect((yield* Ref.get(decisions)).length).toBeGreaterThanOrEqual(7)
    }).pipe(Effect.provide(InMemoryEventStore.layer)))
})
