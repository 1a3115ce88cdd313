/**
 * Inline projections: the handler runs in the append's transaction, so a failing handler fails
 * the save and nothing is stored, and the read model is up to date when a save returns.
 */
import { expect } from "@effect/vitest"
import { Aggregate, ExpectedVersion, InlineProjection, type Projection } from "@eventuali/core"
import { Effect, Exit, Layer, Option, Ref } from "effect"
import { Deposited, makeAccount, Opened, type Test, unique } from "./fixtures.js"

const amountOf = (data: unknown): number =>
  typeof data === "object" && data !== null && "amount" in data && typeof data.amount === "number" ? data.amount : 0

/** Balances by account, updated in one step per event (an in-memory read model cannot roll back). */
const balances = (aggregateType: string, model: Ref.Ref<ReadonlyMap<string, number>>, refuse: (amount: number) => boolean = () => false) =>
  ({
    name: unique("balances"),
    aggregateTypes: [aggregateType],
    handle: (event: Projection.ProjectionEvent) =>
      Effect.gen(function*() {
        expect(event.replaying).toBe(false)
        const amount = amountOf(event.data)
        if (refuse(amount)) return yield* Effect.fail(`amount ${amount} refused`)
        yield* Ref.update(model, (balances) => new Map(balances).set(event.aggregateId, (balances.get(event.aggregateId) ?? 0) + amount))
      })
  }) satisfies InlineProjection.InlineProjection<string>

export const inline = (test: Test): void => {
  test("an inline projection with an empty name or an invalid filter is refused with EventStoreError, and nothing is registered", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const model = yield* Ref.make<ReadonlyMap<string, number>>(new Map())
      const valid = balances(account.type, model)
      const cases = [
        [{ ...valid, name: "" }, /inline projection name must not be empty/],
        [{ ...valid, aggregateTypes: [""] }, /aggregate type must not be empty/],
        [{ ...valid, eventTypes: "Deposited" as unknown as Array<string> }, /event type filter must be an array/]
      ] as const
      for (const [projection, message] of cases) {
        const error = yield* Effect.flip(Effect.scoped(Layer.build(InlineProjection.layer(projection))))
        expect(error._tag).toBe("EventStoreError")
        expect(error.message).toMatch(message)
      }
      yield* store.append(account.type, unique("account"), [{ eventType: "Deposited", data: { amount: 1 } }])
      expect((yield* Ref.get(model)).size).toBe(0)
    }))

  test("a save whose inline handler fails fails with InlineProjectionError and stores nothing", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const model = yield* Ref.make<ReadonlyMap<string, number>>(new Map())
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(InlineProjection.layer(balances(account.type, model, (amount) => amount > 100)))
        const id = unique("account")
        const exit = yield* Effect.exit(store.save(Aggregate.applyAll(Aggregate.empty(account, id), [new Deposited({ amount: 500 })])))
        expect(Exit.isFailure(exit)).toBe(true)
        if (Exit.isFailure(exit)) {
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          expect(error?._tag).toBe("InlineProjectionError")
          expect(error?.message).toContain("amount 500 refused")
        }
        expect(yield* store.loadEvents(id)).toEqual([])
        expect(yield* store.getAggregateVersion(id)).toEqual(Option.none())
        expect(yield* Ref.get(model)).toEqual(new Map())
        // The store is usable after the rollback, and the handler runs on the next save.
        yield* store.save(Aggregate.applyAll(Aggregate.empty(account, id), [new Opened({ owner: "Ada" }), new Deposited({ amount: 5 })]))
        expect((yield* Ref.get(model)).get(id)).toBe(5)
      }))
    }))

  test("under 20 concurrent saves the read model is current when each save returns, and equals a fold of the log", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const model = yield* Ref.make<ReadonlyMap<string, number>>(new Map())
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(InlineProjection.layer(balances(account.type, model)))
        const ids = Array.from({ length: 5 }, () => unique("account"))
        yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            const id = ids[i % ids.length]!
            const saved = yield* store.append(account.type, id, [{ eventType: "Deposited", data: { amount: i + 1 } }])
            // Consistent on return: this save's events are in the model (with every earlier one).
            const events = yield* store.loadEvents(id)
            const upToThis = events.filter((event) => event.aggregateVersion <= saved.version)
            expect((yield* Ref.get(model)).get(id)! >= upToThis.reduce((sum, event) => sum + amountOf(event.data), 0)).toBe(true)
          }), { concurrency: "unbounded", discard: true })
        const folded = new Map<string, number>()
        for (const event of yield* store.loadEventsByType(account.type)) {
          folded.set(event.aggregateId, (folded.get(event.aggregateId) ?? 0) + amountOf(event.data))
        }
        expect(yield* Ref.get(model)).toEqual(folded)
      }))
    }))

  test("an idempotent retry runs no handler again; a refused append runs none; the registration ends with its scope", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const model = yield* Ref.make<ReadonlyMap<string, number>>(new Map())
      const id = unique("account")
      const eventId = unique("event")
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.build(InlineProjection.layer(balances(account.type, model)))
        yield* store.append(account.type, id, [{ eventId, eventType: "Deposited", data: { amount: 7 } }])
        yield* store.append(account.type, id, [{ eventId, eventType: "Deposited", data: { amount: 7 } }])
        const conflict = yield* Effect.exit(store.append(account.type, id, [{ eventType: "Deposited", data: { amount: 1 } }], { expectedVersion: ExpectedVersion.noStream }))
        expect(Exit.isFailure(conflict)).toBe(true)
        expect((yield* Ref.get(model)).get(id)).toBe(7)
      }))
      yield* store.append(account.type, id, [{ eventType: "Deposited", data: { amount: 3 } }])
      expect((yield* Ref.get(model)).get(id)).toBe(7)
      expect((yield* store.loadEvents(id)).length).toBe(2)
    }))
}
