/** Subscriptions: catch-up then live, filters, checkpoints, start positions, unsubscribing. */
import { expect } from "@effect/vitest"
import { Checkpoint } from "@eventuali/core"
import { Effect, Fiber, Ref, Schema, Stream } from "effect"
import { appendEach, collect, expectFailure, idsOf, type Test, unique } from "./fixtures.js"

/** Appends until `fiber` is done (each append wakes the subscriber), at most `limit` times. */
const appendUntilDone = <A, E>(aggregateType: string, fiber: Fiber.Fiber<A, E>, limit = 200) =>
  Effect.gen(function*() {
    const ids: Array<string> = []
    for (let i = 0; i < limit; i++) {
      if ((yield* Fiber.poll(fiber))._tag === "Some") break
      ids.push(...(yield* appendEach(aggregateType, [i + 1])))
      yield* Effect.yieldNow()
    }
    return ids
  })

export const subscriptions = (test: Test): void => {
  test(
    "catch-up then live: the stored events, then new ones as they commit, with no gap or duplicate at the seam",
    (store) =>
      Effect.gen(function*() {
        const type = unique("Account")
        const stored = yield* appendEach(type, [1, 2, 3])
        const subscriber = yield* store.subscribe({ aggregateTypes: [type], batchSize: 2 }).pipe(
          Stream.take(8),
          collect,
          Effect.fork
        )
        const live = yield* appendEach(type, [4, 5, 6, 7, 8])
        const received = yield* Fiber.join(subscriber)
        expect(idsOf(received)).toEqual([...stored, ...live])
        for (const event of received) expect(event.checkpoint).toBe(Checkpoint.fromPosition(event.position))
      })
  )

  test(
    "aggregate type and event type filters deliver only matching events",
    (store) =>
      Effect.gen(function*() {
        const [typeA, typeB, typeC] = [unique("A"), unique("B"), unique("C")]
        const a = yield* appendEach(typeA, [1, 2])
        const aWithdrawn = yield* appendEach(typeA, [3], "Withdrawn")
        const b = yield* appendEach(typeB, [4])
        yield* appendEach(typeB, [5], "Withdrawn")
        yield* appendEach(typeC, [6, 7])
        const byType = yield* collect(store.subscribe({ aggregateTypes: [typeA, typeB] }).pipe(Stream.take(5)))
        expect(new Set(byType.map((event) => event.aggregateType))).toEqual(new Set([typeA, typeB]))
        expect(byType).toHaveLength(5)
        const deposits = yield* collect(
          store.subscribe({ aggregateTypes: [typeA, typeB, typeC], eventTypes: ["Deposited"] }).pipe(Stream.take(5))
        )
        expect(idsOf(deposits).slice(0, 3)).toEqual([...a, ...b])
        expect(deposits.every((event) => event.eventType === "Deposited")).toBe(true)
        const withdrawals = yield* collect(
          store.subscribe({ aggregateTypes: [typeA], eventTypes: ["Withdrawn", "Closed"] }).pipe(Stream.take(1))
        )
        expect(idsOf(withdrawals)).toEqual(aWithdrawn)
      })
  )

  test(
    "a checkpoint resumes right after the event that carried it, also after a round trip through JSON",
    (store) =>
      Effect.gen(function*() {
        const type = unique("Account")
        const ids = yield* appendEach(type, [1, 2, 3, 4, 5])
        const firstTwo = yield* collect(store.subscribe({ aggregateTypes: [type] }).pipe(Stream.take(2)))
        const checkpoint = JSON.parse(JSON.stringify({ at: firstTwo[1]!.checkpoint })).at as Checkpoint.Checkpoint
        const rest = yield* collect(store.subscribe({ aggregateTypes: [type], from: checkpoint }).pipe(Stream.take(3)))
        expect(idsOf(rest)).toEqual(ids.slice(2))
        const fromCurrent = yield* store.currentCheckpoint
        const fiber = yield* store.subscribe({ aggregateTypes: [type], from: fromCurrent }).pipe(Stream.take(1), collect, Effect.fork)
        const later = yield* appendEach(type, [6])
        expect(idsOf(yield* Fiber.join(fiber))).toEqual(later)
      })
  )

  test(
    "from \"end\" delivers only events committed after the subscription started",
    (store) =>
      Effect.gen(function*() {
        const type = unique("Account")
        const before = yield* appendEach(type, [1, 2])
        const fiber = yield* store.subscribe({ aggregateTypes: [type], from: "end" }).pipe(Stream.take(1), collect, Effect.fork)
        const after = yield* appendUntilDone(type, fiber)
        const [first] = yield* Fiber.join(fiber)
        expect(before).not.toContain(first!.eventId)
        expect(after).toContain(first!.eventId)
      })
  )

  test(
    "from \"beginning\" (the default) starts before every event",
    (store) =>
      Effect.gen(function*() {
        const type = unique("Account")
        const ids = yield* appendEach(type, [1, 2])
        expect(idsOf(yield* collect(store.subscribe({ aggregateTypes: [type], from: "beginning" }).pipe(Stream.take(2))))).toEqual(ids)
        expect(idsOf(yield* collect(store.subscribe({ aggregateTypes: [type] }).pipe(Stream.take(2))))).toEqual(ids)
      })
  )

  test(
    "ending the subscription's scope stops delivery",
    (store) =>
      Effect.gen(function*() {
        const type = unique("Account")
        const delivered = yield* Ref.make(0)
        const fiber = yield* store.subscribe({ aggregateTypes: [type] }).pipe(
          Stream.runForEach(() => Ref.update(delivered, (n) => n + 1)),
          Effect.fork
        )
        yield* appendEach(type, [1])
        while ((yield* Ref.get(delivered)) < 1) yield* Effect.yieldNow()
        yield* Fiber.interrupt(fiber)
        yield* appendEach(type, [2, 3])
        for (let i = 0; i < 20; i++) yield* Effect.yieldNow()
        expect(yield* Ref.get(delivered)).toBe(1)
      })
  )

  test(
    "registered event types arrive decoded",
    (store) =>
      Effect.gen(function*() {
        const eventType = unique("Deposited")
        class Deposit extends Schema.TaggedClass<Deposit>()("Deposit", { amount: Schema.Number }) {}
        yield* store.registerEventClass(eventType, Deposit)
        const type = unique("Account")
        yield* appendEach(type, [42], eventType)
        const [event] = yield* collect(store.subscribe({ aggregateTypes: [type] }).pipe(Stream.take(1)))
        expect(event!.data).toBeInstanceOf(Deposit)
        expect(event!.data).toEqual(new Deposit({ amount: 42 }))
      })
  )

  test(
    "a string that is not a checkpoint, a bad batch size or a bad filter fails with EventStoreError",
    (store) =>
      Effect.gen(function*() {
        yield* expectFailure(collect(store.subscribe({ from: "not-a-checkpoint" as Checkpoint.Checkpoint })), "EventStoreError")
        yield* expectFailure(collect(store.subscribe({ batchSize: 0 })), "EventStoreError")
        yield* expectFailure(collect(store.subscribe({ aggregateTypes: [""] })), "EventStoreError")
        yield* expectFailure(collect(store.subscribe({ eventTypes: ["\u0000"] })), "EventStoreError")
      })
  )
}
