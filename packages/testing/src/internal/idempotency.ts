/** Retried appends and saves with the same event ids are idempotent; reused ids are refused. */
import { expect } from "@effect/vitest"
import { Aggregate, ExpectedVersion } from "@eventuali/core"
import { Effect, Option } from "effect"
import {
  Deposited,
  deposit,
  expectFailure,
  expectVersion,
  idsOf,
  makeAccount,
  Opened,
  type Test,
  unique,
  Withdrawn
} from "./fixtures.js"

/** `count` raw deposits with fresh event ids. */
const depositsWithIds = (count: number) =>
  Array.from({ length: count }, (_, i) => deposit(i + 1, { eventId: unique("event") }))

export const idempotency = (test: Test): void => {
  test(
    "appending the same event ids again at the same expected version succeeds with what was written, writing nothing",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      for (const expectedVersion of [ExpectedVersion.exact(0), ExpectedVersion.noStream, ExpectedVersion.any]) {
        const id = unique("account")
        const events = depositsWithIds(3)
        const first = yield* store.append(aggregateType, id, events, { expectedVersion })
        const retry = yield* store.append(aggregateType, id, events, { expectedVersion })
        expect(retry.version).toBe(3)
        expect(idsOf(retry.events)).toEqual(idsOf(events))
        expect(retry.events.map((event) => event.position)).toEqual(first.events.map((event) => event.position))
        expect(retry.events.map((event) => event.aggregateVersion)).toEqual([1, 2, 3])
        yield* expectVersion(id, 3)
      }
    })
  )

  test(
    "retrying an earlier append succeeds after the aggregate moved on",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const id = unique("account")
      const earlier = depositsWithIds(2)
      yield* store.append(aggregateType, id, earlier, { expectedVersion: ExpectedVersion.exact(0) })
      yield* store.append(aggregateType, id, depositsWithIds(1), { expectedVersion: ExpectedVersion.exact(2) })

      const retry = yield* store.append(aggregateType, id, earlier, { expectedVersion: ExpectedVersion.exact(0) })
      expect(retry.version).toBe(2)
      expect(idsOf(retry.events)).toEqual(idsOf(earlier))
      yield* expectVersion(id, 3)
    })
  )

  test(
    "a retry answers with the events stored by the first append, not with the retry's payloads",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const id = unique("account")
      const eventId = unique("event")
      yield* store.append(aggregateType, id, [deposit(5, { eventId })], { expectedVersion: ExpectedVersion.exact(0) })

      const retry = yield* store.append(aggregateType, id, [deposit(7, { eventId })], {
        expectedVersion: ExpectedVersion.exact(0)
      })
      expect(retry.events.map((event) => event.data)).toEqual([{ amount: 5 }])
      const stored = yield* store.loadEvents(id)
      expect(stored.map((event) => event.data)).toEqual([{ amount: 5 }])
    })
  )

  test(
    "reusing an event id at another version fails with EventStoreError and writes nothing",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const id = unique("account")
      const [event] = depositsWithIds(1)
      yield* store.append(aggregateType, id, [event!], { expectedVersion: ExpectedVersion.exact(0) })
      yield* expectFailure(
        store.append(aggregateType, id, [event!], { expectedVersion: ExpectedVersion.exact(1) }),
        "EventStoreError"
      )
      yield* expectFailure(
        store.append(aggregateType, id, [event!], { expectedVersion: ExpectedVersion.streamExists }),
        "EventStoreError"
      )
      yield* expectVersion(id, 1)
    })
  )

  test(
    "reusing an event id in another aggregate fails with EventStoreError and writes nothing",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const id = unique("account")
      const events = depositsWithIds(1)
      yield* store.append(aggregateType, id, events)

      const elsewhere = unique("account")
      yield* expectFailure(store.append(aggregateType, elsewhere, events), "EventStoreError")
      yield* expectFailure(
        store.append(unique("Account"), elsewhere, events, { expectedVersion: ExpectedVersion.noStream }),
        "EventStoreError"
      )
      yield* expectVersion(elsewhere, 0)
      yield* expectVersion(id, 1)
    })
  )

  test(
    "repeating an append's event ids under another aggregate type is no retry: EventStoreError, nothing written",
    (store) => Effect.gen(function*() {
      const id = unique("account")
      const events = depositsWithIds(2)
      yield* store.append(unique("Account"), id, events, { expectedVersion: ExpectedVersion.exact(0) })
      for (const expectedVersion of [ExpectedVersion.exact(0), ExpectedVersion.any, ExpectedVersion.noStream]) {
        yield* expectFailure(store.append(unique("Other"), id, events, { expectedVersion }), "EventStoreError")
      }
      yield* expectVersion(id, 2)
    })
  )

  test(
    "a batch mixing a stored event id with new ones fails with EventStoreError and writes nothing",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const id = unique("account")
      const stored = depositsWithIds(2)
      yield* store.append(aggregateType, id, stored)

      const fresh = depositsWithIds(2)
      yield* expectFailure(store.append(aggregateType, id, [...fresh, stored[0]!]), "EventStoreError")
      yield* expectFailure(
        store.append(aggregateType, id, [stored[0]!, ...fresh], { expectedVersion: ExpectedVersion.exact(0) }),
        "EventStoreError"
      )
      yield* expectVersion(id, 2)
      // The fresh ids were not written: they append fine now.
      expect((yield* store.append(aggregateType, id, fresh)).version).toBe(4)
    })
  )

  test(
    "a retry with the same ids in another order fails with EventStoreError",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const id = unique("account")
      const events = depositsWithIds(2)
      yield* store.append(aggregateType, id, events, { expectedVersion: ExpectedVersion.exact(0) })
      yield* expectFailure(
        store.append(aggregateType, id, [events[1]!, events[0]!], { expectedVersion: ExpectedVersion.exact(0) }),
        "EventStoreError"
      )
      yield* expectVersion(id, 2)
    })
  )

  test(
    "the same event id twice in one append fails with EventStoreError and writes nothing",
    (store) => Effect.gen(function*() {
      const id = unique("account")
      const eventId = unique("event")
      yield* expectFailure(
        store.append(unique("Account"), id, [deposit(1, { eventId }), deposit(2, { eventId })]),
        "EventStoreError"
      )
      yield* expectVersion(id, 0)
    })
  )

  test(
    "save with fixed eventIds, retried, is idempotent",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const pending = Aggregate.applyAll(Aggregate.empty(account, unique("account")), [
        new Opened({ owner: "Ada" }),
        new Deposited({ amount: 5 })
      ])
      const eventIds = [unique("event"), unique("event")]
      const saved = yield* store.save(pending, { eventIds })
      const retried = yield* store.save(pending, { eventIds })
      expect(retried.version).toBe(2)
      expect(retried.uncommittedEvents).toEqual([])
      expect(retried.state).toEqual(saved.state)
      expect(idsOf(yield* store.loadEvents(pending.id))).toEqual(eventIds)

      const next = Aggregate.apply(saved, new Withdrawn({ amount: 1 }))
      const nextIds = [unique("event")]
      yield* store.save(next, { eventIds: nextIds })
      yield* store.save(next, { eventIds: nextIds })
      yield* store.save(pending, { eventIds })
      expect(idsOf(yield* store.loadEvents(pending.id))).toEqual([...eventIds, ...nextIds])
      expect(Option.getOrThrow(yield* store.load(account, pending.id)).state.balance).toBe(4)
    })
  )

  test(
    "save with a number of eventIds other than its uncommitted events fails with EventStoreError",
    (store) => Effect.gen(function*() {
      const pending = Aggregate.applyAll(Aggregate.empty(makeAccount(), unique("account")), [
        new Opened({ owner: "Ada" }),
        new Deposited({ amount: 5 })
      ])
      yield* expectFailure(store.save(pending, { eventIds: [unique("event")] }), "EventStoreError")
      yield* expectFailure(
        store.save(pending, { eventIds: [unique("event"), unique("event"), unique("event")] }),
        "EventStoreError"
      )
      yield* expectVersion(pending.id, 0)
    })
  )
}
