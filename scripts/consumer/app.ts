/**
 * A consumer program, type-checked and run against the packed tarballs by
 * scripts/consumer-check.mjs: an application that installed `eventuali`, one driver and `effect`
 * from npm. It saves and loads an aggregate on the store its first argument names and prints
 * one line that the check compares.
 */
import { Console, Effect, Option, Schema } from "effect"
import { Aggregate, EventStore } from "eventuali"

class CartOpened extends Schema.TaggedClass<CartOpened>()("CartOpened", { owner: Schema.String }) {}
class ItemAdded extends Schema.TaggedClass<ItemAdded>()("ItemAdded", { sku: Schema.String, quantity: Schema.Number }) {}

const Cart = Aggregate.make({
  type: "Cart",
  events: [CartOpened, ItemAdded],
  initialState: { owner: "", items: 0 },
  evolve: (state, event) => {
    switch (event._tag) {
      case "CartOpened":
        return { ...state, owner: event.owner }
      case "ItemAdded":
        return { ...state, items: state.items + event.quantity }
    }
  }
})

const url = process.argv[2] ?? "sqlite://:memory:"
const id = `cart-${Date.now()}-${Math.random().toString(36).slice(2)}`

const program = Effect.gen(function*() {
  const store = yield* EventStore
  let cart = Aggregate.empty(Cart, id)
  cart = Aggregate.apply(cart, new CartOpened({ owner: "ada" }))
  cart = Aggregate.apply(cart, new ItemAdded({ sku: "book", quantity: 2 }))
  yield* store.save(cart)
  const loaded = yield* store.loadOrFail(Cart, id)
  const version = yield* store.getAggregateVersion(id)
  yield* Console.log(`loaded ${loaded.state.owner} ${loaded.state.items} v${Option.getOrElse(version, () => 0)}`)
})

program.pipe(
  Effect.provide(EventStore.layer(url)),
  Effect.catchTag("DatabaseError", (error) => Console.log(`DatabaseError: ${error.message}`)),
  Effect.runPromise
)
