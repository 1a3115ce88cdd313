/**
 * What production servers do to a store: schema names at PostgreSQL's identifier limit, closing
 * while everything runs, connections the server closed while they were idle, and long
 * transactions outside the store.
 */
import { expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, EventStore, Metrics, Projection, ProjectionStore } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { Effect, Exit, Fiber, Metric, Option, Scope, Stream } from "effect"
import Pg from "pg"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"
import { Counter, Ticked, waitUntil, within } from "./support/writers.js"

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

  it.live("closing the store while a projection, a live subscription and writers run always finishes", () =>
    Effect.gen(function*() {
      const schema = freshSchema("close")
      for (let round = 0; round < 30; round++) {
        const scope = yield* Scope.make()
        // A small pool, so that operations wait for connections when the store closes.
        const opened = yield* PgEventStore.make({ url: serverUrl, schema, maxConnections: 2 }).pipe(Scope.extend(scope))
        yield* Projection.run(Projection.make({
          name: "close",
          batchSize: 3,
          aggregateTypes: ["Closing"],
          // A handler that appends in the projection's transaction, as a process manager does.
          handle: (event) => Effect.asVoid(opened.store.append("Reaction", event.eventId, [{ eventType: "Reacted", data: {} }]))
        })).pipe(
          Effect.provideService(EventStore.EventStore, opened.store),
          Effect.provideService(ProjectionStore.ProjectionStore, opened.projections),
          Effect.provideService(SqlClient.SqlClient, opened.client),
          Scope.extend(scope)
        )
        yield* opened.store.subscribe({ from: "beginning" }).pipe(Stream.runDrain, Effect.ignore, Effect.forkIn(scope))
        // Writers outside the store's scope: they keep asking for connections while it closes.
        const writers = yield* Effect.fork(Effect.all(
          Array.from({ length: 6 }, (_, w) =>
            opened.client.withTransaction(opened.store.append("Closing", `w-${w}`, [{ eventType: "Pinged", data: {} }])).pipe(
              Effect.catchAll(() => Effect.sleep("5 millis")),
              Effect.forever
            )),
          { concurrency: "unbounded" }
        ))
        yield* Effect.sleep(`${20 + (round % 5) * 20} millis`)
        yield* Scope.close(scope, Exit.void).pipe(within("5 seconds", `closing the store (round ${round})`))
        yield* Fiber.interrupt(writers).pipe(within("5 seconds", `stopping the writers (round ${round})`))
      }
    }), 120_000)

  it.live("closing finishes within connectionWaitTimeout while a projection waits for a connection a long transaction holds", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const opened = yield* PgEventStore.make({
        url: serverUrl,
        schema: freshSchema("held"),
        maxConnections: 1,
        connectionWaitTimeout: "1 second"
      }).pipe(Scope.extend(scope))
      yield* opened.store.append("Waiting", "w", [{ eventType: "Pinged", data: {} }])
      // Outside the store's scope, a transaction takes the pool's only connection and keeps it.
      const holder = yield* Effect.fork(opened.client.withTransaction(Effect.never))
      yield* Effect.sleep("100 millis")
      yield* Projection.run(Projection.make({ name: "waiting", handle: () => Effect.void })).pipe(
        Effect.provideService(EventStore.EventStore, opened.store),
        Effect.provideService(ProjectionStore.ProjectionStore, opened.projections),
        Effect.provideService(SqlClient.SqlClient, opened.client),
        Scope.extend(scope),
        // Starting registers the projection, which already needs a connection: it waits too.
        Effect.forkIn(scope)
      )
      yield* Effect.sleep("200 millis") // the projection waits for the connection, uninterruptibly
      const started = Date.now()
      yield* Scope.close(scope, Exit.void).pipe(within("5 seconds", "closing the store"))
      expect(Date.now() - started).toBeLessThan(2_500)
      yield* Fiber.interrupt(holder).pipe(within("5 seconds", "ending the long transaction"))
    }), 30_000)

  it.live("an operation waits for a connection at most connectionWaitTimeout, then fails with DatabaseError", () =>
    Effect.gen(function*() {
      const opened = yield* PgEventStore.make({
        url: serverUrl,
        schema: freshSchema("wait"),
        maxConnections: 1,
        connectionWaitTimeout: "300 millis"
      })
      // The pool's only connection, held by a transaction.
      yield* opened.client.withTransaction(Effect.sleep("3 seconds")).pipe(Effect.forkScoped)
      yield* Effect.sleep("100 millis")
      const started = Date.now()
      const error = yield* Effect.flip(opened.store.append("Waiting", "w", [{ eventType: "Pinged", data: {} }]))
      expect(Date.now() - started).toBeLessThan(2_000)
      expect(error._tag).toBe("DatabaseError")
      expect(error.message).toContain("no connection to PostgreSQL became free within 300 ms")
    }).pipe(Effect.scoped), 30_000)

  it.live("operations succeed after the server closed the pool's idle connections, and every save is stored once", () =>
    Effect.gen(function*() {
      const schema = freshSchema("stale")
      const applicationName = `stale-${crypto.randomUUID().slice(0, 8)}`
      const opened = yield* PgEventStore.make({ url: serverUrl, schema, maxConnections: 6, applicationName })
      const killer = yield* PgEventStore.make({ url: serverUrl, schema: freshSchema("killer") })
      const subscribed: Array<string> = []
      yield* opened.store.subscribe({ from: "beginning", aggregateTypes: ["Counter"] }).pipe(
        Stream.runForEach((event) => Effect.sync(() => subscribed.push(event.eventId))),
        Effect.forkScoped
      )
      const saved: Array<string> = []
      const save = (id: string) =>
        Effect.gen(function*() {
          const loaded = yield* opened.store.load(Counter, id)
          const counter = Option.getOrElse(loaded, () => Aggregate.empty(Counter, id))
          const eventIds = [crypto.randomUUID()]
          yield* opened.store.save(Aggregate.apply(counter, new Ticked({ n: counter.version + 1 })), { eventIds })
          saved.push(eventIds[0]!)
        })
      const append = (id: string) =>
        Effect.gen(function*() {
          const [event] = (yield* opened.store.append("Counter", id, [{ eventType: "Ticked", data: { n: 0 } }])).events
          saved.push(event!.eventId)
        })
      for (let round = 0; round < 3; round++) {
        // Fill the pool: every connection opened and idle.
        yield* Effect.all(Array.from({ length: 6 }, () => opened.client`SELECT pg_sleep(0.05)`), { concurrency: "unbounded" })
        const killed = yield* killer.client<{ readonly killed: boolean }>`
          SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = ${applicationName}`
        expect(killed.length).toBe(6)
        // Plain appends first (they take the closed connections), then loads and saves.
        yield* Effect.all(
          [
            ...Array.from({ length: 6 }, (_, i) => append(`a-${i}`)),
            ...Array.from({ length: 12 }, (_, i) => save(`c-${i}`))
          ],
          { concurrency: "unbounded" }
        )
        const read = yield* opened.store.readEvents({ limit: 1000 })
        expect(read.length).toBe(saved.length)
      }
      const stored = yield* killer.client<{ readonly event_id: string }>`
        SELECT event_id FROM ${killer.client(`${schema}.eventuali_events`)}`
      expect(stored.map((row) => row.event_id).sort()).toEqual([...saved].sort())
      yield* waitUntil(Effect.sync(() => subscribed.length === saved.length), "10 seconds", "the subscriber")
      expect([...subscribed].sort()).toEqual([...saved].sort())
    }).pipe(Effect.scoped), 60_000)

  it.live("operations succeed on a server whose idle_session_timeout closes the pool's idle connections", () =>
    Effect.gen(function*() {
      const schema = freshSchema("idle")
      // The server ends every session of this store idle for 200 ms (the LISTEN connection's too).
      const url = `${serverUrl}?options=${encodeURIComponent("-c idle_session_timeout=200")}`
      const opened = yield* PgEventStore.make({ url, schema, maxConnections: 4 })
      const [setting] = yield* opened.client<{ readonly idle_session_timeout: string }>`SHOW idle_session_timeout`
      expect(setting?.idle_session_timeout).toBe("200ms")
      const eventIds: Array<string> = []
      for (let round = 0; round < 3; round++) {
        yield* Effect.all(Array.from({ length: 4 }, () => opened.client`SELECT pg_sleep(0.02)`), { concurrency: "unbounded" })
        yield* Effect.sleep("300 millis") // every pooled connection closed by the server
        yield* Effect.all(
          Array.from({ length: 8 }, (_, i) =>
            Effect.map(
              opened.store.append("Idle", `i-${i}`, [{ eventType: "Pinged", data: { round } }]),
              ({ events }) => eventIds.push(events[0]!.eventId)
            )),
          { concurrency: "unbounded" }
        )
        expect((yield* opened.store.loadEvents("i-0")).length).toBe(round + 1)
      }
      const stored = yield* opened.store.readEvents({ aggregateTypes: ["Idle"], limit: 100 })
      expect(stored.map((event) => event.eventId).sort()).toEqual([...eventIds].sort())
    }).pipe(Effect.scoped), 60_000)

  it.live("a transaction open in another schema holds readers back until it ends: gap-safe, bounded by the server's timeouts, measured", () =>
    Effect.gen(function*() {
      const schema = freshSchema("held")
      const other = freshSchema("other")
      const opened = yield* PgEventStore.make({ url: serverUrl, schema })
      yield* opened.client.unsafe(`CREATE SCHEMA "${other}"`)
      yield* opened.client.unsafe(`CREATE TABLE "${other}".work (n int)`)
      /** Another application's session: a transaction that writes only in its own schema, then sits idle. */
      const otherApplication = (settings: string) =>
        Effect.acquireRelease(
          Effect.promise(async () => {
            const session = new Pg.Client({ connectionString: serverUrl, application_name: "other-application" })
            session.on("error", () => {})
            await session.connect()
            if (settings !== "") await session.query(settings)
            await session.query("BEGIN")
            await session.query(`INSERT INTO "${other}".work VALUES (1)`)
            return session
          }),
          (session) => Effect.promise(() => session.end().catch(() => {}))
        )
      const visible = Effect.map(
        opened.store.readEvents({ aggregateTypes: ["Held"] }),
        (events) => events.map((event) => event.aggregateId)
      )
      const append = (id: string) => opened.store.append("Held", id, [{ eventType: "Pinged", data: {} }])

      yield* append("before")
      const holder = yield* otherApplication("")
      const { events: [after] } = yield* append("after")
      // Gap-safe: the open transaction could still append below `after`, so no reader passes it.
      expect(yield* visible).toEqual(["before"])

      const waitsBefore = (yield* Metric.value(Metrics.catchUpWait)).count
      const timeoutsBefore = (yield* Metric.value(Metrics.catchUpTimeouts)).count
      const started = Date.now()
      const held = yield* opened.store.currentCheckpoint
      const waited = Date.now() - started
      expect(waited).toBeGreaterThanOrEqual(4_900) // the limit, not forever
      expect(waited).toBeLessThan(8_000)
      expect(BigInt(held) < after!.position).toBe(true)
      expect((yield* Metric.value(Metrics.catchUpWait)).count).toBe(waitsBefore + 1)
      expect((yield* Metric.value(Metrics.catchUpTimeouts)).count).toBe(timeoutsBefore + 1)

      // It ends: readers see everything at once, and catch up without waiting.
      yield* Effect.promise(() => holder.query("COMMIT"))
      expect(yield* visible).toEqual(["before", "after"])
      const released = Date.now()
      expect(BigInt(yield* opened.store.currentCheckpoint) >= after!.position).toBe(true)
      expect(Date.now() - released).toBeLessThan(1_000)

      // The server's idle_in_transaction_session_timeout ends such a transaction, and readers move on.
      yield* otherApplication("SET idle_in_transaction_session_timeout = '1s'")
      yield* append("later")
      expect(yield* visible).toEqual(["before", "after"])
      const bounded = Date.now()
      yield* waitUntil(Effect.map(visible, (ids) => ids.includes("later")), "10 seconds", "the timeout to end the transaction")
      expect(Date.now() - bounded).toBeLessThan(5_000)
    }).pipe(Effect.scoped), 60_000)
})
