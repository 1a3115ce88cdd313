/**
 * The SQLite layer's `SqlClient` (`@effect/sql`'s client on the store's own connection), and the
 * store's one append inside a transaction the application holds on it.
 */
import { describe, expect, layer } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { EventStore } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"
import { Chunk, Effect, Stream } from "effect"

describe("SqliteEventStore's client", () => {
  layer(SqliteEventStore.layer({ filename: ":memory:" }))((it) => {
    it.effect("streams a query's rows", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const rows = yield* Stream.runCollect(sql<{ readonly n: number }>`SELECT value AS n FROM json_each('[1,2,3]')`.stream)
        expect(Chunk.toArray(rows).map((row) => row.n)).toEqual([1, 2, 3])
      }))

    it.effect("reads integers as bigints only in the statement run with SafeIntegers", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const query = sql<{ readonly n: unknown }>`SELECT 9007199254740993 AS n`
        const [safe] = yield* Effect.provideService(query, SqlClient.SafeIntegers, true)
        const [plain] = yield* query
        expect(safe!.n).toBe(9007199254740993n)
        expect(typeof plain!.n).toBe("number")
      }))

    it.effect("an append in the application's transaction is read back in it, and rolled back with it", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        const inside = yield* sql.withTransaction(Effect.gen(function*() {
          yield* store.append("Note", "tx-1", [{ eventType: "Noted", data: { n: 1 } }])
          yield* store.append("Note", "tx-1", [{ eventType: "Noted", data: { n: 2 } }])
          const events = yield* store.loadEvents("tx-1")
          return yield* Effect.fail(events.map((event) => event.aggregateVersion))
        })).pipe(Effect.flip)
        expect(inside).toEqual([1, 2])
        expect(yield* store.loadEvents("tx-1")).toEqual([])
      }))

    it.effect("an append in the application's transaction commits with the application's own rows", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const sql = yield* SqlClient.SqlClient
        yield* sql`CREATE TABLE notes (id TEXT PRIMARY KEY)`
        yield* sql.withTransaction(Effect.gen(function*() {
          yield* sql`INSERT INTO notes (id) VALUES ('tx-2')`
          yield* store.append("Note", "tx-2", [{ eventType: "Noted", data: { n: 1 } }])
        }))
        expect((yield* store.loadEvents("tx-2")).length).toBe(1)
        expect(yield* sql`SELECT id FROM notes`).toEqual([{ id: "tx-2" }])
      }))
  })
})
