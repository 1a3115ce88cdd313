import { describe, expect, it } from "@effect/vitest"
import { Effect, Fiber, Schedule, TestClock } from "effect"
import { EventStore } from "../src/EventStore.js"
import * as InMemoryEventStore from "../src/InMemoryEventStore.js"
import * as Retention from "../src/Retention.js"

const deposits = (count: number) => Array.from({ length: count }, (_, i) => ({ eventType: "Deposited", data: { amount: i + 1 } }))
const versions = (store: EventStore["Type"], id: string) =>
  Effect.map(store.loadEvents(id), (events) => events.map((event) => event.aggregateVersion))

describe("Retention.run", () => {
  it.scoped("applies the policies at once, then on its schedule (test clock)", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* store.append("Account", "a", deposits(5))
      yield* store.append("Order", "o", deposits(5))
      yield* Retention.run([{ aggregateType: "Account", maxCount: 3 }, { aggregateType: "Order", maxAge: "1 day" }], {
        schedule: Schedule.spaced("1 hour")
      })
      yield* TestClock.adjust("1 millis")
      expect(yield* versions(store, "a")).toEqual([3, 4, 5])
      expect(yield* versions(store, "o")).toEqual([1, 2, 3, 4, 5])
      yield* store.append("Account", "a", deposits(2))
      yield* TestClock.adjust("25 hours")
      // The Order events are older than a day now: the newest stays.
      expect(yield* versions(store, "a")).toEqual([5, 6, 7])
      expect(yield* versions(store, "o")).toEqual([5])
    }).pipe(Effect.provide(InMemoryEventStore.layer)))

  it.scoped("refuses a bad policy at once, before any pass", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* store.append("Account", "a", deposits(3))
      for (const policy of [{ aggregateType: "Account", maxCount: 0 }, { aggregateType: "Account" }, { aggregateType: "Account", maxAge: -5 }]) {
        const failure = yield* Effect.flip(Retention.run([{ aggregateType: "Account", maxCount: 1 }, policy]))
        expect(failure._tag).toBe("EventStoreError")
      }
      // A batch size no pass can use is refused at once too, not by every pass in the background.
      for (const batchSize of [0, -1, 1.5]) {
        const failure = yield* Effect.flip(Retention.run([{ aggregateType: "Account", maxCount: 1 }], { batchSize }))
        expect(failure.message).toBe(`The retention batch size must be a positive integer, got ${batchSize}`)
      }
      yield* TestClock.adjust("2 hours")
      expect(yield* versions(store, "a")).toEqual([1, 2, 3])
    }).pipe(Effect.provide(InMemoryEventStore.layer)))

  it.scoped("runOnce reports what each policy removed", () =>
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* store.append("Account", "a", deposits(4))
      yield* store.append("Account", "b", deposits(1))
      const fiber = yield* Effect.fork(Retention.runOnce([{ aggregateType: "Account", maxCount: 1 }], { batchSize: 2 }))
      expect(yield* Fiber.join(fiber)).toEqual([{ aggregateType: "Account", streams: 2, truncatedStreams: 1, removedEvents: 3 }])
    }).pipe(Effect.provide(InMemoryEventStore.layer)))
})
