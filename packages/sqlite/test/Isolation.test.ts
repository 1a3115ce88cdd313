/**
 * The store's own statements run directly on the SQLite connection it shares with the
 * application's `SqlClient`. They must never run inside a transaction another fiber holds open on
 * that connection: they would see (and write into) its uncommitted work.
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { EventStore } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"
import { Deferred, Effect, Fiber } from "effect"

describe("SqliteEventStore next to a transaction on its client", () => {
  it.live("another fiber's reads and appends wait for the transaction, and never see what it rolls back", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const sql = yield* SqlClient.SqlClient
      const opened = yield* Deferred.make<void>()
      const transaction = yield* Effect.fork(Effect.either(sql.withTransaction(Effect.gen(function*() {
        yield* store.append("Note", "uncommitted", [{ eventType: "Noted", data: { text: "rolled back" } }])
        yield* Deferred.succeed(opened, undefined)
        yield* Effect.sleep("100 millis")
        return yield* Effect.fail("roll back")
      }))))
      yield* Deferred.await(opened)
      const [events, appended] = yield* Effect.all([
        store.loadEvents("uncommitted"),
        store.append("Note", "other", [{ eventType: "Noted", data: { text: "kept" } }])
      ], { concurrency: "unbounded" })
      expect(yield* Fiber.join(transaction)).toMatchObject({ _tag: "Left", left: "roll back" })
      expect(events).toEqual([])
      expect(appended.version).toBe(1)
      expect(yield* store.getAggregateVersion("uncommitted")).toMatchObject({ _tag: "None" })
      expect((yield* store.loadEvents("other")).map((event) => event.data)).toEqual([{ text: "kept" }])
    }).pipe(Effect.provide(SqliteEventStore.layer({ filename: ":memory:" }))))
})
