/** Invalid input fails with EventStoreError before anything is written. */
import { expect } from "@effect/vitest"
import { Aggregate, type Event } from "@eventuali/core"
import { Effect } from "effect"
import {
  collect,
  deposit,
  expectFailure,
  expectVersion,
  makeAccount,
  Opened,
  openAccount,
  type Test,
  unique
} from "./fixtures.js"

/** Names no backend can store faithfully as text. */
const invalidNames: ReadonlyArray<readonly [string, string]> = [
  ["empty", ""],
  ["with a NUL", "with\u0000nul"],
  ["with a lone surrogate", "lone\ud800surrogate"]
]

const invalidCounts: ReadonlyArray<number> = [-1, 1.5, NaN, Infinity]

export const validation = (test: Test): void => {
  test(
    "an invalid aggregate id fails every operation with EventStoreError",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      for (const [, id] of invalidNames) {
        const opened = Aggregate.apply(Aggregate.empty(account, id), new Opened({ owner: "Ada" }))
        yield* expectFailure(store.save(opened), "EventStoreError")
        yield* expectFailure(store.append(account.type, id, [deposit(1)]), "EventStoreError")
        yield* expectFailure(store.load(account, id), "EventStoreError")
        yield* expectFailure(store.loadOrFail(account, id), "EventStoreError")
        yield* expectFailure(store.loadEvents(id), "EventStoreError")
        yield* expectFailure(store.getAggregateVersion(id), "EventStoreError")
      }
      expect(yield* store.loadEventsByType(account.type)).toEqual([])
    })
  )

  test(
    "an invalid aggregate type fails writes and reads with EventStoreError",
    (store) => Effect.gen(function*() {
      for (const [, aggregateType] of invalidNames) {
        const id = unique("account")
        yield* expectFailure(store.append(aggregateType, id, [deposit(1)]), "EventStoreError")
        const definition = { ...makeAccount(), type: aggregateType }
        yield* expectFailure(
          store.save(Aggregate.apply(Aggregate.empty(definition, id), new Opened({ owner: "Ada" }))),
          "EventStoreError"
        )
        yield* expectVersion(id, 0)
        yield* expectFailure(store.loadEventsByType(aggregateType), "EventStoreError")
        yield* expectFailure(collect(store.streamEventsByType(aggregateType)), "EventStoreError")
      }
    })
  )

  test(
    "an invalid event type or event id fails append with EventStoreError and writes nothing",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      for (const [, name] of invalidNames) {
        const id = unique("account")
        yield* expectFailure(store.append(aggregateType, id, [{ eventType: name, data: {} }]), "EventStoreError")
        yield* expectFailure(
          store.append(aggregateType, id, [deposit(1), deposit(2, { eventId: name })]),
          "EventStoreError"
        )
        const opened = Aggregate.apply(Aggregate.empty(makeAccount(), id), new Opened({ owner: "Ada" }))
        yield* expectFailure(store.save(opened, { eventIds: [name] }), "EventStoreError")
        yield* expectVersion(id, 0)
      }
    })
  )

  test(
    "invalid metadata fails append and save with EventStoreError and writes nothing",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const invalidMetadata: ReadonlyArray<Event.EventMetadataInput> = [
        ...invalidNames.flatMap(([, name]) => [{ correlationId: name }, { causationId: name }, { userId: name }]),
        { headers: { tenant: 42 } as unknown as Record<string, string> },
        { headers: "tenant=acme" as unknown as Record<string, string> }
      ]
      for (const metadata of invalidMetadata) {
        const id = unique("account")
        yield* expectFailure(store.append(aggregateType, id, [deposit(1, { metadata })]), "EventStoreError")
        yield* expectFailure(
          store.save(Aggregate.apply(Aggregate.empty(makeAccount(), id), new Opened({ owner: "Ada" })), metadata),
          "EventStoreError"
        )
        yield* expectVersion(id, 0)
      }
    })
  )

  test(
    "an event version that is not a positive integer or an invalid timestamp fails append with EventStoreError",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const invalidEvents: ReadonlyArray<Event.NewEvent> = [
        ...[0, -1, 1.5, NaN].map((eventVersion) => deposit(1, { eventVersion })),
        deposit(1, { timestamp: new Date(NaN) }),
        deposit(1, { timestamp: "2024-01-01" as unknown as Date })
      ]
      for (const event of invalidEvents) {
        const id = unique("account")
        yield* expectFailure(store.append(aggregateType, id, [event]), "EventStoreError")
        yield* expectVersion(id, 0)
      }
    })
  )

  test(
    "a fromVersion that is negative or not an integer fails loadEvents with EventStoreError",
    (store) => Effect.gen(function*() {
      const saved = yield* openAccount(makeAccount(), [1])
      for (const fromVersion of invalidCounts) {
        yield* expectFailure(store.loadEvents(saved.id, fromVersion), "EventStoreError")
      }
    })
  )

  test(
    "a fromPosition that is negative or not an integer fails reads with EventStoreError",
    (store) => Effect.gen(function*() {
      const saved = yield* openAccount(makeAccount(), [1])
      for (const fromPosition of [-1n, ...invalidCounts]) {
        yield* expectFailure(store.loadEventsByType(saved.type, fromPosition), "EventStoreError")
        yield* expectFailure(collect(store.streamEventsByType(saved.type, { fromPosition })), "EventStoreError")
        yield* expectFailure(collect(store.streamAll({ fromPosition })), "EventStoreError")
      }
    })
  )

  test(
    "a batch size that is not a positive integer fails the streams with EventStoreError",
    (store) => Effect.gen(function*() {
      const saved = yield* openAccount(makeAccount(), [1])
      for (const batchSize of [0, ...invalidCounts]) {
        yield* expectFailure(collect(store.streamEventsByType(saved.type, { batchSize })), "EventStoreError")
        yield* expectFailure(collect(store.streamAll({ batchSize })), "EventStoreError")
      }
    })
  )
}
