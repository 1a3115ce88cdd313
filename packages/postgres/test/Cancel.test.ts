/**
 * Interrupted statements and cancels: `@effect/sql-pg` cancels the statement of an interrupted
 * fiber; our pools send that cancel so that it reaches that statement before the connection is
 * reused, even when no pooled connection is free (`internal/cancel.ts`). And a store operation
 * whose statement a stray cancel hits anyway (an operator's `pg_cancel_backend`) runs again
 * (`internal/reconnect.ts`), a statement that hit `statement_timeout` does not.
 */
import { expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { ExpectedVersion } from "@eventuali/core"
import { PgEventStore, PgTenants } from "@eventuali/postgres"
import { Context, Deferred, Effect, Exit, Fiber } from "effect"
import * as Net from "node:net"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"
import { freshConfig, queryServer } from "./support/tenants.js"
import { Counter, waitUntil, within } from "./support/writers.js"

/** A store with a small pool whose connections carry a name of their own, and a client outside it. */
const storeAndObserver = (maxConnections: number, url = serverUrl) =>
  Effect.gen(function*() {
    const schema = freshSchema("cancel")
    const applicationName = `cancel-${crypto.randomUUID().slice(0, 8)}`
    const opened = yield* PgEventStore.make({ url, schema, maxConnections, applicationName })
    const observer = yield* PgEventStore.make({ url: serverUrl, schema: freshSchema("observer") })
    /** The backends of the store's pool waiting for a lock (blocked by the test's lock). */
    const waitingForLock = observer.client<{ readonly pid: number }>`
      SELECT pid FROM pg_stat_activity WHERE application_name = ${applicationName} AND wait_event_type = 'Lock'`
    /** What the store's pool's backends run now. */
    const running = (text: string) =>
      Effect.map(
        observer.client<{ readonly n: number }>`
          SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE application_name = ${applicationName} AND state = 'active' AND query = ${text}`,
        ([row]) => row!.n
      )
    const events = `${schema}.eventuali_events`
    return { opened, observer, schema, events, waitingForLock, running }
  })

/** Holds a lock on `table` in another transaction until the returned effect lets it go. */
const holdLock = (client: SqlClient.SqlClient, table: string, mode: string) =>
  Effect.gen(function*() {
    const locked = yield* Deferred.make<void>()
    const unlock = yield* Deferred.make<void>()
    const locker = yield* Effect.fork(client.withTransaction(Effect.gen(function*() {
      yield* client.unsafe(`LOCK TABLE ${table} IN ${mode} MODE`)
      yield* Deferred.succeed(locked, undefined)
      yield* Deferred.await(unlock)
    })))
    yield* Deferred.await(locked)
    return Effect.zipRight(Deferred.succeed(unlock, undefined), Fiber.join(locker))
  })

/**
 * A TCP proxy in front of the server that holds each cancel request (the protocol's
 * `CancelRequest`, code 80877102) for `delayMillis` before passing it on; every other connection
 * passes at once. `url`: the server's URL through the proxy.
 */
const delayingCancels = (url: string, delayMillis: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: Net.Server; readonly sockets: Array<Net.Socket>; readonly url: string; readonly cancels: () => number }>((resume) => {
      const target = new URL(url)
      const sockets: Array<Net.Socket> = []
      let cancels = 0
      // Half-open: a cancel's sender ends its side at once and waits for the server to close.
      const server = Net.createServer({ allowHalfOpen: true }, (socket) => {
        sockets.push(socket)
        socket.once("data", (first) => {
          socket.pause()
          const isCancel = first.length >= 8 && first.readInt32BE(4) === 80877102
          if (isCancel) cancels++
          setTimeout(() => {
            const upstream = Net.connect(Number(target.port || 5432), target.hostname, () => {
              upstream.write(first)
              socket.pipe(upstream)
              upstream.pipe(socket)
              socket.resume()
            })
            sockets.push(upstream)
            upstream.on("error", () => socket.destroy())
            socket.on("error", () => upstream.destroy())
            upstream.on("close", () => socket.destroy())
            socket.on("close", () => upstream.destroy())
          }, isCancel ? delayMillis : 0)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        if (typeof address !== "object" || address === null) return resume(Effect.dieMessage("the proxy has no port"))
        const proxied = new URL(url)
        proxied.hostname = "127.0.0.1"
        proxied.port = String(address.port)
        resume(Effect.succeed({ server, sockets, url: proxied.toString(), cancels: () => cancels }))
      })
    }),
    ({ server, sockets }) =>
      Effect.sync(() => {
        for (const socket of sockets) socket.destroy()
        server.close()
      })
  )

describePg("PostgreSQL: cancels of interrupted statements", () => {
  /**
   * One connection runs a long statement, a transaction holds the other; the long statement's fiber
   * is interrupted. Sent through the pool, as `@effect/sql-pg` sends it, the cancel would wait for
   * the transaction's connection, then (after 5 seconds) run anyway and cancel whatever the
   * interrupted statement's connection runs then.
   */
  const interruptOnFullPool = (client: SqlClient.SqlClient, running: (text: string) => Effect.Effect<number, unknown>) =>
    Effect.gen(function*() {
      const sleeper = "SELECT pg_sleep(60) /* interrupted */"
      const interrupted = yield* Effect.fork(client.unsafe(sleeper))
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(client.withTransaction(Deferred.await(release)))
      yield* waitUntil(Effect.map(running(sleeper), (n) => n === 1), "10 seconds", "the long statement")
      yield* Effect.sleep("50 millis") // the transaction has its connection

      // The cancel needs no pooled connection: it reaches the statement while the pool is full.
      yield* Fiber.interrupt(interrupted).pipe(within("10 seconds", "interrupting the statement"))
      yield* waitUntil(Effect.map(running(sleeper), (n) => n === 0), "10 seconds", "the cancelled statement to end")

      // The interrupted statement's connection runs the next statement, and nothing cancels it
      // when the transaction gives its connection back (a cancel queued in the pool would run then).
      const next = yield* Effect.fork(client.unsafe<{ readonly slept: string }>("SELECT pg_sleep(0.3)::text AS slept"))
      yield* Effect.sleep("50 millis")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
      expect(yield* Fiber.join(next)).toEqual([{ slept: "" }])
    })

  it.live("an interrupted statement is cancelled while every pooled connection is busy, and no later statement is", () =>
    Effect.gen(function*() {
      const { opened, running } = yield* storeAndObserver(2)
      yield* interruptOnFullPool(opened.client, running)
      const appended = yield* opened.store.append("Counter", "after", [{ eventType: "Ticked", data: { n: 1 } }])
      expect(appended.events).toHaveLength(1)
    }).pipe(Effect.scoped), 60_000)

  it.live("the same on a tenant's client, whose connections are its server's pool's", () =>
    Effect.gen(function*() {
      const applicationName = `cancel-${crypto.randomUUID().slice(0, 8)}`
      const tenants = yield* PgTenants.make(freshConfig({ main: serverUrl }, { applicationName, maxConnections: 2 }))
      yield* tenants.create("acme")
      const client = Context.get(yield* tenants.context("acme"), SqlClient.SqlClient)
      const running = (text: string) =>
        Effect.map(
          queryServer<{ readonly n: number }>(
            serverUrl,
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query = $2",
            [applicationName, text]
          ),
          ([row]) => row!.n
        )
      yield* interruptOnFullPool(client, running)
    }).pipe(Effect.scoped), 60_000)

  it.live("a statement that answers while its cancel is on its way: the connection goes back to the pool only once the cancel has landed, and the next statement on it is not cancelled", () =>
    Effect.gen(function*() {
      // Cancel requests to the server take 800 ms through this proxy; everything else passes at once.
      const proxy = yield* delayingCancels(serverUrl, 800)
      const { opened, running } = yield* storeAndObserver(2, proxy.url)
      const client = opened.client
      // The pool's other connection is held: the next statement can only have the interrupted one's.
      const release = yield* Deferred.make<void>()
      const holder = yield* Effect.fork(client.withTransaction(Deferred.await(release)))
      const short = "SELECT pg_sleep(0.3) /* answers before its cancel lands */"
      const interrupted = yield* Effect.fork(client.unsafe(short))
      yield* waitUntil(Effect.map(running(short), (n) => n === 1), "10 seconds", "the short statement")
      const interrupting = yield* Effect.fork(Fiber.interrupt(interrupted))
      yield* waitUntil(Effect.sync(() => proxy.cancels() === 1), "10 seconds", "the cancel request to reach the proxy")
      // The short statement answers now, 500 ms before its cancel reaches the server. Before the
      // fix its connection went back to the pool at once, ran the next statement, and the cancel
      // cancelled that one (SQLSTATE 57014).
      const next = yield* client.unsafe<{ readonly slept: string }>("SELECT pg_sleep(1)::text AS slept")
      expect(next).toEqual([{ slept: "" }])
      yield* Fiber.join(interrupting)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(holder)
    }).pipe(Effect.scoped), 60_000)

  it.live("an append whose statement a stray pg_cancel_backend cancels succeeds, stored once", () =>
    Effect.gen(function*() {
      const { opened, observer, events, waitingForLock } = yield* storeAndObserver(2)
      yield* opened.store.append("Counter", "c", [{ eventType: "Ticked", data: { n: 1 } }]) // the tables exist
      // The append waits for a lock the test holds, the test cancels it, and lets it through.
      const unlock = yield* holdLock(observer.client, events, "SHARE")
      const eventId = crypto.randomUUID()
      const append = yield* Effect.fork(
        opened.store.append("Counter", "c", [{ eventType: "Ticked", data: { n: 2 }, eventId }], { expectedVersion: ExpectedVersion.exact(1) })
      )
      yield* waitUntil(Effect.map(waitingForLock, (rows) => rows.length === 1), "10 seconds", "the append to wait for the lock")
      const [blocked] = yield* waitingForLock
      const [cancelled] = yield* observer.client<{ readonly ok: boolean }>`SELECT pg_cancel_backend(${blocked!.pid}) AS ok`
      expect(cancelled?.ok).toBe(true)
      // Tried again: it waits for the lock once more (the same backend, or another).
      yield* waitUntil(Effect.map(waitingForLock, (rows) => rows.length === 1), "10 seconds", "the append's second attempt")
      yield* unlock
      const result = yield* Fiber.join(append)
      expect(result.events.map((event) => event.eventId)).toEqual([eventId])
      const stored = yield* observer.client<{ readonly n: number }>`
        SELECT count(*)::int AS n FROM ${observer.client(events)} WHERE event_id = ${eventId}`
      expect(stored[0]?.n).toBe(1)
      expect((yield* opened.store.loadEvents("c")).map((event) => event.aggregateVersion)).toEqual([1, 2])
    }).pipe(Effect.scoped), 60_000)

  it.live("a load whose statement a stray pg_cancel_backend cancels succeeds", () =>
    Effect.gen(function*() {
      const { opened, observer, events, waitingForLock } = yield* storeAndObserver(2)
      yield* opened.store.append("Counter", "c", [{ eventType: "Ticked", data: { n: 1 } }, { eventType: "Ticked", data: { n: 2 } }])
      const unlock = yield* holdLock(observer.client, events, "ACCESS EXCLUSIVE")
      const load = yield* Effect.fork(opened.store.load(Counter, "c"))
      yield* waitUntil(Effect.map(waitingForLock, (rows) => rows.length === 1), "10 seconds", "the load to wait for the lock")
      const [blocked] = yield* waitingForLock
      yield* observer.client`SELECT pg_cancel_backend(${blocked!.pid})`
      yield* waitUntil(Effect.map(waitingForLock, (rows) => rows.length === 1), "10 seconds", "the load's second attempt")
      yield* unlock
      const loaded = yield* Fiber.join(load)
      expect(loaded._tag).toBe("Some")
      if (loaded._tag === "Some") expect(loaded.value.version).toBe(2)
    }).pipe(Effect.scoped), 60_000)

  it.live("a statement that hits statement_timeout fails with DatabaseError naming it, and is not tried again", () =>
    Effect.gen(function*() {
      const url = `${serverUrl}?options=${encodeURIComponent("-c statement_timeout=300")}`
      const { opened, observer, events } = yield* storeAndObserver(2, url)
      yield* opened.store.append("Counter", "c", [{ eventType: "Ticked", data: { n: 1 } }])
      const unlock = yield* holdLock(observer.client, events, "SHARE")
      const eventId = crypto.randomUUID()
      const failed = yield* Effect.exit(opened.store.append("Counter", "c", [{ eventType: "Ticked", data: { n: 2 }, eventId }]))
      yield* unlock
      expect(Exit.isFailure(failed)).toBe(true)
      if (Exit.isFailure(failed)) expect(String(failed.cause)).toContain("canceling statement due to statement timeout")
      // Not tried again after the lock went: the event is not stored.
      const stored = yield* observer.client<{ readonly n: number }>`
        SELECT count(*)::int AS n FROM ${observer.client(events)} WHERE event_id = ${eventId}`
      expect(stored[0]?.n).toBe(0)
    }).pipe(Effect.scoped), 60_000)

  it.live("interrupting loads, appends, queries and transactions mid-flight on a small pool never fails another operation", () =>
    Effect.gen(function*() {
      const { opened } = yield* storeAndObserver(3)
      const { store, client } = opened
      yield* store.append("Counter", "seed", [{ eventType: "Ticked", data: { n: 1 } }])
      let completed = 0
      /** Operations that must all succeed, through every path: the store's own, `@effect/sql`'s, transactions. */
      const victims = (worker: number) =>
        Effect.forEach(Array.from({ length: 25 }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            yield* store.append("Victim", `v-${worker}`, [{ eventType: "Ticked", data: { n: i } }])
            yield* store.load(Counter, "seed")
            yield* client.withTransaction(store.append("Victim", `t-${worker}`, [{ eventType: "Ticked", data: { n: i } }]))
            const [row] = yield* client<{ readonly n: number }>`SELECT ${i}::int AS n, pg_sleep(0.001)`
            expect(row?.n).toBe(i)
            completed++
          }), { discard: true })
      /** Operations interrupted at once, a little later, or mid-statement. */
      const interrupter = (worker: number) =>
        Effect.forEach(Array.from({ length: 60 }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            const operations: ReadonlyArray<Effect.Effect<unknown, unknown>> = [
              store.append("Interrupted", `i-${worker}`, [{ eventType: "Ticked", data: { n: i } }]),
              store.load(Counter, "seed"),
              client`SELECT pg_sleep(0.05)`,
              client.withTransaction(Effect.zipRight(
                store.append("Interrupted", `ti-${worker}-${i}`, [{ eventType: "Ticked", data: { n: i } }]),
                client`SELECT pg_sleep(0.05)`
              ))
            ]
            const fiber = yield* Effect.fork(operations[i % operations.length]!)
            yield* Effect.sleep(`${i % 7} millis`)
            yield* Fiber.interrupt(fiber)
          }), { discard: true })
      yield* Effect.all(
        [...Array.from({ length: 3 }, (_, w) => victims(w)), ...Array.from({ length: 3 }, (_, w) => interrupter(w))],
        { concurrency: "unbounded", discard: true }
      ).pipe(within("90 seconds", "the victims and interrupters"))
      expect(completed).toBe(75)
      for (let w = 0; w < 3; w++) {
        expect((yield* store.loadEvents(`v-${w}`)).length).toBe(25)
        expect((yield* store.loadEvents(`t-${w}`)).length).toBe(25)
      }
    }).pipe(Effect.scoped), 120_000)
})
