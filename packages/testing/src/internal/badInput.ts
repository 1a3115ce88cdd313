/**
 * Bad input, case by case: every operation given a value it cannot take fails with a tagged
 * error whose message says what was wrong, and writes nothing. Values at the limits round-trip.
 */
import { expect } from "@effect/vitest"
import { Aggregate, Checkpoint, type EventStore, ExpectedVersion } from "@eventuali/core"
import type { Event } from "@eventuali/core"
import { Chunk, Effect, Either, Schema, Stream } from "effect"
import { Deposited, deposit, expectVersion, makeAccount, Opened, type Test, unique } from "./fixtures.js"

/** The ids a case writes under: fresh for each case, checked to hold nothing afterwards. */
interface Target {
  readonly store: EventStore.Service
  readonly aggregateType: string
  readonly aggregateId: string
}

interface Case {
  readonly name: string
  readonly run: (target: Target) => Effect.Effect<unknown, { readonly _tag: string; readonly message: string }>
  readonly tag: string
  readonly message: RegExp
}

/** An append of one event with `fields` changed, to the case's own aggregate. */
const appendOne = (fields: Partial<Record<keyof Event.NewEvent, unknown>>) => (target: Target) =>
  target.store.append(target.aggregateType, target.aggregateId, [{ ...deposit(1), ...fields } as Event.NewEvent])

/** An append expecting `expectedVersion` (a value the types would not allow). */
const appendExpecting = (expectedVersion: unknown) => (target: Target) =>
  target.store.append(target.aggregateType, target.aggregateId, [deposit(1)], {
    expectedVersion: expectedVersion as ExpectedVersion.ExpectedVersion
  })

const invalid = (message: RegExp) => ({ tag: "EventStoreError", message })
const unstorable = (message: RegExp) => ({ tag: "SerializationError", message })

/**
 * `count` characters of one script, all different in a row, so that PostgreSQL cannot compress
 * them in an index entry (a repeated character would fit whatever its length).
 */
const varied = (first: number, range: number, count: number): string =>
  Array.from({ length: count }, (_, i) => String.fromCodePoint(first + (i * 7919) % range)).join("")

/** CJK ideographs: 3 bytes each in UTF-8. */
const cjk = (count: number) => varied(0x4e00, 20_000, count)
/** Emoji: 4 bytes in UTF-8, 2 characters (UTF-16 code units) each. */
const emoji = (count: number) => varied(0x1f300, 700, count)
/** Greek letters: 2 bytes each in UTF-8. */
const greek = (count: number) => varied(0x3b1, 25, count)

class Point {
  constructor(readonly x: number) {}
}

const cyclicObject = () => {
  const value: Record<string, unknown> = { name: "loop" }
  value["self"] = value
  return value
}

const cyclicArray = () => {
  const value: Array<unknown> = [1]
  value.push([value])
  return value
}

const cases: ReadonlyArray<Case> = [
  // Aggregate ids, aggregate types, event types and event ids: non-empty text of at most 1000
  // characters, without NUL or lone surrogates (what every backend can store as text).
  { name: "an empty aggregate id", run: (t) => t.store.append(t.aggregateType, "", [deposit(1)]), ...invalid(/aggregate id must not be empty/) },
  { name: "an aggregate id of 1001 characters", run: (t) => t.store.append(t.aggregateType, "a".repeat(1001), [deposit(1)]), ...invalid(/1001 characters long; at most 1000/) },
  { name: "an aggregate id of 10 MB", run: (t) => t.store.loadEvents("a".repeat(10_000_000)), ...invalid(/10000000 characters long; at most 1000/) },
  { name: "an aggregate id of 1000 CJK characters (3000 bytes)", run: (t) => t.store.append(t.aggregateType, cjk(1000), [deposit(1)]), ...invalid(/aggregate id is 3000 bytes long in UTF-8; at most 2000/) },
  { name: "an aggregate id of 667 CJK characters (2001 bytes)", run: (t) => t.store.loadEvents(cjk(667)), ...invalid(/aggregate id is 2001 bytes long in UTF-8; at most 2000/) },
  { name: "an aggregate type of 667 CJK characters", run: (t) => t.store.append(cjk(667), t.aggregateId, [deposit(1)]), ...invalid(/aggregate type is 2001 bytes long in UTF-8/) },
  { name: "an event type of 667 CJK characters", run: appendOne({ eventType: cjk(667) }), ...invalid(/event type is 2001 bytes long in UTF-8/) },
  { name: "an event id of 667 CJK characters", run: appendOne({ eventId: cjk(667) }), ...invalid(/event id is 2001 bytes long in UTF-8/) },
  { name: "an event id of 501 emoji", run: appendOne({ eventId: emoji(501) }), ...invalid(/event id is 1002 characters long; at most 1000/) },
  { name: "an aggregate id with a NUL", run: (t) => t.store.append(t.aggregateType, `${t.aggregateId}\u0000`, [deposit(1)]), ...invalid(/aggregate id .* contains a NUL/) },
  { name: "an aggregate id with a lone high surrogate", run: (t) => t.store.append(t.aggregateType, `${t.aggregateId}\ud800`, [deposit(1)]), ...invalid(/lone surrogate/) },
  { name: "an aggregate id with a lone low surrogate", run: (t) => t.store.getAggregateVersion(`\udc00${t.aggregateId}`), ...invalid(/lone surrogate/) },
  { name: "an aggregate id that is a number", run: (t) => t.store.loadEvents(42 as unknown as string), ...invalid(/aggregate id must be a string, got number/) },
  { name: "an aggregate id that is undefined", run: (t) => t.store.append(t.aggregateType, undefined as unknown as string, [deposit(1)]), ...invalid(/aggregate id must be a string, got undefined/) },
  { name: "an empty aggregate type", run: (t) => t.store.append("", t.aggregateId, [deposit(1)]), ...invalid(/aggregate type must not be empty/) },
  { name: "an aggregate type with a NUL", run: (t) => t.store.append(`${t.aggregateType}\u0000`, t.aggregateId, [deposit(1)]), ...invalid(/aggregate type .* contains a NUL/) },
  { name: "an aggregate type of 1001 characters", run: (t) => t.store.loadEventsByType("T".repeat(1001)), ...invalid(/aggregate type is 1001 characters long/) },
  { name: "an empty event type", run: appendOne({ eventType: "" }), ...invalid(/event type must not be empty/) },
  { name: "an event type with a NUL", run: appendOne({ eventType: "Deposited\u0000" }), ...invalid(/event type .* contains a NUL/) },
  { name: "an event type with a lone surrogate", run: appendOne({ eventType: "Deposited\ud83d" }), ...invalid(/event type .* lone surrogate/) },
  { name: "an event type that is null", run: appendOne({ eventType: null }), ...invalid(/event type must be a string, got object/) },
  { name: "an empty event id", run: appendOne({ eventId: "" }), ...invalid(/event id must not be empty/) },
  { name: "an event id of 1001 characters", run: appendOne({ eventId: "e".repeat(1001) }), ...invalid(/event id is 1001 characters long/) },
  { name: "an event id with a NUL", run: appendOne({ eventId: "event\u0000" }), ...invalid(/event id .* contains a NUL/) },
  {
    name: "the same event id twice in one append",
    run: (t) => t.store.append(t.aggregateType, t.aggregateId, [deposit(1, { eventId: "twice" }), deposit(2, { eventId: "twice" })]),
    ...invalid(/"twice" appears twice in one append/)
  },
  { name: "events that are not an array", run: (t) => t.store.append(t.aggregateType, t.aggregateId, "Deposited" as unknown as []), ...invalid(/append takes an array of events, got string/) },
  { name: "an event that is null", run: (t) => t.store.append(t.aggregateType, t.aggregateId, [null as unknown as Event.NewEvent]), ...invalid(/event to append must be an object, got null/) },

  // Expected versions: any, noStream, streamExists, or exact(n) with n a non-negative integer.
  { name: "an expected version of an unknown kind", run: appendExpecting({ _tag: "AtLeast", version: 1 }), ...invalid(/expected version must be ExpectedVersion\.any, noStream, streamExists or exact\(n\)/) },
  { name: "an expected version of exact(-1)", run: appendExpecting({ _tag: "Exact", version: -1 }), ...invalid(/exact takes a non-negative integer, got -1/) },
  { name: "an expected version of exact(1.5)", run: appendExpecting({ _tag: "Exact", version: 1.5 }), ...invalid(/exact takes a non-negative integer, got 1\.5/) },
  { name: "an expected version of exact(NaN)", run: appendExpecting({ _tag: "Exact", version: NaN }), ...invalid(/exact takes a non-negative integer, got NaN/) },
  { name: "an expected version of exact(Infinity)", run: appendExpecting({ _tag: "Exact", version: Infinity }), ...invalid(/exact takes a non-negative integer, got Infinity/) },
  // The constructor itself takes any number, so that a version from a request is refused by the store, not thrown.
  { name: "ExpectedVersion.exact(-1)", run: (t) => Effect.suspend(() => appendExpecting(ExpectedVersion.exact(-1))(t)), ...invalid(/exact takes a non-negative integer, got -1/) },
  { name: "ExpectedVersion.exact(1.5)", run: (t) => Effect.suspend(() => appendExpecting(ExpectedVersion.exact(1.5))(t)), ...invalid(/exact takes a non-negative integer, got 1\.5/) },
  { name: "an expected version that is null", run: appendExpecting(null), ...invalid(/expected version must be/) },
  { name: "an expected version that is a number", run: appendExpecting(0), ...invalid(/expected version must be .* got 0/) },

  // Event versions: positive 32-bit integers. Timestamps: valid Dates a database can store.
  { name: "an event version of 0", run: appendOne({ eventVersion: 0 }), ...invalid(/event version of "Deposited" must be a positive integer, got 0/) },
  { name: "an event version of -1", run: appendOne({ eventVersion: -1 }), ...invalid(/must be a positive integer, got -1/) },
  { name: "an event version of 1.5", run: appendOne({ eventVersion: 1.5 }), ...invalid(/must be a positive integer, got 1\.5/) },
  { name: "an event version of NaN", run: appendOne({ eventVersion: NaN }), ...invalid(/must be a positive integer, got NaN/) },
  { name: "an event version of Infinity", run: appendOne({ eventVersion: Infinity }), ...invalid(/must be a positive integer, got Infinity/) },
  { name: "an event version of 2^31", run: appendOne({ eventVersion: 2 ** 31 }), ...invalid(/event version 2147483648 is beyond the largest, 2147483647/) },
  { name: "an invalid Date as timestamp", run: appendOne({ timestamp: new Date(NaN) }), ...invalid(/timestamp must be a valid Date/) },
  { name: "a string as timestamp", run: appendOne({ timestamp: "2024-01-01" }), ...invalid(/timestamp must be a valid Date/) },
  { name: "a timestamp before 4714 BC", run: appendOne({ timestamp: new Date(Date.UTC(-4713, 10, 24) - 1) }), ...invalid(/before the earliest storable, 4714-11-24 BC/) },

  // Metadata: an object; ids are names; headers an object of strings that can be stored.
  { name: "metadata that is null", run: appendOne({ metadata: null }), ...invalid(/metadata must be an object, got null/) },
  { name: "metadata that is a string", run: appendOne({ metadata: "tenant=acme" }), ...invalid(/metadata must be an object, got string/) },
  { name: "an empty correlation id", run: appendOne({ metadata: { correlationId: "" } }), ...invalid(/correlation id must not be empty/) },
  { name: "a user id with a NUL", run: appendOne({ metadata: { userId: "user\u0000" } }), ...invalid(/user id .* contains a NUL/) },
  { name: "metadata headers that are an array", run: appendOne({ metadata: { headers: ["tenant"] } }), ...invalid(/metadata headers must be an object of strings/) },
  { name: "a metadata header that is a number", run: appendOne({ metadata: { headers: { tenant: 42 } } }), ...invalid(/metadata header "tenant" must be a string/) },
  { name: "a metadata header with a NUL", run: appendOne({ metadata: { headers: { tenant: "ac\u0000me" } } }), ...unstorable(/metadata is not JSON: .*tenant contains a NUL/) },
  { name: "a metadata header name with a lone surrogate", run: appendOne({ metadata: { headers: { "\udfff": "x" } } }), ...unstorable(/metadata is not JSON: .* lone surrogate/) },

  // Payloads: plain JSON, storable by every backend.
  { name: "a payload string with a NUL", run: appendOne({ data: { note: "a\u0000b" } }), ...unstorable(/payload is not JSON: \$\.note contains a NUL/) },
  { name: "a payload key with a NUL", run: appendOne({ data: { "no\u0000te": 1 } }), ...unstorable(/payload is not JSON: \$ key .* contains a NUL/) },
  { name: "a payload string with a lone surrogate", run: appendOne({ data: { note: "\ud800" } }), ...unstorable(/payload is not JSON: \$\.note contains a lone surrogate/) },
  { name: "a payload with NaN", run: appendOne({ data: { amount: NaN } }), ...unstorable(/\$\.amount is NaN/) },
  { name: "a payload with Infinity", run: appendOne({ data: { amount: Infinity } }), ...unstorable(/\$\.amount is Infinity/) },
  { name: "a payload with -Infinity", run: appendOne({ data: [1, -Infinity] }), ...unstorable(/\$\[1\] is -Infinity/) },
  { name: "a payload with -0", run: appendOne({ data: { amount: -0 } }), ...unstorable(/\$\.amount is -0, which JSON writes as 0/) },
  { name: "a payload with -0 in an array", run: appendOne({ data: [0, [-0]] }), ...unstorable(/\$\[1\]\[0\] is -0/) },
  { name: "a payload with a bigint", run: appendOne({ data: { amount: 10n } }), ...unstorable(/\$\.amount is a bigint/) },
  { name: "a payload with an undefined field", run: appendOne({ data: { amount: undefined } }), ...unstorable(/\$\.amount is undefined/) },
  { name: "a payload that is undefined", run: appendOne({ data: undefined }), ...unstorable(/\$ is undefined/) },
  { name: "a payload with a function", run: appendOne({ data: { apply: () => 1 } }), ...unstorable(/\$\.apply is function/) },
  { name: "a payload with a symbol", run: appendOne({ data: { tag: Symbol("x") } }), ...unstorable(/\$\.tag is symbol/) },
  { name: "a payload with a Date", run: appendOne({ data: { at: new Date(0) } }), ...unstorable(/\$\.at is a Date, not a plain object/) },
  { name: "a payload with a Map", run: appendOne({ data: new Map([["a", 1]]) }), ...unstorable(/\$ is a Map, not a plain object/) },
  { name: "a payload with a class instance", run: appendOne({ data: { point: new Point(1) } }), ...unstorable(/\$\.point is a Point, not a plain object/) },
  { name: "a cyclic object", run: appendOne({ data: cyclicObject() }), ...unstorable(/\$\.self refers back to itself \(a cycle\)/) },
  { name: "a cyclic array", run: appendOne({ data: cyclicArray() }), ...unstorable(/\$\[1\]\[0\] refers back to itself \(a cycle\)/) },

  // Saves: events encoded by their schema.
  {
    name: "a saved event whose field breaks its schema's refinement",
    run: (t) => {
      const account = { ...makeAccount(), type: t.aggregateType }
      const negative = Object.assign(Object.create(Deposited.prototype) as Deposited, { _tag: "Deposited", amount: -5 })
      return t.store.save(Aggregate.apply(Aggregate.empty(account, t.aggregateId), negative))
    },
    ...unstorable(/Event "Deposited" does not match its schema/)
  },
  {
    name: "save with more event ids than events",
    run: (t) => {
      const account = { ...makeAccount(), type: t.aggregateType }
      return t.store.save(Aggregate.apply(Aggregate.empty(account, t.aggregateId), new Opened({ owner: "Ada" })), { eventIds: ["a", "b"] })
    },
    ...invalid(/2 event ids given for 1 uncommitted events/)
  },

  // Reads: limits, positions, checkpoints and filters.
  { name: "a page limit of 0", run: (t) => t.store.readEvents({ limit: 0, aggregateTypes: [t.aggregateType] }), ...invalid(/limit must be a positive integer, got 0/) },
  { name: "a page limit of NaN", run: (t) => t.store.readEvents({ limit: NaN, aggregateTypes: [t.aggregateType] }), ...invalid(/limit must be a positive integer, got NaN/) },
  { name: "an aggregate type filter that is a string", run: (t) => t.store.readEvents({ aggregateTypes: t.aggregateType as unknown as Array<string> }), ...invalid(/aggregate type filter must be an array/) },
  { name: "an event type filter with an empty type", run: (t) => t.store.readEvents({ aggregateTypes: [t.aggregateType], eventTypes: ["Deposited", ""] }), ...invalid(/event type must not be empty/) },
  { name: "a position beyond 2^63 - 1", run: (t) => t.store.loadEventsByType(t.aggregateType, 2n ** 64n), ...invalid(/position 18446744073709551616 is beyond the largest position, 9223372036854775807/) },
  {
    name: "a subscription from a string that is not a checkpoint",
    run: (t) => Stream.runCollect(Stream.take(t.store.subscribe({ from: "last Tuesday" as Checkpoint.Checkpoint }), 1)),
    ...invalid(/"last Tuesday" is not a checkpoint/)
  },
  {
    name: "a subscription from a negative checkpoint",
    run: (t) => Stream.runCollect(Stream.take(t.store.subscribe({ from: "-1" as Checkpoint.Checkpoint }), 1)),
    ...invalid(/"-1" is not a checkpoint/)
  },
  {
    name: "a subscription from a checkpoint beyond 2^63 - 1",
    run: (t) => Stream.runCollect(Stream.take(t.store.subscribe({ from: Checkpoint.fromPosition(2n ** 63n) }), 1)),
    ...invalid(/position 9223372036854775808 is beyond the largest position/)
  },
  { name: "a subscription batch size of 0", run: (t) => Stream.runCollect(Stream.take(t.store.subscribe({ batchSize: 0 }), 1)), ...invalid(/batch size must be a positive integer, got 0/) },

  // Registrations.
  { name: "registering a plain object as a schema", run: (t) => t.store.registerEventClass(t.aggregateType, { fields: {} } as unknown as Schema.Schema.AnyNoContext), ...invalid(/expected an effect Schema, got object/) },
  { name: "registering a class that is not a schema", run: (t) => t.store.registerEventClass(t.aggregateType, Point as unknown as Schema.Schema.AnyNoContext), ...invalid(/expected an effect Schema, got function Point/) },
  { name: "registering under an empty event type", run: (t) => t.store.registerEventClass("", Schema.String), ...invalid(/event type must be a non-empty string/) },

  // Aggregates that are not there.
  {
    name: "loadOrFail of an aggregate with no events",
    run: (t) => t.store.loadOrFail({ ...makeAccount(), type: t.aggregateType }, t.aggregateId),
    tag: "AggregateNotFoundError",
    message: /not found/
  }
]

export const badInput = (test: Test): void => {
  for (const { message, name, run, tag } of cases) {
    test(`${name}: ${tag}, nothing written`, (store) =>
      Effect.gen(function*() {
        const target = { store, aggregateType: unique("Bad"), aggregateId: unique("bad") }
        const result = yield* Effect.either(run(target))
        if (Either.isRight(result)) return expect.fail(`expected a ${tag}, but it succeeded`)
        expect(result.left._tag, result.left.message).toBe(tag)
        expect(result.left.message).toMatch(message)
        yield* expectVersion(target.aggregateId, 0)
        expect(yield* store.loadEventsByType(target.aggregateType)).toEqual([])
      }))
  }

  test("names at the limits round-trip: 1000 characters and 2000 bytes of UTF-8, in CJK, emoji and Greek", (store) =>
    Effect.gen(function*() {
      // 32 Greek letters (64 bytes) that make this run's names its own.
      const tag = Array.from(crypto.randomUUID().replaceAll("-", ""), (digit) => String.fromCodePoint(0x3b1 + parseInt(digit, 16))).join("")
      const aggregateType = `${cjk(645)}${tag}a`
      const aggregateId = `${cjk(645)}${tag}b`
      const eventType = emoji(500)
      const eventId = `${greek(968)}${tag}`
      const names = [aggregateType, aggregateId, eventType, eventId]
      expect(names.map((name) => new TextEncoder().encode(name).length)).toEqual([2000, 2000, 2000, 2000])
      expect(eventId.length).toBe(1000)
      yield* store.append(aggregateType, aggregateId, [{ eventType, eventId, data: {} }])
      const reads = [
        yield* store.loadEvents(aggregateId),
        yield* store.loadEventsByType(aggregateType),
        yield* store.readEvents({ fromPosition: 0n, aggregateTypes: [aggregateType], eventTypes: [eventType], limit: 10 })
      ]
      for (const events of reads) {
        expect(events.map((event) => [event.aggregateType, event.aggregateId, event.eventType, event.eventId])).toEqual([names])
      }
    }))

  test("values at the limits round-trip: a 1000-character id, a 16 MB payload, a shared (not cyclic) reference, the earliest timestamp, event version 2^31 - 1", (store) =>
    Effect.gen(function*() {
      const aggregateType = unique("Limits")
      const base = unique("x")
      const id = `${base}${"x".repeat(1000 - base.length)}`
      expect(id.length).toBe(1000)
      const big = "x".repeat(16 * 1024 * 1024)
      const shared = { amount: 1 }
      const earliest = new Date(Date.UTC(-4713, 10, 24))
      yield* store.append(aggregateType, id, [
        { eventType: "Big", data: { big } },
        { eventType: "Shared", data: { left: shared, right: shared } },
        { eventType: "Old", data: {}, timestamp: earliest, eventVersion: 2 ** 31 - 1 }
      ], { expectedVersion: ExpectedVersion.noStream })
      const events = yield* store.loadEvents(id)
      expect(events.map((event) => event.aggregateId)).toEqual([id, id, id])
      expect((events[0]!.data as { readonly big: string }).big === big).toBe(true)
      expect(events[1]!.data).toEqual({ left: { amount: 1 }, right: { amount: 1 } })
      expect(events[2]!.timestamp.getTime()).toBe(earliest.getTime())
      expect(events[2]!.eventVersion).toBe(2 ** 31 - 1)
      expect(Chunk.size(yield* Stream.runCollect(store.streamEventsByType(aggregateType)))).toBe(3)
    }))
}
