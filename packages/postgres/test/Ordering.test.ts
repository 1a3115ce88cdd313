/**
 * Gap-safe global order on PostgreSQL (docs/guides/postgresql.md, "Why positions look the way
 * they do"): transactions can commit in another order than they took their positions; a reader
 * paging by position must never skip an event that commits later with a lower position, nor read
 * one twice.
 */
import { expect, it } from "@effect/vitest"
import { ExpectedVersion } from "@eventuali/core"
import type { EventStorage } from "@eventuali/core/EventStorage"
import { PgEventStore } from "@eventuali/postgres"
import { SqlEventStore, Tables } from "@eventuali/sql"
import { Deferred, Effect, Fiber, Random, Ref } from "effect"
import Pg from "pg"
import * as Backend from "../src/internal/backend.js"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"

/** The store, its client, and its raw storage (whose `readAll` is what tailing readers page with). */
const setup = Effect.gen(function*() {
  const schema = freshSchema("ord")
  const { client, store } = yield* PgEventStore.make({ url: serverUrl, schema })
  const pool = yield* Effect.acquireRelease(Effect.sync(() => new Pg.Pool({ connectionString: serverUrl })), (pool) => Effect.promise(() => pool.end()))
  const backend = yield* Backend.make(client, pool, { schema, channel: Tables.channel(schema), notifications: undefined, preparedStatements: true })
  const storage = SqlEventStore.makeStorage(backend)
  return { client, store, storage, schema }
})

const event = (n: number) => ({ eventType: "Ticked", data: { n } })

/** Reads everything visible after `cursor`, in pages of `pageSize`, advancing the cursor. */
const pageAll = (storage: EventStorage, cursor: Ref.Ref<bigint>, pageSize: number) =>
  Effect.gen(function*() {
    const seen: Array<{ readonly eventId: string; readonly position: bigint }> = []
    while (true) {
      const page = yield* storage.readAll({ fromPosition: yield* Ref.get(cursor), limit: pageSize })
      for (const e of page) seen.push({ eventId: e.eventId, position: e.position })
      if (page.length > 0) yield* Ref.set(cursor, page[page.length - 1]!.position)
      if (page.length < pageSize) return seen
    }
  })

describePg("PostgreSQL global order", () => {
  it.scoped("a slow transaction with a lower position that commits after a faster one is neither skipped nor read twice", () =>
    Effect.gen(function*() {
      const { client, schema, storage, store } = yield* setup
      const cursor = yield* Ref.make(0n)
      const before = yield* store.append("Clock", "before", [event(0)])
      expect(yield* pageAll(storage, cursor, 10)).toHaveLength(1)

      const slowAppended = yield* Deferred.make<bigint>()
      const releaseSlow = yield* Deferred.make<void>()
      const slow = yield* client.withTransaction(
        Effect.gen(function*() {
          const result = yield* store.append("Clock", "slow", [event(1)])
          yield* Deferred.succeed(slowAppended, result.events[0]!.position)
          yield* Deferred.await(releaseSlow)
          return result
        })
      ).pipe(Effect.fork)
      const slowPosition = yield* Deferred.await(slowAppended)
      const fast = yield* store.append("Clock", "fast", [event(2)])
      const fastPosition = fast.events[0]!.position
      expect(slowPosition < fastPosition).toBe(true)

      // The fast event is committed and visible to a plain query: a reader paging by position
      // alone would take it now and skip the slow one forever.
      const [committed] = yield* client.unsafe<{ readonly n: string }>(
        `SELECT count(*)::text AS n FROM "${schema}".eventuali_events WHERE aggregate_id IN ('slow', 'fast')`
      )
      expect(committed?.n).toBe("1")
      const visibleNow = yield* pageAll(storage, cursor, 10)
      expect(visibleNow).toEqual([]) // the gap-safe reader waits for the slow transaction

      yield* Deferred.succeed(releaseSlow, undefined)
      yield* Fiber.join(slow)
      const afterCommit = yield* pageAll(storage, cursor, 10)
      expect(afterCommit.map((e) => e.position)).toEqual([slowPosition, fastPosition])
      expect(yield* pageAll(storage, cursor, 10)).toEqual([])
      expect(before.events[0]!.position < slowPosition).toBe(true)
    }))

  // it.live: the writers really sleep before committing (the default TestClock would never wake them).
  it.live("16 writers with random commit delays and one paging reader: the reader gets every committed event exactly once, in order", () =>
    Effect.gen(function*() {
      const { client, storage, store } = yield* setup
      const cursor = yield* Ref.make(0n)
      const committed = yield* Ref.make<ReadonlyArray<string>>([])
      const read: Array<{ readonly eventId: string; readonly position: bigint }> = []
      const writersDone = yield* Deferred.make<void>()

      const writer = (w: number) =>
        Effect.forEach(Array.from({ length: 25 }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            const aggregate = `agg-${yield* Random.nextIntBetween(0, 12)}`
            const delay = yield* Random.nextIntBetween(0, 15)
            const count = yield* Random.nextIntBetween(1, 4)
            const events = Array.from({ length: count }, (_, k) => event(w * 1000 + i * 10 + k))
            const result = yield* client.withTransaction(
              Effect.zipLeft(store.append("Load", aggregate, events, { expectedVersion: ExpectedVersion.any }), Effect.sleep(delay))
            )
            yield* Ref.update(committed, (ids) => [...ids, ...result.events.map((e) => e.eventId)])
          }), { discard: true })

      const reader = Effect.gen(function*() {
        while (true) {
          const finished = yield* Deferred.isDone(writersDone)
          read.push(...(yield* pageAll(storage, cursor, 7)))
          if (finished) return
          yield* Effect.sleep(3)
        }
      })

      const readerFiber = yield* Effect.fork(reader)
      yield* Effect.all(Array.from({ length: 16 }, (_, w) => writer(w)), { concurrency: "unbounded", discard: true })
      yield* Deferred.succeed(writersDone, undefined)
      yield* Fiber.join(readerFiber)

      const expected = yield* Ref.get(committed)
      expect(expected.length).toBeGreaterThanOrEqual(16 * 25)
      expect(new Set(read.map((e) => e.eventId)).size).toBe(read.length)
      expect([...read.map((e) => e.eventId)].sort()).toEqual([...expected].sort())
      for (let i = 1; i < read.length; i++) expect(read[i]!.position > read[i - 1]!.position).toBe(true)
      // And the one-shot read agrees with the tailing reader.
      const all = yield* store.loadEventsByType("Load")
      expect(all.map((e) => e.eventId)).toEqual(read.map((e) => e.eventId))
    }).pipe(Effect.scoped), 120_000)
})

describePg("PostgreSQL positions within one transaction", () => {
  it.scoped("several appends in one transaction get distinct, increasing positions (as a process manager's do)", () =>
    Effect.gen(function*() {
      const { client, store } = yield* setup
      const [first, second, third] = yield* client.withTransaction(Effect.all([
        store.append("Tx", "tx-a", [event(1), event(2)]),
        store.append("Tx", "tx-b", [event(3)]),
        store.append("Tx", "tx-a", [event(4)])
      ]))
      const positions = [...first!.events, ...second!.events, ...third!.events].map((e) => e.position)
      for (let i = 1; i < positions.length; i++) expect(positions[i]! > positions[i - 1]!).toBe(true)
      // One transaction: the same high bits.
      expect(new Set(positions.map((p) => p >> 20n)).size).toBe(1)
      expect((yield* store.loadEventsByType("Tx")).map((e) => e.position)).toEqual(positions)
    }))
})

describePg("PostgreSQL concurrency", () => {
  it.scoped("50 concurrent saves at the same version: exactly one wins, the others fail with the real version, and no version is burnt", () =>
    Effect.gen(function*() {
      const { store } = yield* setup
      yield* store.append("Counter", "c-1", [event(0)], { expectedVersion: ExpectedVersion.noStream })
      const results = yield* Effect.all(
        Array.from({ length: 50 }, (_, i) =>
          Effect.either(store.append("Counter", "c-1", [event(i + 1)], { expectedVersion: ExpectedVersion.exact(1) }))),
        { concurrency: "unbounded" }
      )
      const winners = results.filter((r) => r._tag === "Right")
      const losers = results.flatMap((r) => r._tag === "Left" ? [r.left] : [])
      expect(winners).toHaveLength(1)
      expect(losers).toHaveLength(49)
      for (const loser of losers) {
        expect(loser._tag).toBe("OptimisticConcurrencyError")
        if (loser._tag === "OptimisticConcurrencyError") expect(loser.actualVersion).toBe(2)
      }
      const next = yield* store.append("Counter", "c-1", [event(99)], { expectedVersion: ExpectedVersion.exact(2) })
      expect(next.version).toBe(3)
      expect((yield* store.loadEvents("c-1")).map((e) => e.aggregateVersion)).toEqual([1, 2, 3])
    }))

  it.scoped("1,000 aggregates written concurrently through the pool", () =>
    Effect.gen(function*() {
      const { store } = yield* setup
      yield* Effect.all(
        Array.from({ length: 1000 }, (_, i) =>
          store.append("Many", `m-${i}`, [event(i), event(i + 1)], { expectedVersion: ExpectedVersion.noStream })),
        { concurrency: "unbounded", discard: true }
      )
      const all = yield* store.loadEventsByType("Many")
      expect(all).toHaveLength(2000)
      expect(new Set(all.map((e) => e.aggregateId)).size).toBe(1000)
      for (let i = 1; i < all.length; i++) expect(all[i]!.position > all[i - 1]!.position).toBe(true)
    }), 120_000)
})

