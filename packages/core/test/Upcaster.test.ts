import { describe, expect, it } from "@effect/vitest"
import { Aggregate, EventStore, InMemoryEventStore, Upcaster } from "@eventuali/core"
import { Effect, Option, Schema } from "effect"

const PlacedV1 = Schema.Struct({ total: Schema.Number })
const PlacedV2 = Schema.Struct({ totalCents: Schema.Number })

class OrderPlaced extends Schema.TaggedClass<OrderPlaced>()("OrderPlaced", {
  totalCents: Schema.Number,
  currency: Schema.String
}) {}

// Written as plain Schema transformations (with their unused encode side).
const OrderPlacedV3 = Upcaster.versioned(OrderPlaced, [
  Schema.transform(PlacedV1, PlacedV2, {
    strict: true,
    decode: ({ total }) => ({ totalCents: Math.round(total * 100) }),
    encode: ({ totalCents }) => ({ total: totalCents / 100 })
  }),
  Upcaster.make(PlacedV2, (v2) => ({ ...v2, currency: "EUR" }))
])

const Order = Aggregate.make({
  type: "Order",
  events: [OrderPlacedV3],
  initialState: Option.none<OrderPlaced>(),
  evolve: (_, event) => Option.some(event)
})

describe("Upcaster", () => {
  it("versioned declares version upcasters + 1; other schemas are version 1", () => {
    expect(Upcaster.currentVersion(OrderPlacedV3)).toBe(3)
    expect(Upcaster.currentVersion(OrderPlaced)).toBe(1)
    expect(Upcaster.currentVersion(Upcaster.versioned(OrderPlaced, [Upcaster.make(PlacedV2, (v2) => ({ ...v2, currency: "USD" }))]))).toBe(2)
  })

  it("a versioned schema decodes and encodes exactly like the schema it versions", () => {
    const placed = new OrderPlaced({ totalCents: 1999, currency: "EUR" })
    const encoded = Schema.encodeSync(OrderPlacedV3)(placed)
    expect(encoded).toEqual(Schema.encodeSync(OrderPlaced)(placed))
    expect(Schema.decodeUnknownSync(OrderPlacedV3)(encoded)).toStrictEqual(placed)
    expect(Aggregate.tagOf(OrderPlacedV3)).toBe("OrderPlaced")
  })

  it("the compiler checks that the last upcaster produces the current stored payload", () => {
    // @ts-expect-error the last upcaster produces no `currency`
    Upcaster.versioned(OrderPlaced, [Upcaster.make(PlacedV1, ({ total }) => ({ totalCents: total * 100 }))])
    // @ts-expect-error at least one upcaster
    Upcaster.versioned(OrderPlaced, [])
  })

  it.effect("hand-written transformations chain with Upcaster.make: version 1 loads as version 3", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("Order", "order-1", [{ eventType: "OrderPlaced", eventVersion: 1, data: { total: 19.99 } }])
      const order = yield* store.loadOrFail(Order, "order-1")
      expect(order.state).toEqual(Option.some(new OrderPlaced({ totalCents: 1999, currency: "EUR" })))
    }).pipe(Effect.provide(InMemoryEventStore.layer)))
})
