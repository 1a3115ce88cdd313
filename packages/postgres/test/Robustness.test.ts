/**
 * What production servers do to a store: schema names at PostgreSQL's identifier limit, closing
 * while everything runs, connections the server closed while they were idle, and long
 * transactions outside the store.
 */
import { expect, it } from "@effect/vitest"
import { PgEventStore } from "@eventuali/postgres"
import { Effect, Fiber, Stream } from "effect"
import { describePg, serverUrl } from "./support/pg.js"

/** A fresh schema name of exactly 63 characters, PostgreSQL's longest identifier. */
const longestSchema = (): string => `long_${crypto.randomUUID().replaceAll("-", "")}`.padEnd(63, "x")

describePg("PostgreSQL under what servers do", () => {
  it.live("a 63-character schema: appends in a caller's transaction work, and NOTIFY wakes another store's subscriber", () =>
    Effect.gen(function*() {
      const schema = longestSchema()
      expect(schema.length).toBe(63)
      // Polling every hour: only a notification can deliver within the test's bounds.
      const reader = yield* PgEventStore.make({ url: serverUrl, schema, pollInterval: "1 hour" })
      const writer = yield* PgEventStore.make({ url: serverUrl, schema })
      const subscriber = yield* reader.store.subscribe({ from: "end" }).pipe(Stream.take(2), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("200 millis") // the LISTEN connection is up
      yield* writer.client.withTransaction(writer.store.append("Long", "in-transaction", [{ eventType: "Pinged", data: {} }]))
      yield* writer.store.append("Long", "on-its-own", [{ eventType: "Pinged", data: {} }])
      const delivered = yield* Fiber.join(subscriber).pipe(Effect.timeout("10 seconds"))
      expect(Array.from(delivered, (event) => event.aggregateId)).toEqual(["in-transaction", "on-its-own"])
    }).pipe(Effect.scoped), 30_000)
})
