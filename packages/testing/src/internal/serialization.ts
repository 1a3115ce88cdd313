/** SerializationError: payloads that cannot be stored, and stored payloads that no longer decode. */
import { expect } from "@effect/vitest"
import { Aggregate } from "@eventuali/core"
import { Effect, Schema } from "effect"
import {
  collect,
  Deposited,
  deposit,
  expectFailure,
  expectVersion,
  makeAccount,
  Opened,
  type Test,
  unique,
  Withdrawn
} from "./fixtures.js"

/** Values JSON cannot represent faithfully: each must be refused, not silently changed. */
const notJson = (): ReadonlyArray<readonly [string, unknown]> => {
  const cyclic: Record<string, unknown> = { name: "loop" }
  cyclic.self = cyclic
  class Money {
    readonly cents = 100
  }
  return [
    ["NaN", NaN],
    ["Infinity", Infinity],
    ["-Infinity", { amount: -Infinity }],
    ["a bigint", { amount: 10n }],
    ["a Date", { at: new Date(0) }],
    ["a Map", { lines: new Map([["a", 1]]) }],
    ["a Set", new Set([1])],
    ["a class instance", { money: new Money() }],
    ["a cyclic object", cyclic],
    ["undefined", undefined],
    ["an undefined field", { amount: undefined }],
    ["undefined in an array", [1, undefined]],
    ["NaN deep inside", { a: [{ b: [1, NaN] }] }],
    ["-0", { amount: -0 }],
    ["-0 deep inside", { a: [{ b: [1, -0] }] }],
    ["a function", { f: () => 1 }],
    ["a symbol", { s: Symbol("s") }]
  ]
}

export const serialization = (test: Test): void => {
  test(
    "appending data that is not JSON fails with SerializationError naming the event type, and writes nothing",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Raw")
      for (const [what, data] of notJson()) {
        const id = unique("raw")
        const eventType = unique("Bad")
        const error = yield* expectFailure(store.append(aggregateType, id, [{ eventType, data }]), "SerializationError")
        expect(error.eventType, what).toBe(eventType)
        // After a valid event in the same append: still nothing written.
        yield* expectFailure(store.append(aggregateType, id, [deposit(1), { eventType, data }]), "SerializationError")
        yield* expectVersion(id, 0)
      }
      expect(yield* store.loadEventsByType(aggregateType)).toEqual([])
    })
  )

  // PostgreSQL's jsonb cannot hold NUL or lone surrogates, so no backend stores them: the
  // backends refuse the same payloads rather than differ.
  test(
    "a NUL character or a lone surrogate in a payload string fails with SerializationError, and writes nothing",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Raw")
      const unstorable: ReadonlyArray<unknown> = [
        { text: "before\u0000after" },
        { ["key\u0000"]: 1 },
        ["lone \ud800 surrogate"],
        { nested: { ["\udfff"]: true } }
      ]
      for (const data of unstorable) {
        const id = unique("raw")
        const eventType = unique("Unstorable")
        const error = yield* expectFailure(
          store.append(aggregateType, id, [deposit(1), { eventType, data }]),
          "SerializationError"
        )
        expect(error.eventType).toBe(eventType)
        yield* expectVersion(id, 0)
      }

      const account = makeAccount()
      const id = unique("account")
      const withNul = Aggregate.apply(Aggregate.empty(account, id), new Opened({ owner: "Ada\u0000Lovelace" }))
      expect((yield* expectFailure(store.save(withNul), "SerializationError")).eventType).toBe("Opened")
      yield* expectVersion(id, 0)
    })
  )

  test(
    "saving an event that its schema cannot encode fails with SerializationError, and writes nothing",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const id = unique("account")
      // Constructed without validation: a negative deposit that Schema.Positive refuses to encode.
      const invalid = new Deposited({ amount: -5 }, true)
      const refused = Aggregate.applyAll(Aggregate.empty(account, id), [new Opened({ owner: "Ada" }), invalid])
      const error = yield* expectFailure(store.save(refused), "SerializationError")
      expect(error.eventType).toBe("Deposited")
      // Schema.Number encodes NaN, which JSON cannot hold.
      const notJsonRoot = Aggregate.applyAll(Aggregate.empty(account, id), [
        new Opened({ owner: "Ada" }),
        new Withdrawn({ amount: NaN })
      ])
      expect((yield* expectFailure(store.save(notJsonRoot), "SerializationError")).eventType).toBe("Withdrawn")
      // Nor -0, which JSON writes as 0.
      const negativeZero = Aggregate.applyAll(Aggregate.empty(account, id), [
        new Opened({ owner: "Ada" }),
        new Withdrawn({ amount: -0 })
      ])
      expect((yield* expectFailure(store.save(negativeZero), "SerializationError")).message).toMatch(/\$\.amount is -0, which JSON writes as 0/)
      yield* expectVersion(id, 0)
    })
  )

  test(
    "a stored payload its registered schema no longer decodes fails reads with SerializationError naming its type",
    (store) => Effect.gen(function*() {
      const eventType = unique("Charged")
      const aggregateType = unique("Invoice")
      const id = unique("invoice")
      yield* store.append(aggregateType, id, [{ eventType, data: { amount: "not a number" } }])
      yield* store.registerEventClass(eventType, Schema.Struct({ amount: Schema.Number }))

      const reads = [
        store.loadEvents(id),
        store.loadEventsByType(aggregateType),
        collect(store.streamEventsByType(aggregateType, { batchSize: 3 }))
      ]
      for (const read of reads) {
        const error = yield* expectFailure(read, "SerializationError")
        expect(error.eventType).toBe(eventType)
        expect(error.message).toContain(eventType)
      }
    })
  )

  test(
    "load fails with SerializationError when a stored event does not match the aggregate's schema",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const id = unique("account")
      yield* store.append(account.type, id, [
        { eventType: "Opened", data: { owner: "Ada" } },
        { eventType: "Deposited", data: { amount: "not a number" } }
      ])
      expect((yield* expectFailure(store.load(account, id), "SerializationError")).eventType).toBe("Deposited")
      expect((yield* expectFailure(store.loadOrFail(account, id), "SerializationError")).eventType).toBe("Deposited")
      // A value the schema refuses (Schema.Positive) is as undecodable as a wrong type.
      const negative = unique("account")
      yield* store.append(account.type, negative, [deposit(-1)])
      expect((yield* expectFailure(store.load(account, negative), "SerializationError")).eventType).toBe("Deposited")
    })
  )

  test(
    "load fails with SerializationError naming an event type the aggregate does not know",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const id = unique("account")
      const stranger = unique("Stranger")
      yield* store.append(account.type, id, [
        { eventType: "Opened", data: { owner: "Ada" } },
        { eventType: stranger, data: {} }
      ])
      const error = yield* expectFailure(store.load(account, id), "SerializationError")
      expect(error.eventType).toBe(stranger)
    })
  )
}
