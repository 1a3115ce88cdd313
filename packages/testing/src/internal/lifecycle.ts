/** Data lifecycle: delete (soft and hard), restore, truncate and retention, with their races and bad input. */
import { expect } from "@effect/vitest"
import { Aggregate, EventStore, ExpectedVersion, Projection } from "@eventuali/core"
import { Effect, Either, Fiber, Option, Ref, Schema, TestClock } from "effect"
import {
  type Account,
  type AccountEvent,
  type AccountState,
  Deposited,
  deposit,
  evolveAccount,
  expectFailure,
  makeAccount,
  Opened,
  openAccount,
  type Test,
  unique,
  Withdrawn
} from "./fixtures.js"

const TOMBSTONE = "$deleted"
const RESTORED = "$restored"

/** The account aggregate with a snapshot every `every` events. */
const snapshottedAccount = (every: number): Account =>
  Aggregate.make({
    type: unique("Account"),
    events: [Opened, Deposited, Withdrawn],
    initialState: { owner: "", balance: 0, movements: [] } as AccountState,
    evolve: (state: AccountState, event: AccountEvent) => evolveAccount(state, event),
    snapshot: {
      every,
      version: 1,
      schema: Schema.Struct({ owner: Schema.String, balance: Schema.Number, movements: Schema.Array(Schema.Number) })
    }
  })

/** An account with `count` events (an Opened, then deposits of 1, 2, ...): its id. */
const accountWith = (account: Account, count: number) =>
  Effect.map(openAccount(account, Array.from({ length: count - 1 }, (_, i) => i + 1)), (root) => root.id)

/** The events of the aggregate in the global log (what subscribers and projections see). */
const inLog = (store: EventStore.Service, aggregateType: string, aggregateId: string) =>
  Effect.map(
    store.readEvents({ aggregateTypes: [aggregateType], limit: 10_000 }),
    (events) => events.filter((event) => event.aggregateId === aggregateId)
  )

const versionsOf = (events: ReadonlyArray<{ readonly aggregateVersion: number }>) => events.map((event) => event.aggregateVersion)

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i)

export const lifecycle = (test: Test): void => {
  test("a deleted aggregate reads as absent and refuses appends and saves", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const root = yield* openAccount(account, [10, 20])
      const deleted = yield* store.delete(root.id)
      expect(deleted).toEqual({ version: 4, removedEvents: 0 })
      expect(yield* store.load(account, root.id)).toEqual(Option.none())
      expect(yield* store.loadEvents(root.id)).toEqual([])
      expect(yield* store.getAggregateVersion(root.id)).toEqual(Option.none())
      yield* expectFailure(store.loadOrFail(account, root.id), "AggregateNotFoundError")
      const refused = yield* expectFailure(store.append(account.type, root.id, [deposit(5)]), "StreamDeletedError")
      expect(refused.version).toBe(4)
      yield* expectFailure(store.save(Aggregate.apply(root, new Deposited({ amount: 5 }))), "StreamDeletedError")
      // A new aggregate under the same id cannot take its place either.
      yield* expectFailure(
        store.save(Aggregate.apply(Aggregate.empty(account, root.id), new Opened({ owner: "Eve" }))),
        "StreamDeletedError"
      )
      yield* expectFailure(store.truncate(root.id, 2), "StreamDeletedError")
      yield* expectFailure(store.delete(root.id), "StreamDeletedError")
    }))

  test("delete honours the expected version", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const root = yield* openAccount(account, [10])
      const conflict = yield* expectFailure(
        store.delete(root.id, { expectedVersion: ExpectedVersion.exact(1) }),
        "OptimisticConcurrencyError"
      )
      expect(conflict.actualVersion).toBe(2)
      expect(yield* store.getAggregateVersion(root.id)).toEqual(Option.some(2))
      expect(yield* store.delete(root.id, { expectedVersion: ExpectedVersion.exact(2) })).toEqual({ version: 3, removedEvents: 0 })
    }))

  test("a delete and an append racing for the same version: exactly one wins", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      for (let round = 0; round < 10; round++) {
        const root = yield* openAccount(account, [1])
        const [deleted, appended] = yield* Effect.all([
          Effect.either(store.delete(root.id, { expectedVersion: ExpectedVersion.exact(2) })),
          Effect.either(store.append(account.type, root.id, [deposit(7)], { expectedVersion: ExpectedVersion.exact(2) }))
        ], { concurrency: "unbounded" })
        expect([Either.isRight(deleted), Either.isRight(appended)].filter(Boolean)).toHaveLength(1)
        const loserTag = Either.isRight(deleted)
          ? Either.isLeft(appended) && appended.left._tag
          : Either.isLeft(deleted) && deleted.left._tag
        // The append that lost is told the aggregate was deleted; the delete that lost, of the conflict.
        expect(loserTag).toBe(Either.isRight(deleted) ? "StreamDeletedError" : "OptimisticConcurrencyError")
        const loaded = yield* store.load(account, root.id)
        expect(Option.isNone(loaded)).toBe(Either.isRight(deleted))
      }
    }))

  test("a delete without expected version racing appends: the appends after it are refused", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const root = yield* openAccount(account, [1])
      const [deleted, appends] = yield* Effect.all([
        store.delete(root.id),
        Effect.all(range(1, 5).map((amount) => Effect.either(store.append(account.type, root.id, [deposit(amount)]))), {
          concurrency: "unbounded"
        })
      ], { concurrency: "unbounded" })
      const tombstone = deleted.version
      // Every append went in before the tombstone, or was refused after it; versions stay contiguous.
      const log = yield* inLog(store, account.type, root.id)
      expect(versionsOf(log)).toEqual(range(1, tombstone))
      expect(log[log.length - 1]!.eventType).toBe(TOMBSTONE)
      for (const result of appends) {
        if (Either.isLeft(result)) expect(result.left._tag).toBe("StreamDeletedError")
      }
    }))

  test("subscribers and projections receive the deletion once, as a $deleted event in the log", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const kept = yield* openAccount(account, [1])
      const gone = yield* openAccount(account, [2])
      const rows = yield* Ref.make(new Set<string>())
      const notices = yield* Ref.make(0)
      const running = yield* Projection.run(Projection.make({
        name: unique("projection"),
        aggregateTypes: [account.type],
        handle: (event) =>
          event.eventType === TOMBSTONE
            ? Effect.zipRight(Ref.update(notices, (n) => n + 1), Ref.update(rows, (ids) => new Set([...ids].filter((id) => id !== event.aggregateId))))
            : Ref.update(rows, (ids) => new Set([...ids, event.aggregateId]))
      }))
      yield* running.whenCaughtUp
      expect([...(yield* Ref.get(rows))].sort()).toEqual([kept.id, gone.id].sort())
      yield* store.delete(gone.id, { metadata: { userId: "operator", headers: { reason: "closed" } } })
      yield* running.whenCaughtUp
      expect([...(yield* Ref.get(rows))]).toEqual([kept.id])
      expect(yield* Ref.get(notices)).toBe(1)
      const log = yield* inLog(store, account.type, gone.id)
      const tombstones = log.filter((event) => event.eventType === TOMBSTONE)
      expect(tombstones).toHaveLength(1)
      expect(tombstones[0]!.metadata).toMatchObject({ userId: "operator", headers: { reason: "closed" } })
      // Filtering by event type, the notice is asked for by name.
      const filtered = yield* store.readEvents({ aggregateTypes: [account.type], eventTypes: [TOMBSTONE] })
      expect(filtered.map((event) => event.aggregateId)).toEqual([gone.id])
    }).pipe(Effect.scoped))

  test("a hard delete removes the events and the snapshot; only the tombstone stays, and it cannot be restored", (store) =>
    Effect.gen(function*() {
      const account = snapshottedAccount(2)
      const id = yield* accountWith(account, 5)
      const other = yield* accountWith(account, 3)
      const result = yield* store.delete(id, { hard: true })
      expect(result).toEqual({ version: 6, removedEvents: 5 })
      const log = yield* inLog(store, account.type, id)
      expect(log.map((event) => [event.aggregateVersion, event.eventType])).toEqual([[6, TOMBSTONE]])
      expect(yield* store.load(account, id)).toEqual(Option.none())
      expect(yield* store.loadEvents(id)).toEqual([])
      yield* expectFailure(store.append(account.type, id, [deposit(1)]), "StreamDeletedError")
      const refused = yield* expectFailure(store.restore(id), "EventStoreError")
      expect(refused.message).toContain("hard-deleted")
      // Other aggregates are untouched.
      expect(versionsOf(yield* store.loadEvents(other))).toEqual(range(1, 3))
    }))

  test("a hard delete of a soft-deleted aggregate removes what the soft delete hid", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const id = yield* accountWith(account, 3)
      expect(yield* store.delete(id)).toEqual({ version: 4, removedEvents: 0 })
      expect(yield* store.delete(id, { hard: true })).toEqual({ version: 4, removedEvents: 3 })
      expect(versionsOf(yield* inLog(store, account.type, id))).toEqual([4])
      expect(yield* store.delete(id, { hard: true })).toEqual({ version: 4, removedEvents: 0 })
    }))

  test("restore brings a soft-deleted aggregate back, with a $restored notice in place of the tombstone", (store) =>
    Effect.gen(function*() {
      const account = snapshottedAccount(2)
      const root = yield* openAccount(account, [10, 20])
      yield* store.delete(root.id)
      expect(yield* store.restore(root.id)).toEqual({ version: 4 })
      const loaded = Option.getOrThrow(yield* store.load(account, root.id))
      expect(loaded.version).toBe(4)
      expect(loaded.state.balance).toBe(30)
      expect(yield* store.getAggregateVersion(root.id)).toEqual(Option.some(4))
      expect(versionsOf(yield* store.loadEvents(root.id))).toEqual([1, 2, 3])
      const saved = yield* store.save(Aggregate.apply(loaded, new Deposited({ amount: 5 })))
      expect(saved.version).toBe(5)
      expect(Option.getOrThrow(yield* store.load(account, root.id)).state.balance).toBe(35)
      const log = yield* inLog(store, account.type, root.id)
      expect(log.map((event) => event.eventType)).toEqual(["Opened", "Deposited", "Deposited", RESTORED, "Deposited"])
      yield* expectFailure(store.restore(root.id), "EventStoreError")
    }))

  test("delete, restore and truncate of an unknown aggregate fail with StreamNotFoundError", (store) =>
    Effect.gen(function*() {
      const id = unique("nobody")
      expect((yield* expectFailure(store.delete(id), "StreamNotFoundError")).aggregateId).toBe(id)
      yield* expectFailure(store.delete(id, { hard: true }), "StreamNotFoundError")
      yield* expectFailure(store.restore(id), "StreamNotFoundError")
      yield* expectFailure(store.truncate(id, 1), "StreamNotFoundError")
      expect(yield* store.getAggregateVersion(id)).toEqual(Option.none())
    }))

  test("the store's own event types are reserved", (store) =>
    Effect.gen(function*() {
      const type = unique("Account")
      for (const eventType of [TOMBSTONE, RESTORED, "$anything"]) {
        const refused = yield* expectFailure(store.append(type, unique("account"), [{ eventType, data: {} }]), "EventStoreError")
        expect(refused.message).toContain("reserved")
      }
    }))

  test("truncate without a snapshot: load refuses clearly, the rest still reads and appends stay contiguous", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const id = yield* accountWith(account, 6)
      expect(yield* store.truncate(id, 4)).toEqual({ removedEvents: 3 })
      expect(versionsOf(yield* store.loadEvents(id))).toEqual([4, 5, 6])
      expect(yield* store.getAggregateVersion(id)).toEqual(Option.some(6))
      const refused = yield* expectFailure(store.load(account, id), "StreamTruncatedError")
      expect(refused).toMatchObject({ aggregateId: id, firstVersion: 4 })
      expect(refused.message).toContain("truncated")
      yield* store.append(account.type, id, [deposit(100)], { expectedVersion: ExpectedVersion.exact(6) })
      expect(versionsOf(yield* store.loadEvents(id))).toEqual([4, 5, 6, 7])
      // Truncating again before the same version, or before 1, removes nothing.
      expect(yield* store.truncate(id, 4)).toEqual({ removedEvents: 0 })
      expect(yield* store.truncate(id, 1)).toEqual({ removedEvents: 0 })
    }))

  test("truncate with a snapshot: load starts from it and equals the full replay", (store) =>
    Effect.gen(function*() {
      const account = snapshottedAccount(3)
      let root = yield* openAccount(account, [1, 2])
      for (const amount of [3, 4, 5, 6, 7]) root = yield* store.save(Aggregate.apply(root, new Deposited({ amount })))
      const before = Option.getOrThrow(yield* store.load(account, root.id))
      // Version 8; the snapshot is at 6: events before 7 can go.
      expect(yield* store.truncate(root.id, 7)).toEqual({ removedEvents: 6 })
      const after = Option.getOrThrow(yield* store.load(account, root.id))
      expect(after.state).toEqual(before.state)
      expect(after.version).toBe(8)
      // Before 8 is past the snapshot: nothing to start from.
      yield* store.truncate(root.id, 8)
      const refused = yield* expectFailure(store.load(account, root.id), "StreamTruncatedError")
      expect(refused).toMatchObject({ firstVersion: 8, snapshotVersion: 6 })
    }))

  test("truncate refuses versions out of range, changing nothing", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const id = yield* accountWith(account, 3)
      for (const version of [0, -1, 1.5, Number.NaN, 4, 100]) {
        yield* expectFailure(store.truncate(id, version), "EventStoreError")
      }
      expect(versionsOf(yield* store.loadEvents(id))).toEqual([1, 2, 3])
    }))

  test("a truncate racing appends keeps versions contiguous", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const id = yield* accountWith(account, 10)
      yield* Effect.all([
        store.truncate(id, 8),
        ...range(1, 5).map((amount) => store.append(account.type, id, [deposit(amount)]))
      ], { concurrency: "unbounded" })
      expect(versionsOf(yield* store.loadEvents(id))).toEqual(range(8, 15))
    }))

  test("retention by count keeps each stream's newest events, only of the policy's type", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const other = makeAccount()
      const long = yield* accountWith(account, 8)
      const short = yield* accountWith(account, 2)
      const untouched = yield* accountWith(other, 8)
      const report = yield* store.applyRetention({ aggregateType: account.type, maxCount: 3 }, { batchSize: 2 })
      expect(report).toEqual({ aggregateType: account.type, streams: 2, truncatedStreams: 1, removedEvents: 5 })
      expect(versionsOf(yield* store.loadEvents(long))).toEqual([6, 7, 8])
      expect(versionsOf(yield* store.loadEvents(short))).toEqual([1, 2])
      expect(versionsOf(yield* store.loadEvents(untouched))).toEqual(range(1, 8))
      expect(yield* store.applyRetention({ aggregateType: account.type, maxCount: 3 })).toMatchObject({ removedEvents: 0 })
    }))

  test("retention by age removes events older than maxAge, never a stream's newest event (test clock)", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const old = yield* accountWith(account, 3) // at day 0
      const mixed = yield* accountWith(account, 2)
      yield* TestClock.adjust("10 days")
      yield* store.append(account.type, mixed, [deposit(1), deposit(2)])
      yield* TestClock.adjust("1 day")
      const report = yield* store.applyRetention({ aggregateType: account.type, maxAge: "7 days" })
      expect(report).toEqual({ aggregateType: account.type, streams: 2, truncatedStreams: 2, removedEvents: 4 })
      expect(versionsOf(yield* store.loadEvents(old))).toEqual([3])
      expect(versionsOf(yield* store.loadEvents(mixed))).toEqual([3, 4])
      // Both limits: an event goes when either says so.
      yield* TestClock.adjust("1 day")
      yield* store.append(account.type, mixed, [deposit(3), deposit(4), deposit(5)])
      yield* store.applyRetention({ aggregateType: account.type, maxAge: "7 days", maxCount: 2 })
      expect(versionsOf(yield* store.loadEvents(mixed))).toEqual([6, 7])
    }))

  test("a retention run interrupted midway and run again removes nothing twice and keeps versions contiguous", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const ids: Array<string> = []
      for (let i = 0; i < 6; i++) ids.push(yield* accountWith(account, 12))
      const policy = { aggregateType: account.type, maxCount: 2 }
      const fiber = yield* Effect.fork(store.applyRetention(policy, { batchSize: 1 }))
      for (let i = 0; i < 15; i++) yield* Effect.yieldNow()
      yield* Fiber.interrupt(fiber)
      let left = 0
      for (const id of ids) left += (yield* store.loadEvents(id)).length
      const second = yield* store.applyRetention(policy, { batchSize: 1 })
      expect(second.removedEvents).toBe(left - 6 * 2)
      for (const id of ids) expect(versionsOf(yield* store.loadEvents(id))).toEqual([11, 12])
    }))

  test("retention refuses bad policies, removing nothing", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const id = yield* accountWith(account, 4)
      const type = account.type
      const policies: ReadonlyArray<EventStore.RetentionPolicy> = [
          { aggregateType: type },
          { aggregateType: type, maxCount: 0 },
          { aggregateType: type, maxCount: -3 },
          { aggregateType: type, maxCount: 1.5 },
          { aggregateType: type, maxAge: 0 },
          { aggregateType: type, maxAge: -1000 },
          { aggregateType: type, maxAge: "0 seconds" },
          // A string that is no duration, as untyped callers (the CLI, JSON config) can pass.
          { aggregateType: type, maxAge: "soon" as "1 days" },
          { aggregateType: "", maxCount: 1 }
        ]
      for (const policy of policies) {
        yield* expectFailure(store.applyRetention(policy), "EventStoreError")
      }
      yield* expectFailure(store.applyRetention({ aggregateType: type, maxCount: 1 }, { batchSize: 0 }), "EventStoreError")
      expect(versionsOf(yield* store.loadEvents(id))).toEqual(range(1, 4))
    }))

  test("archive moves deleted and idle streams out of the log; reads by aggregate still see every event", (store) =>
    Effect.gen(function*() {
      const account = snapshottedAccount(100)
      const deleted = yield* accountWith(account, 4)
      yield* store.delete(deleted)
      const idle = yield* accountWith(account, 5)
      yield* TestClock.adjust("40 days")
      const live = yield* accountWith(account, 3)
      const before = Option.getOrThrow(yield* store.load(account, idle))
      const report = yield* store.archive({ aggregateType: account.type, idleFor: "30 days" }, { batchSize: 2 })
      expect(report).toEqual({ aggregateType: account.type, streams: 3, archivedStreams: 2, movedEvents: 3 + 4 })
      // The log keeps each archived stream's newest event (and a deleted one's event before the
      // tombstone); the live stream is untouched.
      expect(versionsOf(yield* inLog(store, account.type, deleted))).toEqual([4, 5])
      expect(versionsOf(yield* inLog(store, account.type, idle))).toEqual([5])
      expect(versionsOf(yield* inLog(store, account.type, live))).toEqual([1, 2, 3])
      // Reads by aggregate are as before.
      expect(versionsOf(yield* store.loadEvents(idle))).toEqual(range(1, 5))
      expect(versionsOf(yield* store.loadEvents(idle, 2))).toEqual([3, 4, 5])
      expect(Option.getOrThrow(yield* store.load(account, idle))).toEqual(before)
      expect(yield* store.load(account, deleted)).toEqual(Option.none())
      // An archived idle stream takes appends; its versions continue.
      yield* store.append(account.type, idle, [deposit(9)], { expectedVersion: ExpectedVersion.exact(5) })
      expect(versionsOf(yield* store.loadEvents(idle))).toEqual(range(1, 6))
      expect(Option.getOrThrow(yield* store.load(account, idle)).state.balance).toBe(before.state.balance + 9)
      // Archiving again moves nothing twice; deleted streams are archived without idleFor.
      expect(yield* store.archive({ aggregateType: account.type })).toMatchObject({ archivedStreams: 0, movedEvents: 0 })
    }))

  test("archive moves the older event of an idle two-event stream and keeps a deleted one-event stream whole", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const idle = yield* accountWith(account, 2)
      const deleted = yield* accountWith(account, 1)
      yield* store.delete(deleted)
      yield* TestClock.adjust("40 days")
      const report = yield* store.archive({ aggregateType: account.type, idleFor: "30 days" })
      expect(report).toEqual({ aggregateType: account.type, streams: 2, archivedStreams: 1, movedEvents: 1 })
      expect(versionsOf(yield* inLog(store, account.type, idle))).toEqual([2])
      expect(versionsOf(yield* inLog(store, account.type, deleted))).toEqual([1, 2])
      expect(versionsOf(yield* store.loadEvents(idle))).toEqual([1, 2])
    }))

  test("restore, truncate and hard delete reach archived events", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const soft = yield* accountWith(account, 4)
      const hard = yield* accountWith(account, 4)
      yield* store.delete(soft)
      yield* store.delete(hard)
      expect(yield* store.archive({ aggregateType: account.type })).toMatchObject({ archivedStreams: 2, movedEvents: 6 })
      yield* store.restore(soft)
      expect(Option.getOrThrow(yield* store.load(account, soft)).state.balance).toBe(1 + 2 + 3)
      expect(yield* store.truncate(soft, 3)).toEqual({ removedEvents: 2 })
      expect(versionsOf(yield* store.loadEvents(soft))).toEqual([3, 4])
      expect(yield* store.delete(hard, { hard: true })).toEqual({ version: 5, removedEvents: 4 })
      expect(versionsOf(yield* inLog(store, account.type, hard))).toEqual([5])
      yield* expectFailure(store.restore(hard), "EventStoreError")
    }))

  test("archive while writers append to live streams of the same type: nothing lost, versions contiguous", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const closed: Array<string> = []
      for (let i = 0; i < 5; i++) {
        const id = yield* accountWith(account, 6)
        yield* store.delete(id)
        closed.push(id)
      }
      const live = yield* accountWith(account, 1)
      yield* Effect.all([
        store.archive({ aggregateType: account.type }, { batchSize: 2 }),
        Effect.forEach(range(1, 20), (amount) => store.append(account.type, live, [deposit(amount)]), { discard: true })
      ], { concurrency: "unbounded" })
      expect(versionsOf(yield* store.loadEvents(live))).toEqual(range(1, 21))
      expect(versionsOf(yield* inLog(store, account.type, live))).toEqual(range(1, 21))
      for (const id of closed) expect(versionsOf(yield* inLog(store, account.type, id))).toEqual([6, 7])
    }))

  test("archived events keep their ids and their stream its versions: retries succeed, reused ids and stale expected versions are refused", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const id = unique("account")
      const withId = (amount: number) => deposit(amount, { eventId: unique("event") })
      const first = [withId(1), withId(2)]
      const written = yield* store.append(account.type, id, first, { expectedVersion: ExpectedVersion.noStream })
      yield* store.append(account.type, id, [withId(3)], { expectedVersion: ExpectedVersion.exact(2) })
      yield* TestClock.adjust("40 days")
      expect(yield* store.archive({ aggregateType: account.type, idleFor: "30 days" })).toMatchObject({ archivedStreams: 1, movedEvents: 2 })
      expect(versionsOf(yield* inLog(store, account.type, id))).toEqual([3])
      // An idempotent retry of an archived append succeeds with what it wrote, writing nothing,
      // also with no expected version (which the hot table alone would have let through).
      for (const expectedVersion of [ExpectedVersion.noStream, ExpectedVersion.any]) {
        const retry = yield* store.append(account.type, id, first, { expectedVersion })
        expect(retry.version).toBe(2)
        expect(retry.events.map((event) => event.position)).toEqual(written.events.map((event) => event.position))
      }
      expect(versionsOf(yield* store.loadEvents(id))).toEqual([1, 2, 3])
      // No new event takes an archived id: on the same stream, or on another aggregate.
      const ids = first.map((event) => event.eventId)
      yield* expectFailure(store.append(account.type, id, [withId(9), deposit(9, { eventId: ids[0] })]), "EventStoreError")
      yield* expectFailure(store.append(account.type, unique("account"), [deposit(9, { eventId: ids[1] })]), "EventStoreError")
      // The archived stream's version holds: stale expectations conflict, the right one appends at 4.
      for (const expectedVersion of [ExpectedVersion.noStream, ExpectedVersion.exact(2)]) {
        const conflict = yield* expectFailure(store.append(account.type, id, [withId(4)], { expectedVersion }), "OptimisticConcurrencyError")
        expect(conflict.actualVersion).toBe(3)
      }
      expect((yield* store.append(account.type, id, [withId(4)], { expectedVersion: ExpectedVersion.exact(3) })).version).toBe(4)
      expect(versionsOf(yield* store.loadEvents(id))).toEqual([1, 2, 3, 4])
      // Removing an archived event (truncate) frees its id, as removing a live one does.
      expect(yield* store.truncate(id, 3)).toEqual({ removedEvents: 2 })
      expect((yield* store.append(account.type, unique("account"), [deposit(9, { eventId: ids[0] })])).version).toBe(1)
    }))

  test("archive refuses bad policies, moving nothing", (store) =>
    Effect.gen(function*() {
      const account = makeAccount()
      const id = yield* accountWith(account, 3)
      yield* store.delete(id)
      const policies: ReadonlyArray<EventStore.ArchivePolicy> = [
        { aggregateType: account.type, idleFor: 0 },
        { aggregateType: account.type, idleFor: "-1 days" as "1 days" },
        { aggregateType: "" }
      ]
      for (const policy of policies) yield* expectFailure(store.archive(policy), "EventStoreError")
      yield* expectFailure(store.archive({ aggregateType: account.type }, { batchSize: -1 }), "EventStoreError")
      expect(versionsOf(yield* inLog(store, account.type, id))).toEqual([1, 2, 3, 4])
    }))
}
