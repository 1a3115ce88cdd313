import { describe, expect, it } from "@effect/vitest"
import { Aggregate, EventStore, InMemoryEventStore } from "@eventuali/core"
import { Effect, Equal, Option, Schema } from "effect"

// The store encodes and decodes plain tagged classes along a faster path than the schema's own;
// these tests hold it to making exactly what the schema makes.

class Shipped extends Schema.TaggedClass<Shipped>()("Shipped", {
  parcels: Schema.Number,
  carrier: Schema.String,
  at: Schema.Date,
  weight: Schema.NumberFromString,
  note: Schema.optional(Schema.String)
}) {
  readonly label = `${this.carrier}:${this.parcels}`
  get heavy(): boolean {
    return this.weight > 10
  }
}

class Checked extends Schema.TaggedClass<Checked>()("Checked", Schema.Struct({
  low: Schema.Number,
  high: Schema.Number
}).pipe(Schema.filter(({ high, low }) => low <= high || "low must not exceed high"))) {}

class Lost extends Schema.TaggedClass<Lost>()("Lost", {}) {}

const Parcel = Aggregate.make({
  type: "Parcel",
  events: [Shipped, Checked, Lost],
  initialState: [] as ReadonlyArray<Shipped | Checked | Lost>,
  evolve: (events, event) => [...events, event]
})

const loadAll = (id: string, payloads: ReadonlyArray<{ readonly eventType: string; readonly data: unknown }>) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    yield* store.append("Parcel", id, payloads)
    return yield* store.loadOrFail(Parcel, id)
  }).pipe(Effect.provide(InMemoryEventStore.layer))

describe("encoding and decoding events", () => {
  it.effect("a tagged class loads as the instance its schema decodes: fields, field initializers, getters, key order, equality", () =>
    Effect.gen(function*() {
      const payloads = [
        { parcels: 2, carrier: "DHL", at: "2026-11-27T10:00:00.000Z", weight: "12.5", note: "fragile" },
        { parcels: 1, carrier: "UPS", at: "2026-11-27T11:00:00.000Z", weight: "3" }
      ]
      const root = yield* loadAll("parcel-1", payloads.map((data) => ({ eventType: "Shipped", data })))
      const expected = payloads.map((data) => Schema.decodeUnknownSync(Shipped)({ ...data, _tag: "Shipped" }))
      expect(root.state).toHaveLength(2)
      root.state.forEach((event, i) => {
        expect(event).toBeInstanceOf(Shipped)
        expect(event).toStrictEqual(expected[i])
        expect(Object.keys(event)).toEqual(Object.keys(expected[i]!))
        expect(Equal.equals(event, expected[i])).toBe(true)
      })
      const [first] = root.state as ReadonlyArray<Shipped>
      expect(first!.label).toBe("DHL:2")
      expect(first!.heavy).toBe(true)
      expect(first!.at).toEqual(new Date("2026-11-27T10:00:00.000Z"))
    }))

  it.effect("a class with a filter on its fields still applies it", () =>
    Effect.gen(function*() {
      const root = yield* loadAll("parcel-2", [{ eventType: "Checked", data: { low: 1, high: 2 } }])
      expect(root.state).toStrictEqual([new Checked({ low: 1, high: 2 })])
      const error = yield* Effect.flip(loadAll("parcel-3", [{ eventType: "Checked", data: { low: 3, high: 2 } }]))
      expect(error._tag).toBe("SerializationError")
      expect(error.message).toContain("low must not exceed high")
    }))

  it.effect("a payload that does not decode fails with the schema's own message", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(loadAll("parcel-4", [{ eventType: "Shipped", data: { parcels: "two", carrier: "DHL", at: "2026-11-27T10:00:00.000Z", weight: "1" } }]))
      expect(error._tag).toBe("SerializationError")
      expect(error.message).toContain("Shipped")
      expect(error.message).toContain("parcels")
      expect(error.message).toContain(`Expected number, actual "two"`)
    }))

  it.effect("a tagged class saves as the payload its schema encodes, without the tag and without what is not a field", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const shipped = new Shipped({ parcels: 3, carrier: "DPD", at: new Date("2026-11-27T12:00:00.000Z"), weight: 7.25 })
      yield* store.save(Aggregate.apply(Aggregate.empty(Parcel, "parcel-5"), shipped))
      const [stored] = yield* store.loadEvents("parcel-5")
      const { _tag: _, ...expected } = Schema.encodeSync(Shipped)(shipped)
      expect(stored!.data).toStrictEqual(expected)
      expect(stored!.data).toStrictEqual({ parcels: 3, carrier: "DPD", at: "2026-11-27T12:00:00.000Z", weight: "7.25" })
      const root = yield* store.loadOrFail(Parcel, "parcel-5")
      expect(root.state).toStrictEqual([shipped])
    }).pipe(Effect.provide(InMemoryEventStore.layer)))

  it.effect("an instance whose fields do not match its schema fails to save with the schema's own message", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      // Built without validation, as a bug elsewhere might.
      const broken = new Shipped({ parcels: "three" as unknown as number, carrier: "DPD", at: new Date(0), weight: 1 }, true)
      const error = yield* Effect.flip(store.save(Aggregate.apply(Aggregate.empty(Parcel, "parcel-6"), broken)))
      expect(error._tag).toBe("SerializationError")
      expect(error.message).toContain("parcels")
      expect(error.message).toContain(`Expected number, actual "three"`)
      expect(yield* store.getAggregateVersion("parcel-6")).toEqual(Option.none())
    }).pipe(Effect.provide(InMemoryEventStore.layer)))

  it.effect("a class with no field but its tag saves as {} and loads as itself, whatever else its stored payload holds", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.save(Aggregate.apply(Aggregate.empty(Parcel, "parcel-7"), new Lost()))
      expect((yield* store.loadEvents("parcel-7")).map((event) => event.data)).toStrictEqual([{}])
      yield* store.append("Parcel", "parcel-7", [{ eventType: "Lost", data: { left: "over" } }])
      const root = yield* store.loadOrFail(Parcel, "parcel-7")
      expect(root.state).toStrictEqual([new Lost(), new Lost()])
      expect(root.state.map((event) => Object.keys(event))).toEqual([["_tag"], ["_tag"]])
    }).pipe(Effect.provide(InMemoryEventStore.layer)))

  // Structs of plain fields (the common `Schema.TaggedStruct` event) take a path of their own too.
  const Added = Schema.TaggedStruct("Added", {
    sku: Schema.String,
    quantity: Schema.Number,
    gift: Schema.Boolean,
    unit: Schema.Literal("piece")
  })
  const Strict = Schema.TaggedStruct("Strict", { sku: Schema.String }).annotations({ parseOptions: { onExcessProperty: "error" } })
  const Noted = Schema.TaggedStruct("Noted", { sku: Schema.String, note: Schema.optional(Schema.String) })
  const Basket = Aggregate.make({
    type: "Basket",
    events: [Added, Strict, Noted],
    initialState: [] as ReadonlyArray<unknown>,
    evolve: (events, event) => [...events, event]
  })
  const loadBasket = (id: string, payloads: ReadonlyArray<{ readonly eventType: string; readonly data: unknown }>) =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      yield* store.append("Basket", id, payloads)
      return yield* store.loadOrFail(Basket, id)
    }).pipe(Effect.provide(InMemoryEventStore.layer))

  it.effect("a struct of plain fields loads as its schema decodes it: the tag, its fields in the schema's order, nothing else", () =>
    Effect.gen(function*() {
      const payloads = [
        { gift: false, unit: "piece", quantity: 2, sku: "A-1", extra: { ignored: true } },
        { sku: "B-2", quantity: 0.5, gift: true, unit: "piece", _tag: "Other" }
      ]
      const root = yield* loadBasket("basket-1", payloads.map((data) => ({ eventType: "Added", data })))
      const expected = payloads.map((data) => Schema.decodeUnknownSync(Added)({ ...data, _tag: "Added" }))
      expect(root.state).toStrictEqual(expected)
      root.state.forEach((event, i) => expect(Object.keys(event as object)).toEqual(Object.keys(expected[i]!)))
      expect(expected[0]).toStrictEqual({ _tag: "Added", sku: "A-1", quantity: 2, gift: false, unit: "piece" })
    }))

  it.effect("a struct field of the wrong type, a wrong literal or a missing field fails with the schema's own message", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ sku: "A", quantity: "2", gift: false, unit: "piece" }, `Expected number, actual "2"`],
        [{ sku: "A", quantity: 2, gift: false, unit: "box" }, `Expected "piece", actual "box"`],
        [{ sku: "A", quantity: 2, unit: "piece" }, "is missing"],
        [[], "Expected"]
      ]
      for (const [i, [data, message]] of cases.entries()) {
        const error = yield* Effect.flip(loadBasket(`basket-bad-${i}`, [{ eventType: "Added", data }]))
        expect(error._tag).toBe("SerializationError")
        expect(error.message).toContain(message)
      }
    }))

  it.effect("a struct whose schema sets parse options, or with an optional field, is decoded by its schema", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(loadBasket("basket-2", [{ eventType: "Strict", data: { sku: "A", extra: 1 } }]))
      expect(error._tag).toBe("SerializationError")
      expect(error.message).toContain("extra")
      const root = yield* loadBasket("basket-3", [{ eventType: "Noted", data: { sku: "A", note: "n", extra: 1 } }])
      expect(root.state).toStrictEqual([{ _tag: "Noted", sku: "A", note: "n" }])
    }))

  it.effect("a struct of plain fields saves as its schema encodes it, without the tag and without what is not a field", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const event = { ...Added.make({ sku: "C-3", quantity: 1, gift: true, unit: "piece" }), extra: "dropped" }
      yield* store.save(Aggregate.apply(Aggregate.empty(Basket, "basket-4"), event))
      const [stored] = yield* store.loadEvents("basket-4")
      const { _tag: _, ...expected } = Schema.encodeSync(Added)(event)
      expect(stored!.data).toStrictEqual(expected)
      expect(Object.keys(stored!.data as object)).toEqual(["sku", "quantity", "gift", "unit"])
      const broken = { _tag: "Added" as const, sku: "D-4", quantity: Number.NaN, gift: "yes" as unknown as boolean, unit: "piece" as const }
      const error = yield* Effect.flip(store.save(Aggregate.apply(Aggregate.empty(Basket, "basket-5"), broken)))
      expect(error._tag).toBe("SerializationError")
      expect(error.message).toContain(`Expected boolean, actual "yes"`)
      const minusZero = yield* Effect.flip(store.save(Aggregate.apply(Aggregate.empty(Basket, "basket-6"), { ...broken, gift: true, quantity: -0 })))
      expect(minusZero._tag).toBe("SerializationError")
    }).pipe(Effect.provide(InMemoryEventStore.layer)))
})
