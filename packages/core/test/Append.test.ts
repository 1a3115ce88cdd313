import { describe, expect, it } from "@effect/vitest"
import { Aggregate, EventStore, InMemoryEventStore } from "@eventuali/core"
import { type EventStorage, refused } from "@eventuali/core/EventStorage"
import { Effect, Option, Ref, Schema } from "effect"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}

const Account = Aggregate.make({
  type: "Account",
  events: [Deposited],
  initialState: 0,
  evolve: (balance: number, event: Deposited) => balance + event.amount
})

/**
 * A store over in-memory storage whose first `refusals` appends are refused with nothing wrong
 * to find: what the store sees when another writer moved the aggregate between its append and
 * its look at why, then moved nothing that conflicts.
 */
const storeLosingRaces = (refusals: number) =>
  Effect.gen(function*() {
    const storage = yield* InMemoryEventStore.makeStorage
    const appends = yield* Ref.make(0)
    const losing: EventStorage = {
      ...storage,
      append: (request) =>
        Effect.flatMap(
          Ref.updateAndGet(appends, (n) => n + 1),
          (n) => n <= refusals ? Effect.succeed(refused) : storage.append(request)
        )
    }
    const store = yield* EventStore.make(losing)
    return { store, appends: Ref.get(appends) }
  })

const deposit = (root: Aggregate.Root<number, Deposited>, amount: number) => Aggregate.apply(root, new Deposited({ amount }))

describe("append", () => {
  it.scoped("an append refused with nothing wrong to find (a lost race) is tried again, and commits once", () =>
    Effect.gen(function*() {
      const { appends, store } = yield* storeLosingRaces(3)
      const saved = yield* store.save(deposit(Aggregate.empty(Account, "acc-1"), 5))
      expect(saved.version).toBe(1)
      expect(yield* appends).toBe(4)
      expect((yield* store.loadEvents("acc-1")).map((event) => event.data)).toEqual([{ amount: 5 }])
    }))

  it.scoped("an append that keeps losing races is tried 20 more times, then fails with the stored version", () =>
    Effect.gen(function*() {
      const { appends, store } = yield* storeLosingRaces(Number.POSITIVE_INFINITY)
      const error = yield* Effect.flip(store.save(deposit(Aggregate.empty(Account, "acc-2"), 5)))
      expect(error._tag).toBe("OptimisticConcurrencyError")
      if (error._tag === "OptimisticConcurrencyError") expect(error.actualVersion).toBe(0)
      expect(yield* appends).toBe(21)
      expect(yield* store.getAggregateVersion("acc-2")).toEqual(Option.none())
    }))
})
