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

  it.live("a store listens only while it has subscribers, and a subscription hears an append made while it starts listening (polling disabled)", () =>
    Effect.gen(function*() {
      const schema = freshSchema("lazy")
      const reader = yield* PgEventStore.make({ url: serverUrl, schema, pollInterval: "1 hour" })
      const writer = yield* PgEventStore.make({ url: serverUrl, schema })
      const channel = `eventuali:${schema}`
      // Whether a LISTEN connection has listened on the channel: its last statement says so.
      const listening = Effect.map(
        writer.client.unsafe<{ readonly listeners: number }>(
          `SELECT count(*)::int AS listeners FROM pg_stat_activity
           WHERE application_name = 'eventuali-listen' AND query ILIKE $1`,
          [`%LISTEN%${channel}%`]
        ),
        ([row]) => row!.listeners > 0
      )
      yield* Effect.sleep("200 millis") // the LISTEN connection is up
      yield* writer.store.append("Remote", "unheard", [{ eventType: "Pinged", data: {} }])
      expect(yield* listening).toBe(false)

      // Subscribe and append at once: the append may commit between the subscription's first read
      // and its LISTEN, and must arrive anyway.
      const subscriber = yield* reader.store.subscribe({ aggregateTypes: ["Raced"] }).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* writer.store.append("Raced", "raced", [{ eventType: "Pinged", data: {} }])
      const events = Chunk.toReadonlyArray(yield* Fiber.join(subscriber).pipe(Effect.timeout("10 seconds")))
      expect(events.map((event) => event.aggregateId)).toEqual(["raced"])
      let listened = yield* listening
      for (let i = 0; i < 100 && !listened; i++) listened = yield* Effect.zipRight(Effect.sleep("20 millis"), listening)
      expect(listened).toBe(true)
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
