/** Live subscriptions on PostgreSQL: LISTEN/NOTIFY wake-ups across processes, surviving a dropped connection. */
import { expect, it } from "@effect/vitest"
import { PgEventStore } from "@eventuali/postgres"
import { Chunk, Effect, Fiber, Stream } from "effect"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"

describePg("PostgreSQL live subscriptions", () => {
  it.live("another store's commits reach a subscriber through NOTIFY (polling disabled), also after the LISTEN connection is killed", () =>
    Effect.gen(function*() {
      const schema = freshSchema("live")
      // Polling every hour: only notifications can deliver within the test's bounds.
      const reader = yield* PgEventStore.make({ url: serverUrl, schema, pollInterval: "1 hour" })
      const writer = yield* PgEventStore.make({ url: serverUrl, schema })
      const received: Array<string> = []
      const subscriber = yield* reader.store.subscribe({ from: "end" }).pipe(
        Stream.runForEach((event) => Effect.sync(() => received.push(event.aggregateId))),
        Effect.fork
      )
      const waitFor = (count: number) =>
        Effect.gen(function*() {
          while (received.length < count) yield* Effect.sleep("5 millis")
        }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error(`only ${received.length} of ${count} delivered`) }))

      yield* Effect.sleep("200 millis") // the LISTEN connection is up
      yield* writer.store.append("Remote", "before-kill", [{ eventType: "Pinged", data: {} }])
      yield* waitFor(1)

      // Drop the listener's connection from the server side; the store re-opens it.
      const killed = yield* writer.client.unsafe<{ readonly killed: boolean }>(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = 'eventuali-listen' AND pid <> pg_backend_pid()`
      )
      expect(killed.some((row) => row.killed)).toBe(true)
      yield* Effect.sleep("500 millis")
      yield* writer.store.append("Remote", "after-kill", [{ eventType: "Pinged", data: {} }])
      yield* waitFor(2)
      expect(received).toEqual(["before-kill", "after-kill"])
      yield* Fiber.interrupt(subscriber)
    }).pipe(Effect.scoped), 30_000)

  it.live("a burst of concurrent appends from another store arrives complete and in position order", () =>
    Effect.gen(function*() {
      const schema = freshSchema("burst")
      const reader = yield* PgEventStore.make({ url: serverUrl, schema, pollInterval: "1 hour" })
      const writer = yield* PgEventStore.make({ url: serverUrl, schema })
      const subscriber = yield* reader.store.subscribe({ from: "end", aggregateTypes: ["Burst"] }).pipe(
        Stream.take(200),
        Stream.runCollect,
        Effect.fork
      )
      yield* Effect.sleep("200 millis")
      yield* Effect.all(
        Array.from({ length: 200 }, (_, i) => writer.store.append("Burst", `b-${i}`, [{ eventType: "Pinged", data: { i } }])),
        { concurrency: 20, discard: true }
      )
      const events = Chunk.toReadonlyArray(yield* Fiber.join(subscriber).pipe(Effect.timeout("20 seconds")))
      expect(new Set(events.map((e) => e.aggregateId)).size).toBe(200)
      for (let i = 1; i < events.length; i++) expect(events[i]!.position > events[i - 1]!.position).toBe(true)
    }).pipe(Effect.scoped), 60_000)
})
