/**
 * Schema evolution: payloads stored at older versions are upcast to the current one on every
 * read, never rewritten; `save` writes the current version; failing upcasters are typed errors.
 */
import { expect } from "@effect/vitest"
import { Aggregate, Upcaster } from "@eventuali/core"
import { Effect, Option, ParseResult, Schema, Stream } from "effect"
import { collect, Deposited, deposit, expectFailure, type Test, unique } from "./fixtures.js"

// Version 1 stored { owner: "Ada Lovelace" }; version 2 split the name; version 3 added a currency.
const OpenedV1 = Schema.Struct({ owner: Schema.String })
const OpenedV2 = Schema.Struct({ firstName: Schema.String, lastName: Schema.String })

const v1 = { owner: "Ada King Lovelace" }
const v2 = { firstName: "Ada", lastName: "King Lovelace" }
const v3 = { firstName: "Ada", lastName: "King Lovelace", currency: "GBP" }
/** What every version reads as. */
const current = { firstName: "Ada", lastName: "King Lovelace" }

/**
 * A versioned event under an event type of its own, the aggregate that uses it, and a version
 * 2 → 3 upcaster that refuses first names it cannot place (to test failing upcasters).
 */
const makeVersioned = () => {
  class AccountOpened extends Schema.TaggedClass<AccountOpened>()(unique("AccountOpened"), {
    firstName: Schema.String,
    lastName: Schema.String,
    currency: Schema.String
  }) {}
  const AccountOpenedV3 = Upcaster.versioned(AccountOpened, [
    Upcaster.make(OpenedV1, ({ owner }) => {
      const [firstName = "", ...rest] = owner.split(" ")
      return { firstName, lastName: rest.join(" ") }
    }),
    Schema.transformOrFail(OpenedV2, Schema.Struct({ ...OpenedV2.fields, currency: Schema.String }), {
      strict: true,
      decode: (payload, _, ast) =>
        payload.firstName === "Nobody"
          ? ParseResult.fail(new ParseResult.Type(ast, payload, "no currency is known for Nobody"))
          : ParseResult.succeed({ ...payload, currency: "GBP" }),
      encode: ({ currency: _, ...payload }) => ParseResult.succeed(payload)
    })
  ])
  const Account = Aggregate.make({
    type: unique("Account"),
    events: [AccountOpenedV3, Deposited],
    initialState: { firstName: "", lastName: "", currency: "", balance: 0 },
    evolve: (state, event) =>
      event instanceof Deposited
        ? { ...state, balance: state.balance + event.amount }
        : { ...state, firstName: event.firstName, lastName: event.lastName, currency: event.currency }
  })
  return { AccountOpened, AccountOpenedV3, Account }
}

export const upcasting = (test: Test): void => {
  test("load folds events stored at versions 1, 2 and 3 as version 3", (store) =>
    Effect.gen(function*() {
      const { AccountOpened, Account } = makeVersioned()
      for (const [eventVersion, data] of [[1, v1], [2, v2], [3, v3]] as const) {
        const id = unique("account")
        yield* store.append(Account.type, id, [{ eventType: AccountOpened._tag, eventVersion, data }, deposit(5)])
        const loaded = Option.getOrThrow(yield* store.load(Account, id))
        expect(loaded.version, `stored at version ${eventVersion}`).toBe(2)
        expect(loaded.state, `stored at version ${eventVersion}`).toEqual({ ...current, currency: "GBP", balance: 5 })
      }
    }))

  test(
    "loadEvents, loadEventsByType, the streams and readEvents decode version 1 as version 3 with the registered schema",
    (store) =>
      Effect.gen(function*() {
        const { AccountOpened, AccountOpenedV3, Account } = makeVersioned()
        yield* store.registerEventClass(AccountOpened._tag, AccountOpenedV3)
        const id = unique("account")
        const appended = yield* store.append(Account.type, id, [{ eventType: AccountOpened._tag, eventVersion: 1, data: v1 }])
        const from = appended.events[0]!.position - 1n
        const reads = [
          yield* store.loadEvents(id),
          yield* store.loadEventsByType(Account.type),
          yield* collect(store.streamEventsByType(Account.type)),
          (yield* collect(store.streamAll({ fromPosition: from }))).filter((event) => event.aggregateId === id),
          yield* store.readEvents({ fromPosition: from, aggregateTypes: [Account.type] })
        ]
        for (const events of reads) {
          expect(events).toHaveLength(1)
          const [event] = events
          expect(event!.data).toBeInstanceOf(AccountOpened)
          expect(event!.data).toStrictEqual(new AccountOpened({ ...current, currency: "GBP" }))
          // The envelope says how the event is stored.
          expect(event!.eventVersion).toBe(1)
        }
      })
  )

  test("subscribe delivers events stored at version 1 as version 3", (store) =>
    Effect.gen(function*() {
      const { AccountOpened, AccountOpenedV3, Account } = makeVersioned()
      yield* store.registerEventClass(AccountOpened._tag, AccountOpenedV3)
      yield* store.append(Account.type, unique("account"), [{ eventType: AccountOpened._tag, eventVersion: 1, data: v1 }])
      yield* store.append(Account.type, unique("account"), [{ eventType: AccountOpened._tag, eventVersion: 2, data: v2 }])
      const events = yield* collect(store.subscribe({ aggregateTypes: [Account.type] }).pipe(Stream.take(2)))
      expect(events.map((event) => event.eventVersion)).toEqual([1, 2])
      for (const event of events) expect(event.data).toStrictEqual(new AccountOpened({ ...current, currency: "GBP" }))
    }))

  test("a renamed event type, registered as an alias, upcasts too (load and the registry reads)", (store) =>
    Effect.gen(function*() {
      const { AccountOpened, AccountOpenedV3, Account } = makeVersioned()
      const oldName = unique("account.opened")
      yield* store.registerEventClass(oldName, AccountOpenedV3)
      const id = unique("account")
      yield* store.append(Account.type, id, [{ eventType: oldName, eventVersion: 1, data: v1 }, deposit(7)])
      const loaded = Option.getOrThrow(yield* store.load(Account, id))
      expect(loaded.state).toEqual({ ...current, currency: "GBP", balance: 7 })
      const [event] = yield* store.loadEvents(id)
      expect(event!.eventType).toBe(oldName)
      expect(event!.data).toStrictEqual(new AccountOpened({ ...current, currency: "GBP" }))
    }))

  test("save writes the current version, and stored payloads are never rewritten by reads", (store) =>
    Effect.gen(function*() {
      const { AccountOpened, AccountOpenedV3, Account } = makeVersioned()
      const saved = unique("account")
      yield* store.save(Aggregate.apply(Aggregate.empty(Account, saved), new AccountOpened({ ...current, currency: "EUR" })))
      const [written] = yield* store.loadEvents(saved)
      expect(written!.eventVersion).toBe(3)
      expect(written!.data).toEqual({ ...current, currency: "EUR" })
      expect(Upcaster.currentVersion(AccountOpenedV3)).toBe(3)
      expect(Upcaster.currentVersion(AccountOpened)).toBe(1)

      const old = unique("account")
      yield* store.append(Account.type, old, [{ eventType: AccountOpened._tag, eventVersion: 1, data: v1 }])
      yield* store.load(Account, old)
      yield* store.registerEventClass(AccountOpened._tag, AccountOpenedV3)
      yield* store.loadEvents(old)
      yield* store.unregisterEventClass(AccountOpened._tag)
      const [raw] = yield* store.loadEvents(old)
      expect(raw!.eventVersion).toBe(1)
      expect(raw!.data).toEqual(v1)
    }))

  test("an upcaster that fails is a SerializationError naming the event type and the version", (store) =>
    Effect.gen(function*() {
      const { AccountOpened, AccountOpenedV3, Account } = makeVersioned()
      // Version 1 payload without `owner`: the first upcaster cannot read it.
      const missing = unique("account")
      yield* store.append(Account.type, missing, [{ eventType: AccountOpened._tag, eventVersion: 1, data: { name: "Ada" } }])
      const first = yield* expectFailure(store.load(Account, missing), "SerializationError")
      expect(first.eventType).toBe(AccountOpened._tag)
      expect(first.message).toMatch(/stored at version 1: upcasting version 1 to 2 failed/)
      expect(first.message).toMatch(/owner/)

      // Version 2 payload the second upcaster refuses: through load, the registry reads and subscribe.
      const refused = unique("account")
      yield* store.append(Account.type, refused, [{
        eventType: AccountOpened._tag,
        eventVersion: 2,
        data: { firstName: "Nobody", lastName: "Known" }
      }])
      yield* store.registerEventClass(AccountOpened._tag, AccountOpenedV3)
      const failures = [
        yield* expectFailure(store.load(Account, refused), "SerializationError"),
        yield* expectFailure(store.loadEvents(refused), "SerializationError"),
        yield* expectFailure(
          collect(store.subscribe({ aggregateTypes: [Account.type] }).pipe(Stream.take(2))),
          "SerializationError"
        )
      ]
      for (const error of failures) expect(error.eventType).toBe(AccountOpened._tag)
      expect(failures[0]!.message).toMatch(/stored at version 2: upcasting version 2 to 3 failed/)
      expect(failures[0]!.message).toMatch(/no currency is known for Nobody/)
      expect(failures[1]!.message).toMatch(/version 2/)
    }))

  test("a payload stored at a version newer than its schema's is a SerializationError", (store) =>
    Effect.gen(function*() {
      const { AccountOpened, Account } = makeVersioned()
      const id = unique("account")
      yield* store.append(Account.type, id, [{ eventType: AccountOpened._tag, eventVersion: 4, data: v3 }])
      const error = yield* expectFailure(store.load(Account, id), "SerializationError")
      expect(error.eventType).toBe(AccountOpened._tag)
      expect(error.message).toMatch(/stored at version 4, newer than the current version 3/)
    }))

  test("a schema that declares no versions reads every stored version as it is", (store) =>
    Effect.gen(function*() {
      const { Account } = makeVersioned()
      const id = unique("account")
      yield* store.append(Account.type, id, [deposit(2, { eventVersion: 1 }), deposit(3, { eventVersion: 7 })])
      expect(Option.getOrThrow(yield* store.load(Account, id)).state.balance).toBe(5)
    }))
}
