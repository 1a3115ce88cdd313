/** The event registry: registered schemas decode reads, aliases work, unregistered types stay raw. */
import { expect } from "@effect/vitest"
import { BigDecimal, Effect, Option, Schema } from "effect"
import {
  collect,
  Deposited,
  deposit,
  expectFailure,
  makeAccount,
  type Test,
  unique
} from "./fixtures.js"

const order = { customerId: "customer-1", amount: "1234.50" }

/** An event class under an event type of its own, for registry tests. */
const makeOrderCreated = () => {
  class OrderCreated extends Schema.TaggedClass<OrderCreated>()(unique("OrderCreated"), {
    customerId: Schema.String,
    amount: Schema.BigDecimal
  }) {}
  return OrderCreated
}


export const registry = (test: Test): void => {
  test(
    "a registered schema decodes loadEvents, loadEventsByType and the streams into its class",
    (store) => Effect.gen(function*() {
      const OrderCreated = makeOrderCreated()
      const aggregateType = unique("Order")
      const id = unique("order")
      yield* store.registerEventClass(OrderCreated._tag, OrderCreated)
      const appended = yield* store.append(aggregateType, id, [
        { eventType: OrderCreated._tag, data: order },
        { eventType: OrderCreated._tag, data: order }
      ])
      const reads = [
        yield* store.loadEvents(id),
        yield* store.loadEventsByType(aggregateType),
        yield* collect(store.streamEventsByType(aggregateType, { batchSize: 1 })),
        (yield* collect(store.streamAll({ fromPosition: appended.events[0]!.position - 1n, batchSize: 1 })))
          .filter((event) => event.aggregateType === aggregateType)
      ]
      for (const events of reads) {
        expect(events).toHaveLength(2)
        for (const event of events) {
          expect(event.eventType).toBe(OrderCreated._tag)
          expect(event.data).toBeInstanceOf(OrderCreated)
          expect(event.data).toMatchObject({ _tag: OrderCreated._tag, customerId: "customer-1" })
          if (event.data instanceof OrderCreated) {
            expect(BigDecimal.equals(event.data.amount, BigDecimal.unsafeFromString("1234.5"))).toBe(true)
          }
        }
      }
    })
  )

  test(
    "an alias decodes with the schema registered under it, and the event keeps its stored type",
    (store) => Effect.gen(function*() {
      const OrderCreated = makeOrderCreated()
      const alias = unique("order.created")
      const id = unique("order")
      yield* store.registerEventClass(OrderCreated._tag, OrderCreated)
      yield* store.registerEventClass(alias, OrderCreated)
      yield* store.append(unique("Order"), id, [
        { eventType: alias, data: order },
        { eventType: OrderCreated._tag, data: order }
      ])

      const events = yield* store.loadEvents(id)
      expect(events.map((event) => event.eventType)).toEqual([alias, OrderCreated._tag])
      for (const event of events) expect(event.data).toBeInstanceOf(OrderCreated)
    })
  )

  test(
    "load folds events stored under a registered alias of one of the aggregate's events",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const alias = unique("account.deposited.v0")
      yield* store.registerEventClass(alias, Deposited)
      const id = unique("account")
      yield* store.append(account.type, id, [
        { eventType: "Opened", data: { owner: "Ada" } },
        { eventType: alias, data: { amount: 5 } },
        deposit(6)
      ])
      const loaded = Option.getOrThrow(yield* store.load(account, id))
      expect(loaded.version).toBe(3)
      expect(loaded.state).toEqual({ owner: "Ada", balance: 11, movements: [5, 6] })
    })
  )

  test(
    "events of an unregistered type load with their raw JSON as data",
    (store) => Effect.gen(function*() {
      const OrderCreated = makeOrderCreated()
      const aggregateType = unique("Order")
      const id = unique("order")
      yield* store.append(aggregateType, id, [{ eventType: OrderCreated._tag, data: order }])
      for (const events of [yield* store.loadEvents(id), yield* store.loadEventsByType(aggregateType)]) {
        expect(events[0]!.data).not.toBeInstanceOf(OrderCreated)
        expect(events[0]!.data).toEqual(order)
      }
    })
  )

  test(
    "unregisterEventClass removes the schema and says whether one was registered",
    (store) => Effect.gen(function*() {
      const OrderCreated = makeOrderCreated()
      const id = unique("order")
      yield* store.append(unique("Order"), id, [{ eventType: OrderCreated._tag, data: order }])
      yield* store.registerEventClass(OrderCreated._tag, OrderCreated)
      expect((yield* store.loadEvents(id))[0]!.data).toBeInstanceOf(OrderCreated)

      expect(yield* store.unregisterEventClass(OrderCreated._tag)).toBe(true)
      expect((yield* store.getRegisteredEventClasses()).has(OrderCreated._tag)).toBe(false)
      const [event] = yield* store.loadEvents(id)
      expect(event!.data).not.toBeInstanceOf(OrderCreated)
      expect(event!.data).toEqual(order)
      expect(yield* store.unregisterEventClass(OrderCreated._tag)).toBe(false)
      expect(yield* store.unregisterEventClass(unique("NeverRegistered"))).toBe(false)
    })
  )

  test(
    "getRegisteredEventClasses returns a copy of the registrations",
    (store) => Effect.gen(function*() {
      const OrderCreated = makeOrderCreated()
      const alias = unique("order.created")
      yield* store.registerEventClass(OrderCreated._tag, OrderCreated)
      yield* store.registerEventClass(alias, OrderCreated)

      const snapshot = yield* store.getRegisteredEventClasses()
      expect(snapshot.get(OrderCreated._tag)).toBe(OrderCreated)
      expect(snapshot.get(alias)).toBe(OrderCreated)

      const later = unique("Later")
      yield* store.registerEventClass(later, OrderCreated)
      expect(snapshot.has(later)).toBe(false)

      // Changing the copy changes nothing in the store.
      if (snapshot instanceof Map) snapshot.delete(OrderCreated._tag)
      expect((yield* store.getRegisteredEventClasses()).get(OrderCreated._tag)).toBe(OrderCreated)
      expect((yield* store.getRegisteredEventClasses()).has(later)).toBe(true)
    })
  )

  test(
    "registering something that is not a Schema fails with EventStoreError and registers nothing",
    (store) => Effect.gen(function*() {
      class NotASchema {
        readonly amount = 1
      }
      const impostors: ReadonlyArray<unknown> = [
        {},
        { ast: "nope" },
        NotASchema,
        () => undefined,
        "OrderCreated",
        42,
        null,
        undefined
      ]
      for (const impostor of impostors) {
        const eventType = unique("Impostor")
        yield* expectFailure(
          store.registerEventClass(eventType, impostor as unknown as Schema.Schema.AnyNoContext),
          "EventStoreError"
        )
        expect((yield* store.getRegisteredEventClasses()).has(eventType)).toBe(false)
      }
    })
  )
}
