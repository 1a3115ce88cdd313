/** Payloads round-trip exactly: through an aggregate's schemas, the registry, and as raw JSON. */
import { assert, expect } from "@effect/vitest"
import { Aggregate } from "@eventuali/core"
import { BigDecimal, Effect, Option, Schema, Stream } from "effect"
import { collect, type Test, unique } from "./fixtures.js"

const PayloadFields = {
  amount: Schema.BigDecimal,
  amounts: Schema.Array(Schema.BigDecimal),
  at: Schema.Date,
  big: Schema.BigInt,
  text: Schema.String,
  nested: Schema.Struct({
    lines: Schema.Array(
      Schema.Struct({ sku: Schema.String, quantity: Schema.Number, tags: Schema.Array(Schema.String) })
    ),
    empty: Schema.Array(Schema.Number),
    matrix: Schema.Array(Schema.Array(Schema.Number)),
    flag: Schema.Boolean,
    nothing: Schema.Null,
    deeper: Schema.Struct({ level: Schema.Struct({ value: Schema.String }) })
  })
}

/**
 * Text that stresses storage: accents, CJK, astral emoji with joiners, control characters,
 * escapes. (NUL is refused by every backend: see the serialization errors.)
 */
const awkwardText =
  "Grüße, 世界! 🎉👩‍👩‍👧 𝄞 \u0001\u001f control; tab\t newline\n quote\" backslash\\ \u2028 \uFFFF end"

/** A string of exactly 1 MiB (UTF-16 code units), with awkward text at both ends. */
const oneMegabyte = (): string => {
  const filler = "0123456789abcdef".repeat(65_536)
  return awkwardText + filler.slice(awkwardText.length * 2) + awkwardText
}

/**
 * An event class with every hard-to-store kind of field, under an event type of its own, and an
 * aggregate (of a type of its own) whose state is every event recorded, in order.
 */
const makePayloadModel = () => {
  const eventType = unique("Recorded")
  class Recorded extends Schema.TaggedClass<Recorded>()(eventType, PayloadFields) {}
  const nothingRecorded: ReadonlyArray<Recorded> = []
  const ledger = Aggregate.make({
    type: unique("Ledger"),
    events: [Recorded],
    initialState: nothingRecorded,
    evolve: (recorded, event) => [...recorded, event]
  })
  const sample = (text: string = awkwardText) =>
    new Recorded({
      amount: BigDecimal.unsafeFromString("12345678901234567890.000000000000000001"),
      amounts: ["-0.10", "0", "1e-30", "-98765.4321"].map(BigDecimal.unsafeFromString),
      at: new Date(Date.UTC(2024, 1, 29, 23, 59, 59, 999)),
      big: 2n ** 100n + 1n,
      text,
      nested: {
        lines: [
          { sku: "é-1", quantity: 0.1, tags: ["a", "🎉", ""] },
          { sku: "\u007f", quantity: -1e-7, tags: [] }
        ],
        empty: [],
        matrix: [[1, 2], [], [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]],
        flag: false,
        nothing: null,
        deeper: { level: { value: awkwardText } }
      }
    })
  return { eventType, Recorded, ledger, sample }
}

type PayloadEvent = Schema.Struct.Type<typeof PayloadFields>

/** Asserts two payloads are the same value: BigDecimals equal, Dates at the same instant. */
const expectSamePayload = (actual: PayloadEvent, expected: PayloadEvent): void => {
  assert.isTrue(BigDecimal.equals(actual.amount, expected.amount), `amount ${format(actual.amount)}`)
  expect(actual.amounts.map(format)).toEqual(expected.amounts.map(format))
  expect(actual.at).toBeInstanceOf(Date)
  expect(actual.at.toISOString()).toBe(expected.at.toISOString())
  expect(actual.big).toBe(expected.big)
  expect(actual.text).toBe(expected.text)
  expect(actual.nested).toEqual(expected.nested)
}

const format = (value: BigDecimal.BigDecimal): string => BigDecimal.format(BigDecimal.normalize(value))

/**
 * Objects whose keys are in neither alphabetical nor length order (PostgreSQL's jsonb would load
 * `{ zeta, alpha, mid }` as `{ mid, zeta, alpha }`), nested too.
 */
const unsortedCounts = (): Record<string, number> => ({ zeta: 1, alpha: 2, mid: 3, "": 4, b: 5 })
const unsortedHeaders = { "x-zeta": "1", "x-alpha": "2", "x-mid": "3", tenant: "acme" }
const unsortedMetadata = { userId: "ada", correlationId: "corr", headers: unsortedHeaders, causationId: "cause" }

/** The keys of an object and of every object inside it, in order, as `path: keys` lines. */
const keyOrder = (value: unknown, path = "$"): ReadonlyArray<string> => {
  if (typeof value !== "object" || value === null) return []
  const keys = Object.keys(value)
  const own = Array.isArray(value) ? [] : [`${path}: ${keys.join(",")}`]
  return [...own, ...keys.flatMap((key) => keyOrder((value as Record<string, unknown>)[key], `${path}.${key}`))]
}

export const payloads = (test: Test): void => {
  test(
    "payload and metadata keys load in the order written: load, loadEvents, loadEventsByType, streams, subscriptions",
    (store) => Effect.gen(function*() {
      const eventType = unique("Tallied")
      class Tallied extends Schema.TaggedClass<Tallied>()(eventType, {
        counts: Schema.Record({ key: Schema.String, value: Schema.Number }),
        nested: Schema.Struct({ inner: Schema.Record({ key: Schema.String, value: Schema.Number }) })
      }) {}
      const tallies = Aggregate.make({
        type: unique("Tally"),
        events: [Tallied],
        initialState: [] as ReadonlyArray<ReadonlyArray<string>>,
        evolve: (seen, event) => [...seen, Object.keys(event.counts), Object.keys(event.nested.inner)]
      })
      const event = new Tallied({ counts: unsortedCounts(), nested: { inner: unsortedCounts() } })
      const written = keyOrder({ counts: event.counts, nested: event.nested })
      const saved = yield* store.save(Aggregate.apply(Aggregate.empty(tallies, unique("tally")), event), unsortedMetadata)
      // Raw JSON through append, under the same aggregate type.
      const raw = { zeta: { zeta: 1, alpha: 2, mid: 3 }, alpha: [{ mid: 1, alpha: 2 }], mid: 0 }
      yield* store.append(tallies.type, unique("raw"), [{ eventType: unique("Raw"), data: raw, metadata: unsortedMetadata }])

      const loaded = Option.getOrThrow(yield* store.load(tallies, saved.id))
      expect(loaded.state).toEqual([Object.keys(unsortedCounts()), Object.keys(unsortedCounts())])
      // The store's own fields in its own order (as every backend returns them), headers as written.
      const metadataKeys = ["$: correlationId,causationId,userId,headers", "$.headers: x-zeta,x-alpha,x-mid,tenant"]
      const reads = {
        loadEvents: yield* store.loadEvents(saved.id),
        loadEventsByType: yield* store.loadEventsByType(tallies.type),
        readEvents: yield* store.readEvents({ fromPosition: 0n, aggregateTypes: [tallies.type], limit: 10 }),
        streamEventsByType: yield* collect(store.streamEventsByType(tallies.type, { batchSize: 1 })),
        streamAll: yield* collect(store.streamAll({ aggregateTypes: [tallies.type] })),
        subscribe: yield* collect(store.subscribe({ aggregateTypes: [tallies.type] }).pipe(Stream.take(2)))
      }
      for (const [read, events] of Object.entries(reads)) {
        const [tallied, appended] = events
        expect(keyOrder(tallied!.data), read).toEqual(written)
        expect(keyOrder(tallied!.metadata), read).toEqual(metadataKeys)
        if (appended !== undefined) {
          expect(keyOrder(appended.data), read).toEqual(keyOrder(raw))
          expect(keyOrder(appended.metadata), read).toEqual(metadataKeys)
        }
      }
    })
  )


  for (const [size, text] of [["awkward", () => awkwardText], ["1 MB", oneMegabyte]] as const) {
    test(
      `${size} payloads round-trip through save and load: BigDecimal, Date, bigint, unicode, nesting`,
      (store) => Effect.gen(function*() {
        const { ledger, sample } = makePayloadModel()
        const first = sample(text())
        const second = sample("second")
        const saved = yield* store.save(Aggregate.applyAll(Aggregate.empty(ledger, unique("ledger")), [first, second]))

        const loaded = Option.getOrThrow(yield* store.load(ledger, saved.id))
        expect(loaded.version).toBe(2)
        expect(loaded.state).toHaveLength(2)
        expectSamePayload(loaded.state[0]!, first)
        expectSamePayload(loaded.state[1]!, second)
      })
    )

    test(
      `${size} payloads round-trip through registerEventClass and loadEvents, loadEventsByType and streams`,
      (store) => Effect.gen(function*() {
        const { eventType, ledger, Recorded, sample } = makePayloadModel()
        const event = sample(text())
        const saved = yield* store.save(Aggregate.apply(Aggregate.empty(ledger, unique("ledger")), event))
        yield* store.registerEventClass(eventType, Recorded)

        const reads = [
          yield* store.loadEvents(saved.id),
          yield* store.loadEventsByType(ledger.type),
          yield* collect(store.streamEventsByType(ledger.type, { batchSize: 1 }))
        ]
        for (const events of reads) {
          expect(events).toHaveLength(1)
          const data = events[0]!.data
          expect(data).toBeInstanceOf(Recorded)
          if (data instanceof Recorded) expectSamePayload(data, event)
        }
      })
    )
  }

  test(
    "raw JSON payloads round-trip exactly through append and reads",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Raw")
      const id = unique("raw")
      const payloads: ReadonlyArray<unknown> = [
        {
          text: awkwardText,
          "ключ 🎉": "unicode key",
          "": "empty key",
          numbers: [0, 1, -1, 0.1, 1e-7, 1.5e300, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER],
          flags: [true, false],
          nothing: null,
          nested: { a: [{ b: [[], {}, [[["deep"]]]] }] },
          looksLikeANumber: "00123",
          looksLikeJson: "{\"not\": \"parsed\"}"
        },
        [1, "two", null, { three: 3 }],
        "a bare string with \\u0000 escaped, not a NUL",
        42.5,
        true,
        null,
        {}
      ]
      yield* store.append(aggregateType, id, payloads.map((data, i) => ({ eventType: unique(`Raw${i}`), data })))
      expect((yield* store.loadEvents(id)).map((event) => event.data)).toEqual(payloads)
      expect((yield* store.loadEventsByType(aggregateType)).map((event) => event.data)).toEqual(payloads)
    })
  )
}
