/** Event ids, event versions, timestamps and metadata are stored as given. */
import { expect } from "@effect/vitest"
import { Aggregate, type Event } from "@eventuali/core"
import { Effect, TestClock } from "effect"
import {
  collect,
  Deposited,
  deposit,
  idsOf,
  makeAccount,
  Opened,
  type Test,
  unique,
  Withdrawn
} from "./fixtures.js"

const fullMetadata: Event.EventMetadataInput = {
  correlationId: unique("correlation"),
  causationId: unique("causation"),
  userId: "user-Zoë-🎉",
  headers: { tenant: "acme", "x-trace": "00-abc-01", "ünïcode-kéy": "値 🎉", empty: "" }
}

/** The fields a reader must get back unchanged, as given to append. */
const asWritten = (event: Event.EventEnvelope) => ({
  eventId: event.eventId,
  eventType: event.eventType,
  eventVersion: event.eventVersion,
  timestamp: event.timestamp.toISOString(),
  metadata: event.metadata,
  data: event.data
})

export const envelopes = (test: Test): void => {
  test(
    "append keeps event ids, event versions, timestamps and metadata unchanged, on every read",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const id = unique("account")
      const events: ReadonlyArray<Event.NewEvent> = [
        deposit(1, {
          eventId: unique("event"),
          eventVersion: 3,
          timestamp: new Date("1999-12-31T23:59:59.999Z"),
          metadata: fullMetadata
        }),
        deposit(2, { eventId: unique("event"), timestamp: new Date(Date.UTC(2038, 0, 19, 3, 14, 8, 1)) }),
        deposit(3, { eventId: unique("event"), eventVersion: 2, metadata: { userId: "only-a-user" } }),
        deposit(4, { eventId: unique("event"), metadata: { headers: {} } })
      ]
      const result = yield* store.append(aggregateType, id, events)

      const expected = [
        {
          eventId: events[0]!.eventId,
          eventType: "Deposited",
          eventVersion: 3,
          timestamp: "1999-12-31T23:59:59.999Z",
          metadata: fullMetadata,
          data: { amount: 1 }
        },
        {
          eventId: events[1]!.eventId,
          eventType: "Deposited",
          eventVersion: 1,
          timestamp: "2038-01-19T03:14:08.001Z",
          metadata: { headers: {} },
          data: { amount: 2 }
        },
        {
          eventId: events[2]!.eventId,
          eventType: "Deposited",
          eventVersion: 2,
          timestamp: result.events[2]!.timestamp.toISOString(),
          metadata: { userId: "only-a-user", headers: {} },
          data: { amount: 3 }
        },
        {
          eventId: events[3]!.eventId,
          eventType: "Deposited",
          eventVersion: 1,
          timestamp: result.events[3]!.timestamp.toISOString(),
          metadata: { headers: {} },
          data: { amount: 4 }
        }
      ]
      expect(result.events.map(asWritten)).toEqual(expected)
      expect((yield* store.loadEvents(id)).map(asWritten)).toEqual(expected)
      expect((yield* store.loadEventsByType(aggregateType)).map(asWritten)).toEqual(expected)
      const streamed = yield* collect(store.streamEventsByType(aggregateType, { batchSize: 3 }))
      expect(streamed.map(asWritten)).toEqual(expected)
    })
  )

  test(
    "the events append returns are the events reads return",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const id = unique("account")
      const result = yield* store.append(aggregateType, id, [
        deposit(1, { metadata: fullMetadata, eventVersion: 2 }),
        deposit(2)
      ])
      expect(yield* store.loadEvents(id)).toEqual(result.events)
      expect(yield* store.loadEventsByType(aggregateType)).toEqual(result.events)
    })
  )

  test(
    "append without ids, versions or timestamps gives distinct ids, version 1 and the current time",
    (store) => Effect.gen(function*() {
      const now = Date.UTC(2030, 5, 15, 12, 30, 45, 123)
      yield* TestClock.setTime(now)
      const id = unique("account")
      yield* store.append(unique("Account"), id, [deposit(1), deposit(2), deposit(3)])

      const events = yield* store.loadEvents(id)
      expect(new Set(idsOf(events)).size).toBe(3)
      for (const event of events) {
        expect(event.eventId.length).toBeGreaterThan(0)
        expect(event.eventVersion).toBe(1)
        expect(event.timestamp.getTime()).toBe(now)
        expect(event.metadata).toEqual({ headers: {} })
      }
    })
  )

  test(
    "save stamps the metadata of its options and the current time on every event",
    (store) => Effect.gen(function*() {
      const now = Date.UTC(2031, 11, 31, 23, 59, 59, 999)
      yield* TestClock.setTime(now)
      const pending = Aggregate.applyAll(Aggregate.empty(makeAccount(), unique("account")), [
        new Opened({ owner: "Ada" }),
        new Deposited({ amount: 3 }),
        new Withdrawn({ amount: 1 })
      ])
      yield* store.save(pending, fullMetadata)

      const events = yield* store.loadEvents(pending.id)
      expect(events).toHaveLength(3)
      expect(new Set(idsOf(events)).size).toBe(3)
      for (const event of events) {
        expect(event.metadata).toEqual(fullMetadata)
        expect(event.timestamp.getTime()).toBe(now)
        expect(event.eventVersion).toBe(1)
      }
    })
  )

  test(
    "save without options stores empty metadata",
    (store) => Effect.gen(function*() {
      const pending = Aggregate.apply(Aggregate.empty(makeAccount(), unique("account")), new Opened({ owner: "Ada" }))
      yield* store.save(pending)
      const [event] = yield* store.loadEvents(pending.id)
      expect(event!.metadata).toEqual({ headers: {} })
    })
  )
}
