/**
 * A small shop, written through the library by the tests: orders with a fold the UI can show,
 * customers, a conversation linked by correlation and causation ids, and a projection checkpoint.
 */
import { Effect, Option, Schema } from "effect"
import { Aggregate, EventStore, ExpectedVersion, ProjectionStore } from "eventuali"

export class OrderPlaced extends Schema.TaggedClass<OrderPlaced>()("OrderPlaced", { customer: Schema.String, total: Schema.Number }) {}
export class ItemAdded extends Schema.TaggedClass<ItemAdded>()("ItemAdded", { sku: Schema.String, quantity: Schema.Number }) {}
export class OrderShipped extends Schema.TaggedClass<OrderShipped>()("OrderShipped", { carrier: Schema.String }) {}

export interface OrderState {
  readonly status: "new" | "placed" | "shipped"
  readonly customer: string
  readonly items: Readonly<Record<string, number>>
  readonly total: number
}

export const Order = Aggregate.make({
  type: "Order",
  events: [OrderPlaced, ItemAdded, OrderShipped],
  initialState: { status: "new", customer: "", items: {}, total: 0 } as OrderState,
  evolve: (state: OrderState, event: OrderPlaced | ItemAdded | OrderShipped): OrderState => {
    switch (event._tag) {
      case "OrderPlaced":
        return { ...state, status: "placed", customer: event.customer, total: event.total }
      case "ItemAdded":
        return { ...state, items: { ...state.items, [event.sku]: (state.items[event.sku] ?? 0) + event.quantity } }
      case "OrderShipped":
        return { ...state, status: "shipped" }
    }
  }
})

/** What the seed wrote, for the tests to look for. */
export interface Seeded {
  readonly orderId: string
  readonly customerId: string
  /** The event the conversation started with (OrderPlaced of `orderId`). */
  readonly rootEventId: string
  /** The event it caused (CustomerNotified of `customerId`). */
  readonly effectEventId: string
  readonly correlationId: string
}

/**
 * Seeds a store: `Order` o-1001 (placed, two items, shipped), customer c-ada (registered, then
 * notified because of the order), 40 more customers to page through, a checkpoint.
 */
export const seed = (store: EventStore.Service) =>
  Effect.gen(function*() {
    const correlationId = "checkout-7f3a"
    const placed = yield* store.save(Aggregate.applyAll(Aggregate.empty(Order, "o-1001"), [
      new OrderPlaced({ customer: "c-ada", total: 42.5 }),
      new ItemAdded({ sku: "tea-earl-grey", quantity: 2 })
    ]), { correlationId })
    void placed
    const orderEvents = yield* store.loadEvents("o-1001")
    const root = orderEvents[0]!
    yield* store.append("Customer", "c-ada", [{ eventType: "CustomerRegistered", data: { name: "Ada Lovelace", email: "ada@example.com" } }], {
      expectedVersion: ExpectedVersion.noStream
    })
    // As a process manager reacting to the order would write it (Causation.causedBy(root) in a CommandHandler).
    const notified = yield* store.append("Customer", "c-ada", [{
      eventType: "CustomerNotified",
      data: { about: "o-1001", channel: "email" },
      metadata: { correlationId, causationId: root.eventId }
    }], { expectedVersion: ExpectedVersion.any })
    const loaded = Option.getOrThrow(yield* store.load(Order, "o-1001"))
    yield* store.save(Aggregate.applyAll(loaded, [new ItemAdded({ sku: "scone", quantity: 4 }), new OrderShipped({ carrier: "Royal Mail" })]))
    for (let index = 0; index < 40; index++) {
      yield* store.append("Customer", `c-${String(index).padStart(3, "0")}`, [{ eventType: "CustomerRegistered", data: { name: `Customer ${index}`, email: `c${index}@example.com` } }])
    }
    const projections = yield* ProjectionStore.ProjectionStore
    yield* projections.withCheckpoint("order-summaries", () => Effect.succeed([undefined, Option.some(root.position)] as const))
    return {
      orderId: "o-1001",
      customerId: "c-ada",
      rootEventId: root.eventId,
      effectEventId: notified.events[0]!.eventId,
      correlationId
    } satisfies Seeded
  })
