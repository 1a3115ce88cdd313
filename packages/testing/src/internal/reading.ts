/** Reads: loadEvents, loadEventsByType, the streams and getAggregateVersion. */
import { expect } from "@effect/vitest"
import { EventStore, ExpectedVersion } from "@eventuali/core"
import { Effect, Option } from "effect"
import {
  collect,
  deposit,
  expectFailure,
  expectStrictlyIncreasing,
  idsOf,
  makeAccount,
  openAccount,
  type Test,
  unique
} from "./fixtures.js"

/**
 * Appends `count` events round-robin to three aggregates of `aggregateType`, interleaved with
 * events of a decoy type; returns the ids of the `aggregateType` events in append order.
 */
const appendInterleaved = (aggregateType: string, count: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const ids = [unique("a"), unique("b"), unique("c")]
    const decoyType = unique("Decoy")
    const eventIds: Array<string> = []
    for (let i = 0; i < count; i++) {
      const eventId = unique("event")
      yield* store.append(aggregateType, ids[i % ids.length]!, [deposit(i + 1, { eventId })])
      yield* store.append(decoyType, unique("decoy"), [deposit(i + 1)])
      eventIds.push(eventId)
    }
    return eventIds
  })

export const reading = (test: Test): void => {
  test(
    "loadEvents returns one aggregate's events, ascending by version",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const id = unique("account")
      const neighbour = unique("account")
      for (let i = 1; i <= 4; i++) {
        yield* store.append(account.type, id, [deposit(i)])
        yield* store.append(account.type, neighbour, [deposit(100 + i)])
      }
      const events = yield* store.loadEvents(id)
      expect(events.map((event) => event.aggregateVersion)).toEqual([1, 2, 3, 4])
      expect(events.map((event) => event.data)).toEqual([1, 2, 3, 4].map((amount) => ({ amount })))
      for (const event of events) {
        expect(event.aggregateId).toBe(id)
        expect(event.aggregateType).toBe(account.type)
      }
    })
  )

  test(
    "loadEvents' fromVersion is exclusive",
    (store) => Effect.gen(function*() {
      const saved = yield* openAccount(makeAccount(), [1, 2, 3, 4])
      const versionsFrom = (fromVersion: number) =>
        Effect.map(store.loadEvents(saved.id, fromVersion), (events) => events.map((event) => event.aggregateVersion))
      expect(yield* versionsFrom(0)).toEqual([1, 2, 3, 4, 5])
      expect(yield* versionsFrom(1)).toEqual([2, 3, 4, 5])
      expect(yield* versionsFrom(3)).toEqual([4, 5])
      expect(yield* versionsFrom(5)).toEqual([])
      expect(yield* versionsFrom(9)).toEqual([])
    })
  )

  test(
    "readEvents called without options (an untyped caller) reads the first page, as readEvents({}) does",
    (store) => Effect.gen(function*() {
      yield* store.append(unique("Account"), unique("account"), [deposit(1)])
      const withoutOptions = store.readEvents as (options?: EventStore.ReadEventsOptions) => ReturnType<EventStore.Service["readEvents"]>
      expect(idsOf(yield* Effect.suspend(() => withoutOptions()))).toEqual(idsOf(yield* store.readEvents({})))
    })
  )

  test(
    "loadEvents of a missing aggregate is empty",
    (store) => Effect.gen(function*() {
      expect(yield* store.loadEvents(unique("missing"))).toEqual([])
      expect(yield* store.loadEvents(unique("missing"), 3)).toEqual([])
    })
  )

  test(
    "an envelope names its aggregate, event type and version; eventVersion defaults to 1; position is a bigint",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const saved = yield* openAccount(account, [9])
      const [opened, deposited] = yield* store.loadEvents(saved.id)
      expect(opened).toMatchObject({
        eventType: "Opened",
        eventVersion: 1,
        aggregateId: saved.id,
        aggregateType: account.type,
        aggregateVersion: 1,
        data: { owner: "Ada" }
      })
      expect(deposited).toMatchObject({ eventType: "Deposited", aggregateVersion: 2, data: { amount: 9 } })
      expect(typeof opened!.position).toBe("bigint")
      expect(deposited!.position > opened!.position).toBe(true)
      expect(opened!.timestamp).toBeInstanceOf(Date)
      expect(typeof opened!.eventId).toBe("string")
      expect(opened!.eventId).not.toBe(deposited!.eventId)
    })
  )

  test(
    "loadEventsByType returns exactly that type's events, in strictly increasing global position (commit) order",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const appended = yield* appendInterleaved(aggregateType, 9)
      const events = yield* store.loadEventsByType(aggregateType)
      expect(idsOf(events)).toEqual(appended)
      for (const event of events) expect(event.aggregateType).toBe(aggregateType)
      expectStrictlyIncreasing(events.map((event) => event.position))
    })
  )

  test(
    "loadEventsByType's fromPosition is exclusive, as a bigint or a number",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const appended = yield* appendInterleaved(aggregateType, 6)
      const all = yield* store.loadEventsByType(aggregateType)
      const third = all[2]!.position

      expect(idsOf(yield* store.loadEventsByType(aggregateType, third))).toEqual(appended.slice(3))
      expect(idsOf(yield* store.loadEventsByType(aggregateType, Number(third)))).toEqual(appended.slice(3))
      expect(idsOf(yield* store.loadEventsByType(aggregateType, third - 1n))).toEqual(appended.slice(2))
      expect(idsOf(yield* store.loadEventsByType(aggregateType, 0n))).toEqual(appended)
      expect(idsOf(yield* store.loadEventsByType(aggregateType, 0))).toEqual(appended)
      expect(yield* store.loadEventsByType(aggregateType, all[5]!.position)).toEqual([])
    })
  )

  test(
    "loadEventsByType of a type without events is empty",
    (store) => Effect.gen(function*() {
      expect(yield* store.loadEventsByType(unique("Nothing"))).toEqual([])
    })
  )

  test(
    "streamEventsByType pages with a small batch size and gives exactly what loadEventsByType gives",
    (store) => Effect.gen(function*() {
      // 10 events do not fill the last page of 3; 9 fill it exactly, so an empty page follows.
      for (const count of [10, 9, 1, 0]) {
        const aggregateType = unique("Account")
        yield* appendInterleaved(aggregateType, count)
        const loaded = yield* store.loadEventsByType(aggregateType)
        expect(loaded).toHaveLength(count)
        for (const batchSize of [1, 3, 1000]) {
          expect(yield* collect(store.streamEventsByType(aggregateType, { batchSize }))).toEqual(loaded)
        }
        expect(yield* collect(store.streamEventsByType(aggregateType))).toEqual(loaded)
      }
    })
  )

  test(
    "streamEventsByType starts after fromPosition, as a bigint or a number",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      yield* appendInterleaved(aggregateType, 8)
      const loaded = yield* store.loadEventsByType(aggregateType)
      const fromPosition = loaded[3]!.position
      const expected = yield* store.loadEventsByType(aggregateType, fromPosition)
      expect(expected).toEqual(loaded.slice(4))
      expect(yield* collect(store.streamEventsByType(aggregateType, { fromPosition, batchSize: 3 }))).toEqual(expected)
      expect(
        yield* collect(store.streamEventsByType(aggregateType, { fromPosition: Number(fromPosition), batchSize: 3 }))
      ).toEqual(expected)
    })
  )

  test(
    "streamAll pages over every aggregate type in global position order",
    (store) => Effect.gen(function*() {
      const typeA = unique("Account")
      const typeB = unique("Account")
      const first = yield* store.append(typeA, unique("a"), [deposit(1)])
      // Other writers may share the store: read from just before our first event and keep ours.
      const fromPosition = first.events[0]!.position - 1n
      for (let i = 0; i < 5; i++) {
        yield* store.append(typeB, unique("b"), [deposit(i + 1), deposit(i + 2)])
        yield* store.append(typeA, unique("a"), [deposit(i + 1)])
      }

      const streamed = yield* collect(store.streamAll({ fromPosition, batchSize: 3 }))
      expectStrictlyIncreasing(streamed.map((event) => event.position))
      expect(streamed[0]).toEqual(first.events[0])
      const ours = streamed.filter((event) => event.aggregateType === typeA || event.aggregateType === typeB)
      expect(ours).toHaveLength(16)
      expect(ours.filter((event) => event.aggregateType === typeA)).toEqual(yield* store.loadEventsByType(typeA))
      expect(ours.filter((event) => event.aggregateType === typeB)).toEqual(yield* store.loadEventsByType(typeB))

      const unpaged = yield* collect(store.streamAll({ fromPosition }))
      expect(unpaged.slice(0, streamed.length)).toEqual(streamed)
    })
  )

  test(
    "streamAll keeps only the aggregate and event types it is given, paged, in position order",
    (store) => Effect.gen(function*() {
      const [typeA, typeB, decoyType] = [unique("Account"), unique("Account"), unique("Decoy")]
      const [noted, flagged] = [unique("Noted"), unique("Flagged")]
      const first = yield* store.append(typeA, unique("a"), [deposit(1)])
      const fromPosition = first.events[0]!.position - 1n
      for (let i = 0; i < 4; i++) {
        yield* store.append(typeA, unique("a"), [deposit(i + 1), { eventType: noted, data: { i } }])
        yield* store.append(decoyType, unique("decoy"), [deposit(i + 1), { eventType: noted, data: { i } }])
        yield* store.append(typeB, unique("b"), [{ eventType: flagged, data: { i } }])
      }
      const everything = yield* collect(store.streamAll({ fromPosition }))
      const streamed = (options: EventStore.StreamAllOptions) =>
        collect(store.streamAll({ fromPosition, batchSize: 2, ...options }))

      const byAggregateType = yield* streamed({ aggregateTypes: [typeA, typeB] })
      expectStrictlyIncreasing(byAggregateType.map((event) => event.position))
      expect(byAggregateType).toEqual(everything.filter((event) => event.aggregateType === typeA || event.aggregateType === typeB))
      expect(byAggregateType).toHaveLength(13)

      const byEventType = yield* streamed({ eventTypes: [noted, flagged] })
      expect(byEventType).toEqual(everything.filter((event) => event.eventType === noted || event.eventType === flagged))
      expect(byEventType).toHaveLength(12)

      const both = yield* streamed({ aggregateTypes: [typeA], eventTypes: [noted] })
      expect(both).toEqual(everything.filter((event) => event.aggregateType === typeA && event.eventType === noted))
      expect(both).toHaveLength(4)

      expect(yield* streamed({ aggregateTypes: [unique("Nothing")] })).toEqual([])
      yield* expectFailure(collect(store.streamAll({ aggregateTypes: [""] })), "EventStoreError")
      yield* expectFailure(collect(store.streamAll({ eventTypes: ["\u0000"] })), "EventStoreError")
    })
  )

  test(
    "getAggregateVersion is None for a missing aggregate and the current version after saves and appends",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      expect(yield* store.getAggregateVersion(unique("missing"))).toEqual(Option.none())
      const saved = yield* openAccount(account, [1, 2])
      expect(yield* store.getAggregateVersion(saved.id)).toEqual(Option.some(3))
      yield* store.append(account.type, saved.id, [deposit(3)], { expectedVersion: ExpectedVersion.exact(3) })
      expect(yield* store.getAggregateVersion(saved.id)).toEqual(Option.some(4))
    })
  )
}
