import { expect, it } from "@effect/vitest"
import { Aggregate, EventStore } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { Effect, Option, Schema } from "effect"
import { describePg, freshUrl } from "./support/pg.js"

class Opened extends Schema.TaggedClass<Opened>()("Opened", { owner: Schema.String }) {}
class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}
const Account = Aggregate.make({
  type: "Account",
  events: [Opened, Deposited],
  initialState: { owner: "", balance: 0 },
  evolve: (state, event) => event._tag === "Opened" ? { ...state, owner: event.owner } : { ...state, balance: state.balance + event.amount }
})

describePg("PgEventStore smoke", () => {
  it.effect("save, load, read by type", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      let account = Aggregate.applyAll(Aggregate.empty(Account, "a-1"), [new Opened({ owner: "ann" }), new Deposited({ amount: 5 })])
      account = yield* store.save(account)
      account = yield* store.save(Aggregate.apply(account, new Deposited({ amount: 7 })))
      const loaded = Option.getOrThrow(yield* store.load(Account, "a-1"))
      expect(loaded.state).toEqual({ owner: "ann", balance: 12 })
      expect(loaded.version).toBe(3)
      const byType = yield* store.loadEventsByType("Account")
      expect(byType.map((e) => e.aggregateVersion)).toEqual([1, 2, 3])
      expect(byType[0]!.position < byType[1]!.position && byType[1]!.position < byType[2]!.position).toBe(true)
    }).pipe(Effect.provide(PgEventStore.layer({ url: freshUrl() }))))
})
