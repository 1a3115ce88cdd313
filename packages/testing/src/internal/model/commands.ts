/**
 * Programs of store operations, as plain data fast-check generates and shrinks: indexes into the
 * program's pools of names (resolved by the runner), expectations relative to the model's
 * current version, positions as indexes into the log.
 */
import { FastCheck as fc } from "effect"

/** An expectation: `Current` is exact(current version + delta), resolved when the command runs. */
export type ExpectedSpec =
  | { readonly _tag: "Any" }
  | { readonly _tag: "NoStream" }
  | { readonly _tag: "StreamExists" }
  | { readonly _tag: "Current"; readonly delta: number }
  | { readonly _tag: "Exact"; readonly version: number }

export interface EventSpec {
  /** Index into the event types ("Deposited", "Withdrawn", "Noted", and "" which is invalid). */
  readonly eventType: number
  readonly data: unknown
  /** Index into the program's event ids; `undefined`: the store picks one. */
  readonly eventId: number | undefined
  readonly eventVersion: number | undefined
  readonly timestamp: number | undefined
  readonly metadata: MetadataSpec | undefined
}

export interface MetadataSpec {
  readonly correlationId?: string
  readonly causationId?: string
  readonly userId?: string
  readonly headers?: Readonly<Record<string, string>>
}

export type Command =
  | {
    readonly _tag: "Append"
    readonly aggregateType: number
    readonly aggregateId: number
    readonly expected: ExpectedSpec
    readonly events: ReadonlyArray<EventSpec>
  }
  | {
    readonly _tag: "Save"
    readonly definition: number
    readonly aggregateId: number
    /** The root's committed version: the model's current version plus this (at least 0). */
    readonly base: number
    readonly events: ReadonlyArray<{ readonly deposit: boolean; readonly amount: number; readonly eventId: number }>
    /** Whether the save names its event ids (retries are idempotent) or lets the store pick them. */
    readonly withIds: boolean
    readonly metadata: MetadataSpec | undefined
  }
  /** Repeats an earlier append or save exactly (same ids, same expectation, same root). */
  | { readonly _tag: "Retry"; readonly index: number }
  | { readonly _tag: "Load"; readonly definition: number; readonly aggregateId: number; readonly orFail: boolean }
  | { readonly _tag: "LoadEvents"; readonly aggregateId: number; readonly fromVersion: number }
  | { readonly _tag: "GetVersion"; readonly aggregateId: number }
  /** `loadEventsByType`, or `streamEventsByType` in pages of `batchSize` when given. */
  | { readonly _tag: "ByType"; readonly aggregateType: number; readonly from: number; readonly batchSize: number | undefined }
  /** `readEvents`; `aggregateTypes` and `eventTypes` are bit masks over the program's types. */
  | {
    readonly _tag: "ReadEvents"
    readonly from: number
    readonly limit: number
    readonly aggregateTypes: number
    readonly eventTypes: number
  }
  /** `subscribe(...)` taking `take` events (at most those stored: a subscription waits for more). */
  | {
    readonly _tag: "Subscribe"
    readonly from: number
    readonly take: number
    readonly batchSize: number
    readonly aggregateTypes: number
    readonly eventTypes: number
  }
  | { readonly _tag: "Register"; readonly eventType: number }
  | { readonly _tag: "Unregister"; readonly eventType: number }
  /** Moves the test clock, so timestamps differ. */
  | { readonly _tag: "Tick"; readonly millis: number }

/** How many aggregate ids, event ids and aggregate types a program draws from. */
export const POOL = { aggregateIds: 4, eventIds: 20, aggregateTypes: 2 } as const

/** Event types by index; the last is invalid. */
export const EVENT_TYPES = ["Deposited", "Withdrawn", "Noted", ""] as const

/** Mostly one of the pool's ids; sometimes the invalid empty id (index `POOL.aggregateIds`). */
const aggregateId = fc.oneof(
  { weight: 30, arbitrary: fc.integer({ min: 0, max: POOL.aggregateIds - 1 }) },
  { weight: 1, arbitrary: fc.constant(POOL.aggregateIds) }
)
const aggregateType = fc.integer({ min: 0, max: POOL.aggregateTypes - 1 })
const eventId = fc.integer({ min: 0, max: POOL.eventIds - 1 })

const expected: fc.Arbitrary<ExpectedSpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ _tag: "Any" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "NoStream" as const }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "StreamExists" as const }) },
  { weight: 5, arbitrary: fc.record({ _tag: fc.constant("Current" as const), delta: fc.integer({ min: -2, max: 1 }) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Exact" as const), version: fc.integer({ min: 0, max: 6 }) }) }
)

/** Mostly printable text, sometimes a NUL or a lone surrogate (which no store may accept). */
const text = (maxLength: number) =>
  fc.string({
    maxLength,
    unit: fc.oneof(
      { weight: 150, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
      { weight: 1, arbitrary: fc.constantFrom("\u0000", "\ud800", "\udfff") }
    )
  })

const amount = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, Number.MAX_SAFE_INTEGER, Number.MIN_VALUE, Number.MAX_VALUE, 0.1)
)

/** Amounts of saved events: their schema takes any number, but JSON cannot hold NaN, Infinity or -0 (which `amount` gives). */
const saveAmount = fc.oneof(
  { weight: 20, arbitrary: amount },
  { weight: 1, arbitrary: fc.constantFrom(NaN, Infinity, -Infinity) }
)

/** Payloads: mostly `{ amount }`, sometimes one that a schema rejects, or any JSON at all. */
const data: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ amount }) },
  { weight: 1, arbitrary: fc.record({ amount: fc.string({ maxLength: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ note: text(12) }) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3, stringUnit: "binary" }) }
)

const metadata: fc.Arbitrary<MetadataSpec> = fc.record(
  {
    correlationId: fc.oneof({ weight: 8, arbitrary: fc.constantFrom("corr-1", "corr-2") }, { weight: 1, arbitrary: text(6) }),
    causationId: fc.constantFrom("cause-1", "cause-2"),
    userId: fc.constantFrom("user-1", "ユーザー"),
    headers: fc.dictionary(fc.string({ maxLength: 4 }), text(8), { maxKeys: 2 })
  },
  { requiredKeys: [] }
)

/** Timestamps from year 1 to 9999, as milliseconds. */
const timestamp = fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 })

const event: fc.Arbitrary<EventSpec> = fc.record({
  eventType: fc.oneof(
    { weight: 30, arbitrary: fc.integer({ min: 0, max: EVENT_TYPES.length - 2 }) },
    { weight: 1, arbitrary: fc.constant(EVENT_TYPES.length - 1) }
  ),
  data,
  eventId: fc.option(eventId, { nil: undefined, freq: 4 }),
  eventVersion: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  timestamp: fc.option(timestamp, { nil: undefined, freq: 3 }),
  metadata: fc.option(metadata, { nil: undefined, freq: 2 })
})

const typeMask = fc.integer({ min: 1, max: 2 ** POOL.aggregateTypes - 1 })
const eventTypeMask = fc.integer({ min: 0, max: 2 ** (EVENT_TYPES.length - 1) - 1 })
const position = fc.nat({ max: 40 })

/** One command, weighted towards writes that conflict, retry and succeed. */
export const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      _tag: fc.constant("Append" as const),
      aggregateType,
      aggregateId,
      expected,
      events: fc.array(event, { maxLength: 4 })
    })
  },
  {
    weight: 6,
    arbitrary: fc.record({
      _tag: fc.constant("Save" as const),
      definition: aggregateType,
      aggregateId,
      base: fc.integer({ min: -2, max: 1 }),
      events: fc.array(fc.record({ deposit: fc.boolean(), amount: saveAmount, eventId }), { maxLength: 3 }),
      withIds: fc.boolean(),
      metadata: fc.option(metadata, { nil: undefined })
    })
  },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("Retry" as const), index: fc.nat() }) },
  {
    weight: 3,
    arbitrary: fc.record({ _tag: fc.constant("Load" as const), definition: aggregateType, aggregateId, orFail: fc.boolean() })
  },
  {
    weight: 2,
    arbitrary: fc.record({ _tag: fc.constant("LoadEvents" as const), aggregateId, fromVersion: fc.integer({ min: 0, max: 5 }) })
  },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("GetVersion" as const), aggregateId }) },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("ByType" as const),
      aggregateType,
      from: position,
      batchSize: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined })
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("ReadEvents" as const),
      from: position,
      limit: fc.integer({ min: 1, max: 6 }),
      aggregateTypes: typeMask,
      eventTypes: eventTypeMask
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("Subscribe" as const),
      from: position,
      take: fc.integer({ min: 1, max: 8 }),
      batchSize: fc.integer({ min: 1, max: 4 }),
      aggregateTypes: typeMask,
      eventTypes: eventTypeMask
    })
  },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Register" as const), eventType: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Unregister" as const), eventType: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("Tick" as const), millis: fc.integer({ min: 1, max: 86_400_000 }) }) }
)

/** A program of at most `maxCommands` commands. */
export const program = (maxCommands: number): fc.Arbitrary<ReadonlyArray<Command>> =>
  fc.array(command, { maxLength: maxCommands, size: "max" })
