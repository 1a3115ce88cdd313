/** Aggregates through the store: save, load, loadOrFail, versions. */
import { expect } from "@effect/vitest"
import { Aggregate } from "@eventuali/core"
import { Effect, Option } from "effect"
import {
  Deposited,
  expectFailure,
  expectVersion,
  makeAccount,
  Opened,
  openAccount,
  type Test,
  unique,
  Withdrawn
} from "./fixtures.js"

export const aggregates = (test: Test): void => {
  test(
    "versions start at 1 and are contiguous across saves",
    (store) => Effect.gen(function*() {
      let root = Aggregate.empty(makeAccount(), unique("account"))
      root = yield* store.save(Aggregate.apply(root, new Opened({ owner: "Ada" })))
      expect(root.version).toBe(1)
      root = yield* store.save(Aggregate.applyAll(root, [new Deposited({ amount: 10 }), new Deposited({ amount: 5 })]))
      expect(root.version).toBe(3)
      root = yield* store.save(Aggregate.apply(root, new Withdrawn({ amount: 3 })))
      expect(root.version).toBe(4)

      const events = yield* store.loadEvents(root.id)
      expect(events.map((event) => event.aggregateVersion)).toEqual([1, 2, 3, 4])
      expect(events.map((event) => event.eventType)).toEqual(["Opened", "Deposited", "Deposited", "Withdrawn"])
      expect(yield* store.getAggregateVersion(root.id)).toEqual(Option.some(4))
    })
  )

  test(
    "save returns the root committed: same id, version and state, nothing uncommitted",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const pending = Aggregate.applyAll(Aggregate.empty(account, unique("account")), [
        new Opened({ owner: "Ada" }),
        new Deposited({ amount: 7 })
      ])
      expect(pending.uncommittedEvents).toHaveLength(2)

      const saved = yield* store.save(pending)
      expect(saved.uncommittedEvents).toEqual([])
      expect(saved.id).toBe(pending.id)
      expect(saved.type).toBe(account.type)
      expect(saved.version).toBe(2)
      expect(saved.state).toEqual(pending.state)
      expect(pending.uncommittedEvents).toHaveLength(2)
    })
  )

  test(
    "load replays the stored events through evolve, as Aggregate.fromEvents does",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const applied = [new Opened({ owner: "Ada" }), new Deposited({ amount: 10 }), new Withdrawn({ amount: 4 })]
      const saved = yield* store.save(Aggregate.applyAll(Aggregate.empty(account, unique("account")), applied))

      const loaded = Option.getOrThrow(yield* store.load(account, saved.id))
      const expected = Aggregate.fromEvents(account, saved.id, applied)
      expect(loaded.id).toBe(saved.id)
      expect(loaded.type).toBe(account.type)
      expect(loaded.version).toBe(3)
      expect(loaded.version).toBe(expected.version)
      expect(loaded.state).toEqual(expected.state)
      expect(loaded.state).toEqual({ owner: "Ada", balance: 6, movements: [10, -4] })
      expect(loaded.uncommittedEvents).toEqual([])
      expect(yield* store.loadOrFail(account, saved.id)).toEqual(loaded)
    })
  )

  test(
    "load decodes with the aggregate's own schemas, without any registration",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const saved = yield* openAccount(account, [1, 2])
      const registered = yield* store.getRegisteredEventClasses()
      for (const eventType of ["Opened", "Deposited", "Withdrawn"]) expect(registered.has(eventType)).toBe(false)

      const loaded = Option.getOrThrow(yield* store.load(account, saved.id))
      expect(loaded.state).toEqual({ owner: "Ada", balance: 3, movements: [1, 2] })
    })
  )

  test(
    "a loaded root continues from its version when saved again",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const saved = yield* openAccount(account, [5])
      const loaded = Option.getOrThrow(yield* store.load(account, saved.id))
      const again = yield* store.save(Aggregate.apply(loaded, new Deposited({ amount: 6 })))
      expect(again.version).toBe(3)
      expect(again.state.balance).toBe(11)
      yield* expectVersion(saved.id, 3)
      expect(Option.getOrThrow(yield* store.load(account, saved.id)).state.movements).toEqual([5, 6])
    })
  )

  test(
    "saving a root with nothing uncommitted writes nothing and keeps its version",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const saved = yield* openAccount(account, [1])
      const before = yield* store.loadEvents(saved.id)

      const resaved = yield* store.save(saved)
      expect(resaved.version).toBe(2)
      expect(resaved.state).toEqual(saved.state)
      expect(resaved.uncommittedEvents).toEqual([])
      expect(yield* store.loadEvents(saved.id)).toEqual(before)

      const loaded = Option.getOrThrow(yield* store.load(account, saved.id))
      expect((yield* store.save(loaded)).version).toBe(2)
      yield* expectVersion(saved.id, 2)

      const empty = Aggregate.empty(account, unique("account"))
      const savedEmpty = yield* store.save(empty)
      expect(savedEmpty.version).toBe(0)
      yield* expectVersion(empty.id, 0)
      expect(yield* store.load(account, empty.id)).toEqual(Option.none())
    })
  )

  test(
    "load of a missing aggregate is None",
    (store) => Effect.gen(function*() {
      expect(yield* store.load(makeAccount(), unique("missing"))).toEqual(Option.none())
    })
  )

  test(
    "loadOrFail of a missing aggregate fails with AggregateNotFoundError naming it",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const id = unique("missing")
      const error = yield* expectFailure(store.loadOrFail(account, id), "AggregateNotFoundError")
      expect(error.aggregateType).toBe(account.type)
      expect(error.aggregateId).toBe(id)
    })
  )

  test(
    "load of an id that belongs to another aggregate type fails with EventStoreError",
    (store) => Effect.gen(function*() {
      const saved = yield* openAccount(makeAccount(), [1])
      const other = makeAccount()
      yield* expectFailure(store.load(other, saved.id), "EventStoreError")
      yield* expectFailure(store.loadOrFail(other, saved.id), "EventStoreError")
    })
  )
}
