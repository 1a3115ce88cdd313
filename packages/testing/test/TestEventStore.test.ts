import { describe, expect, it } from "@effect/vitest"
import { Aggregate, EventStore } from "@eventuali/core"
import { TestEventStore } from "@eventuali/testing"
import { Effect, Option, Schema } from "effect"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}

const Account = Aggregate.make({
  type: "Account",
  events: [Deposited],
  initialState: 0,
  evolve: (balance, event) => balance + event.amount
})

describe("TestEventStore", () => {
  it.effect("given stores an aggregate's history; provide runs against a store of its own", () =>
    Effect.gen(function*() {
      const root = yield* TestEventStore.given(Account, "acc-1", [new Deposited({ amount: 2 }), new Deposited({ amount: 3 })])
      expect(root.version).toBe(2)
      expect(root.uncommittedEvents).toEqual([])
      const store = yield* EventStore.EventStore
      expect(Option.map(yield* store.load(Account, "acc-1"), (loaded) => loaded.state)).toEqual(Option.some(5))
    }).pipe(TestEventStore.provide))

  it.effect("each provide starts from an empty store", () =>
    Effect.gen(function*() {
      const versionIn = Effect.flatMap(EventStore.EventStore, (store) => store.getAggregateVersion("acc-1"))
      yield* Effect.zipRight(TestEventStore.given(Account, "acc-1", [new Deposited({ amount: 1 })]), versionIn).pipe(
        TestEventStore.provide
      )
      expect(yield* TestEventStore.provide(versionIn)).toEqual(Option.none())
    }))
})
