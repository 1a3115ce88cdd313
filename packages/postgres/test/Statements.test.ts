/**
 * How the store runs its own statements (`internal/statements.ts`): named, prepared once per
 * connection, outside a caller's transaction; unnamed with `preparedStatements: false`; and on
 * the caller's transaction's connection inside one.
 */
import { expect, it } from "@effect/vitest"
import { Aggregate, ExpectedVersion } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import * as SqlBackend from "@eventuali/sql/SqlBackend"
import { Effect, Option, Schema } from "effect"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"

class Counted extends Schema.TaggedClass<Counted>()("Counted", { n: Schema.Number }) {}
const Counter = Aggregate.make({ type: "Counter", events: [Counted], initialState: 0, evolve: (total: number, event: Counted) => total + event.n })

/** Saves and loads through a store with one connection, listing that connection's statements after each round. */
const preparedAfterUse = (preparedStatements: boolean | undefined) =>
  Effect.gen(function*() {
    const { client, store } = yield* PgEventStore.make({ url: serverUrl, schema: freshSchema("stmt"), maxConnections: 1, preparedStatements })
    const prepared = client<{ readonly name: string }>`SELECT name FROM pg_prepared_statements WHERE name LIKE 'eventuali%' ORDER BY name`
    const rounds: Array<ReadonlyArray<string>> = []
    for (const round of ["a", "b"]) {
      for (let i = 0; i < 3; i++) {
        yield* store.save(Aggregate.apply(Aggregate.empty(Counter, `${round}-${i}`), new Counted({ n: i })))
        const loaded = yield* store.load(Counter, `${round}-${i}`)
        expect(Option.map(loaded, (root) => root.state)).toEqual(Option.some(i))
      }
      // The notifier's statement runs in its own fiber: let it be sent.
      yield* Effect.sleep("50 millis")
      rounds.push((yield* prepared).map((row) => row.name))
    }
    return rounds
  })

describePg("PostgreSQL statements", () => {
  it.scopedLive("the store's appends and reads are prepared once on a connection and reused", () =>
    Effect.gen(function*() {
      // The append, the read of a stream and the notification; the second round adds none.
      const [first, second] = yield* preparedAfterUse(undefined)
      expect(first).toHaveLength(3)
      for (const name of first) expect(name).toMatch(/^eventuali_\d+$/)
      expect(second).toEqual(first)
    }))

  it.scopedLive("preparedStatements: false leaves no prepared statement on the connection", () =>
    Effect.gen(function*() {
      expect(yield* preparedAfterUse(false)).toEqual([[], []])
    }))

  it.scoped("inside a caller's transaction an append runs on that transaction's connection", () =>
    Effect.gen(function*() {
      const { client, store } = yield* PgEventStore.make({ url: serverUrl, schema: freshSchema("stmt") })
      const rolledBack = client.withTransaction(
        Effect.zipRight(
          store.append("Counter", "in-tx", [{ eventType: "Counted", data: { n: 1 } }], { expectedVersion: ExpectedVersion.noStream }),
          Effect.fail("roll back" as const)
        )
      )
      expect(yield* Effect.flip(rolledBack)).toBe("roll back")
      expect(yield* store.loadEvents("in-tx")).toEqual([])
      yield* client.withTransaction(store.append("Counter", "in-tx", [{ eventType: "Counted", data: { n: 2 } }]))
      expect((yield* store.loadEvents("in-tx")).map((event) => event.data)).toEqual([{ n: 2 }])
    }))

  it.scoped("every read of events selects SqlBackend.EVENT_COLUMNS in order, and a load reads the same in and out of a transaction", () =>
    Effect.gen(function*() {
      const schema = freshSchema("cols")
      const { client, store } = yield* PgEventStore.make({ url: serverUrl, schema })
      yield* store.save(Aggregate.applyAll(Aggregate.empty(Counter, "c"), [new Counted({ n: 1 }), new Counted({ n: 2 })]))
      // The driver builds the rows of these reads by column position (statements.ts, EventsQuery).
      const statements = SqlBackend.statements("pg", schema)
      // (readArchived selects the same list: archived loads are in the conformance suite.)
      const texts = [
        [statements.readStream, ["c", 0]],
        [statements.readAll({ aggregateTypes: "one", eventTypes: "none", limited: true }), [0, "Counter", 10]]
      ] as const
      for (const [text, params] of texts) {
        // node-postgres names a row's keys in the order of its columns.
        const [row] = yield* client.unsafe<object>(text, params)
        expect(Object.keys(row!)).toEqual(SqlBackend.EVENT_COLUMNS)
      }
      const outside = yield* store.loadEvents("c")
      const inside = yield* client.withTransaction(store.loadEvents("c"))
      expect(outside.map((event) => event.data)).toEqual([{ n: 1 }, { n: 2 }])
      expect(inside).toEqual(outside)
      expect(Option.map(yield* store.load(Counter, "c"), (root) => [root.version, root.state])).toEqual(Option.some([2, 3]))
    }))

  it.scoped("archiving refreshes the archive's planner statistics each time the events it moved double, not on every pass", () =>
    Effect.gen(function*() {
      const schema = freshSchema("stats")
      const { client, store } = yield* PgEventStore.make({ url: serverUrl, schema })
      // Closed streams of three events: archiving moves two of each (the newest stays, with the tombstone).
      let next = 0
      const closeStreams = (count: number) =>
        Effect.forEach(Array.from({ length: count }, () => `closed-${next++}`), (id) =>
          Effect.zipRight(
            store.save(Aggregate.applyAll(Aggregate.empty(Counter, id), [new Counted({ n: 1 }), new Counted({ n: 2 }), new Counted({ n: 3 })])),
            store.delete(id)
          ), { discard: true })
      const archive = Effect.map(store.archive({ aggregateType: "Counter" }, { batchSize: 1000 }), (report) => report.movedEvents)
      // Manual ANALYZEs only (autovacuum's count as autoanalyze_count): the store's, and nothing else's.
      // ANALYZE of a table this small reads every row, so reltuples is the exact count.
      const statistics = Effect.map(
        client<{ readonly analyzes: string; readonly estimate: number; readonly rows: string }>`
          SELECT s.analyze_count::text AS analyzes, c.reltuples AS estimate,
            (SELECT count(*) FROM ${client(`${schema}.eventuali_events_archive`)})::text AS rows
          FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
          WHERE s.schemaname = ${schema} AND s.relname = 'eventuali_events_archive'`,
        ([row]) => ({ analyzes: Number(row!.analyzes), estimate: Number(row!.estimate), rows: Number(row!.rows) })
      )

      yield* closeStreams(1)
      expect(yield* archive).toBe(2)
      const first = yield* statistics
      expect(first.analyzes).toBeGreaterThanOrEqual(1)
      expect(first.estimate).toBe(2)

      // 2 -> 12 archived: refreshed on the way (at 4 and 8), so the estimate is at least half the rows.
      yield* closeStreams(5)
      expect(yield* archive).toBe(10)
      const doubled = yield* statistics
      expect(doubled.rows).toBe(12)
      expect(doubled.analyzes).toBeGreaterThan(first.analyzes)
      expect(doubled.estimate).toBeGreaterThanOrEqual(doubled.rows / 2)

      // 12 -> 14: not doubled since the last refresh, so no ANALYZE (its cost stays logarithmic in the archive's size).
      yield* closeStreams(1)
      expect(yield* archive).toBe(2)
      expect((yield* statistics).analyzes).toBe(doubled.analyzes)
    }))
})
