/**
 * What the conformance tests share: the shape of a test, unique names, the aggregates and
 * events the tests use, and assertions on failures and on what a store holds.
 */
import { assert, expect } from "@effect/vitest"
import { Aggregate, EventStore, type Event, type ProjectionStore } from "@eventuali/core"
import { Chunk, Effect, Either, Inspectable, Option, Schema, Stream, type TestServices } from "effect"

/** A test body: runs against the store the backend's layer provides (and the test clock). */
export type Body = (
  store: EventStore.Service
) => Effect.Effect<void, unknown, EventStore.EventStore | ProjectionStore.ProjectionStore | TestServices.TestServices>

/** Declares one test. */
export type Test = (title: string, body: Body) => void

/**
 * A name no other test, run or process uses. Every aggregate id, aggregate type and registered
 * event type goes through it, so the suite also passes on a store shared across tests and runs.
 */
export const unique = (prefix: string): string => `${prefix}-${crypto.randomUUID()}`

// --- The account aggregate ------------------------------------------------------------------

export class Opened extends Schema.TaggedClass<Opened>()("Opened", { owner: Schema.String }) {}
export class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Positive }) {}
export class Withdrawn extends Schema.TaggedClass<Withdrawn>()("Withdrawn", { amount: Schema.Number }) {}

export type AccountEvent = Opened | Deposited | Withdrawn

export interface AccountState {
  readonly owner: string
  readonly balance: number
  /** Every amount, in order: a fold that loses or reorders an event shows here. */
  readonly movements: ReadonlyArray<number>
}

/** The account's fold. */
export const evolveAccount = (state: AccountState, event: AccountEvent): AccountState => {
  switch (event._tag) {
    case "Opened":
      return { ...state, owner: event.owner }
    case "Deposited":
      return { ...state, balance: state.balance + event.amount, movements: [...state.movements, event.amount] }
    case "Withdrawn":
      return { ...state, balance: state.balance - event.amount, movements: [...state.movements, -event.amount] }
  }
}

const initialAccount: AccountState = { owner: "", balance: 0, movements: [] }

/** A bank account aggregate under an aggregate type of its own. */
export const makeAccount = (): Aggregate.Definition<AccountState, AccountEvent> =>
  Aggregate.make({
    type: unique("Account"),
    events: [Opened, Deposited, Withdrawn],
    initialState: initialAccount,
    evolve: evolveAccount
  })

export type Account = Aggregate.Definition<AccountState, AccountEvent>

/** Saves a new account with an `Opened` event, then one `Deposited` per amount, in one save. */
export const openAccount = (
  account: Account,
  deposits: ReadonlyArray<number> = [],
  id: string = unique("account")
) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    store.save(
      Aggregate.applyAll(Aggregate.empty(account, id), [
        new Opened({ owner: "Ada" }),
        ...deposits.map((amount) => new Deposited({ amount }))
      ])
    ))

/** A raw `Deposited` event, as `append` takes it. */
export const deposit = (amount: number, fields: Omit<Event.NewEvent, "eventType" | "data"> = {}): Event.NewEvent => ({
  eventType: "Deposited",
  data: { amount },
  ...fields
})

/** Appends one raw event per amount to fresh aggregates of `aggregateType`; returns the event ids. */
export const appendEach = (aggregateType: string, amounts: ReadonlyArray<number>, eventType = "Deposited") =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const ids: Array<string> = []
    for (const amount of amounts) {
      const eventId = unique("event")
      yield* store.append(aggregateType, unique("account"), [{ ...deposit(amount, { eventId }), eventType }])
      ids.push(eventId)
    }
    return ids
  })

// --- Assertions -------------------------------------------------------------------------------

type Tagged = { readonly _tag: string }

/** A value for a failure message, cut short: payloads in this suite can be a megabyte. */
const preview = (value: unknown): string => {
  const text = Inspectable.toStringUnknown(value)
  return text.length > 500 ? `${text.slice(0, 500)}…` : text
}

const hasTag = <E extends Tagged, Tag extends string>(
  error: E,
  tag: Tag
): error is Extract<E, { readonly _tag: Tag }> => error._tag === tag

/** Asserts `error` is the tagged error `tag` and narrows it. */
export const assertTag = <E extends Tagged, const Tag extends E["_tag"]>(
  error: E,
  tag: Tag
): Extract<E, { readonly _tag: Tag }> => {
  if (hasTag(error, tag)) return error
  return assert.fail(`expected a ${tag}, got a ${error._tag}: ${preview(error)}`)
}

/** Runs `effect`, expecting it to fail with the tagged error `tag`; succeeds with that error. */
export const expectFailure = <A, E extends Tagged, R, const Tag extends E["_tag"]>(
  effect: Effect.Effect<A, E, R>,
  tag: Tag
): Effect.Effect<Extract<E, { readonly _tag: Tag }>, never, R> =>
  Effect.map(Effect.either(effect), (result) =>
    Either.match(result, {
      onLeft: (error) => assertTag(error, tag),
      onRight: (value) => assert.fail(`expected a ${tag}, but it succeeded with ${preview(value)}`)
    }))

/** Collects a stream into an array. */
export const collect = <A, E, R>(stream: Stream.Stream<A, E, R>): Effect.Effect<ReadonlyArray<A>, E, R> =>
  Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

/** Asserts the aggregate holds exactly `version` events (0: none at all). */
export const expectVersion = (aggregateId: string, version: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    expect(yield* store.getAggregateVersion(aggregateId)).toEqual(version === 0 ? Option.none() : Option.some(version))
    const events = yield* store.loadEvents(aggregateId)
    expect(events.map((event) => event.aggregateVersion)).toEqual(Array.from({ length: version }, (_, i) => i + 1))
  })

/** Asserts each position is greater than the one before. */
export const expectStrictlyIncreasing = (positions: ReadonlyArray<bigint>): void => {
  for (let i = 1; i < positions.length; i++) {
    assert.isTrue(positions[i]! > positions[i - 1]!, `position ${positions[i]} follows ${positions[i - 1]}`)
  }
}

/** The event ids of envelopes or new events, in order. */
export const idsOf = (
  events: ReadonlyArray<{ readonly eventId?: string | undefined }>
): ReadonlyArray<string | undefined> => events.map((event) => event.eventId)
