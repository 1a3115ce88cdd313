/**
 * The shopping cart every contender of the peer comparison (`peers.ts`) stores: the same events
 * and the same fold for ours (`Schema.TaggedStruct` events), Emmett (`{ type, data }`) and the
 * hand-written raw stores (a JSON payload).
 */
import type { Event as EmmettEvent } from "@event-driven-io/emmett"
import { Aggregate } from "@eventuali/core"
import { Schema } from "effect"

export const ProductItemAdded = Schema.TaggedStruct("ProductItemAdded", {
  productId: Schema.String,
  quantity: Schema.Number,
  unitPrice: Schema.Number
})

/** An event's fields, without the tag each store spells its own way (a type: Emmett wants a record). */
export type ProductItem = {
  readonly productId: string
  readonly quantity: number
  readonly unitPrice: number
}

/** The same event as Emmett stores it. */
export type CartEvent = EmmettEvent<"ProductItemAdded", ProductItem>

export interface CartState {
  readonly items: number
  readonly total: number
  /** Events folded: a load checks it. */
  readonly count: number
}

export const initialState: CartState = { items: 0, total: 0, count: 0 }

export const evolve = (state: CartState, item: ProductItem): CartState => ({
  items: state.items + item.quantity,
  total: state.total + item.quantity * item.unitPrice,
  count: state.count + 1
})

export const Cart = Aggregate.make({
  type: "Cart",
  events: [ProductItemAdded],
  initialState,
  evolve
})

/** The `k`-th item of a save, varied so payloads are not all alike. */
export const item = (seed: number, k: number): ProductItem => ({
  productId: `product-${(seed * 7 + k) % 1000}`,
  quantity: (k % 3) + 1,
  unitPrice: ((seed + k) % 50) + 0.99
})

/** `count` items for one save. */
export const items = (seed: number, count: number): ReadonlyArray<ProductItem> =>
  Array.from({ length: count }, (_, k) => item(seed, k))
