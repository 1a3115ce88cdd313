/**
 * How the store runs its own statements (`internal/statements.ts`): named, prepared once per
 * connection, outside a caller's transaction; unnamed with `preparedStatements: false`; and on
 * the caller's transaction's connection inside one.
 */
import { expect, it } from "@effect/vitest"
import { Aggregate, ExpectedVersion } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
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
})
