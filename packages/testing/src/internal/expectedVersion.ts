/** `append` and every ExpectedVersion mode; aggregate ids owned by one aggregate type. */
import { expect } from "@effect/vitest"
import { Aggregate, EventStore, ExpectedVersion } from "@eventuali/core"
import { Effect } from "effect"
import {
  Deposited,
  deposit,
  expectFailure,
  expectVersion,
  idsOf,
  makeAccount,
  Opened,
  openAccount,
  type Test,
  unique
} from "./fixtures.js"

/** A new aggregate id with `count` events of a type of its own. */
const seed = (count: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const aggregateType = unique("Account")
    const id = unique("account")
    if (count > 0) yield* store.append(aggregateType, id, Array.from({ length: count }, (_, i) => deposit(i + 1)))
    return { aggregateType, id }
  })

export const expectedVersions = (test: Test): void => {
  test(
    "append returns the new version and the written events",
    (store) => Effect.gen(function*() {
      const { aggregateType, id } = yield* seed(0)
      const first = yield* store.append(aggregateType, id, [deposit(1), deposit(2)])
      expect(first.version).toBe(2)
      expect(first.events.map((event) => event.aggregateVersion)).toEqual([1, 2])
      expect(first.events.map((event) => event.data)).toEqual([{ amount: 1 }, { amount: 2 }])
      const second = yield* store.append(aggregateType, id, [deposit(3)])
      expect(second.version).toBe(3)
      expect(second.events[0]!.position > first.events[1]!.position).toBe(true)
      expect(idsOf(yield* store.loadEvents(id))).toEqual([...idsOf(first.events), ...idsOf(second.events)])
    })
  )

  test(
    "any appends to a new and to an existing aggregate, and is the default",
    (store) => Effect.gen(function*() {
      const { aggregateType, id } = yield* seed(0)
      expect((yield* store.append(aggregateType, id, [deposit(1)], { expectedVersion: ExpectedVersion.any })).version)
        .toBe(1)
      expect((yield* store.append(aggregateType, id, [deposit(2)], { expectedVersion: ExpectedVersion.any })).version)
        .toBe(2)
      expect((yield* store.append(aggregateType, id, [deposit(3)])).version).toBe(3)
      expect((yield* store.append(aggregateType, id, [deposit(4)], {})).version).toBe(4)
      yield* expectVersion(id, 4)
    })
  )

  test(
    "noStream appends only to an aggregate without events",
    (store) => Effect.gen(function*() {
      const { aggregateType, id } = yield* seed(0)
      const noStream = { expectedVersion: ExpectedVersion.noStream }
      expect((yield* store.append(aggregateType, id, [deposit(1), deposit(2)], noStream)).version).toBe(2)

      const error = yield* expectFailure(
        store.append(aggregateType, id, [deposit(3)], noStream),
        "OptimisticConcurrencyError"
      )
      expect(error.aggregateId).toBe(id)
      expect(error.expectedVersion).toEqual(ExpectedVersion.noStream)
      expect(error.actualVersion).toBe(2)
      yield* expectVersion(id, 2)
    })
  )

  test(
    "streamExists appends only to an aggregate with events",
    (store) => Effect.gen(function*() {
      const { aggregateType, id } = yield* seed(0)
      const streamExists = { expectedVersion: ExpectedVersion.streamExists }

      const error = yield* expectFailure(
        store.append(aggregateType, id, [deposit(1)], streamExists),
        "OptimisticConcurrencyError"
      )
      expect(error.aggregateId).toBe(id)
      expect(error.expectedVersion).toEqual(ExpectedVersion.streamExists)
      expect(error.actualVersion).toBe(0)
      yield* expectVersion(id, 0)

      yield* store.append(aggregateType, id, [deposit(1)])
      expect((yield* store.append(aggregateType, id, [deposit(2)], streamExists)).version).toBe(2)
      expect((yield* store.append(aggregateType, id, [deposit(3)], streamExists)).version).toBe(3)
    })
  )

  test(
    "exact(0) appends only to an aggregate without events",
    (store) => Effect.gen(function*() {
      const { aggregateType, id } = yield* seed(0)
      const exactZero = { expectedVersion: ExpectedVersion.exact(0) }
      expect((yield* store.append(aggregateType, id, [deposit(1)], exactZero)).version).toBe(1)
      const error = yield* expectFailure(
        store.append(aggregateType, id, [deposit(2)], exactZero),
        "OptimisticConcurrencyError"
      )
      expect(error.expectedVersion).toEqual(ExpectedVersion.exact(0))
      expect(error.actualVersion).toBe(1)
      yield* expectVersion(id, 1)
    })
  )

  test(
    "exact(n) appends only at version n",
    (store) => Effect.gen(function*() {
      const { aggregateType, id } = yield* seed(3)
      for (const expected of [0, 2, 4, 100]) {
        const error = yield* expectFailure(
          store.append(aggregateType, id, [deposit(9)], { expectedVersion: ExpectedVersion.exact(expected) }),
          "OptimisticConcurrencyError"
        )
        expect(error.aggregateId).toBe(id)
        expect(error.expectedVersion).toEqual(ExpectedVersion.exact(expected))
        expect(error.actualVersion).toBe(3)
      }
      yield* expectVersion(id, 3)
      const appended = yield* store.append(aggregateType, id, [deposit(4), deposit(5)], {
        expectedVersion: ExpectedVersion.exact(3)
      })
      expect(appended.version).toBe(5)
      expect(appended.events.map((event) => event.aggregateVersion)).toEqual([4, 5])
    })
  )

  test(
    "appending no events writes nothing and still checks the expected version",
    (store) => Effect.gen(function*() {
      const { aggregateType, id } = yield* seed(2)
      const result = yield* store.append(aggregateType, id, [], { expectedVersion: ExpectedVersion.exact(2) })
      expect(result.version).toBe(2)
      expect(result.events).toEqual([])
      const error = yield* expectFailure(
        store.append(aggregateType, id, [], { expectedVersion: ExpectedVersion.noStream }),
        "OptimisticConcurrencyError"
      )
      expect(error.actualVersion).toBe(2)
      yield* expectVersion(id, 2)

      const missing = unique("account")
      expect((yield* store.append(aggregateType, missing, [])).version).toBe(0)
      yield* expectVersion(missing, 0)
    })
  )
}

export const aggregateOwnership = (test: Test): void => {
  test(
    "save under an id that belongs to another aggregate type fails with EventStoreError and writes nothing",
    (store) => Effect.gen(function*() {
      const owner = makeAccount()
      const intruder = makeAccount()
      const saved = yield* openAccount(owner, [1])
      const before = yield* store.loadEvents(saved.id)

      // Expecting version 0 (a new aggregate) and expecting the actual version 2: both refused.
      const fresh = Aggregate.apply(Aggregate.empty(intruder, saved.id), new Opened({ owner: "Mallory" }))
      yield* expectFailure(store.save(fresh), "EventStoreError")
      const atSameVersion = Aggregate.apply(
        Aggregate.fromEvents(intruder, saved.id, [new Opened({ owner: "Mallory" }), new Deposited({ amount: 1 })]),
        new Deposited({ amount: 1000 })
      )
      yield* expectFailure(store.save(atSameVersion), "EventStoreError")

      expect(yield* store.loadEvents(saved.id)).toEqual(before)
      expect(yield* store.loadEventsByType(intruder.type)).toEqual([])
    })
  )

  test(
    "append under an id that belongs to another aggregate type fails with EventStoreError and writes nothing",
    (store) => Effect.gen(function*() {
      const { aggregateType, id } = yield* seed(2)
      const otherType = unique("Account")
      const before = yield* store.loadEvents(id)
      for (const expectedVersion of [ExpectedVersion.any, ExpectedVersion.streamExists, ExpectedVersion.exact(2)]) {
        yield* expectFailure(store.append(otherType, id, [deposit(1)], { expectedVersion }), "EventStoreError")
      }
      expect(yield* store.loadEvents(id)).toEqual(before)
      expect(yield* store.loadEventsByType(otherType)).toEqual([])
      expect((yield* store.loadEventsByType(aggregateType)).map((event) => event.aggregateId)).toEqual([id, id])
    })
  )
}
