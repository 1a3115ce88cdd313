/**
 * How the PostgreSQL store fails: servers that cannot be reached or refuse us, invalid schema
 * names, many processes migrating one schema at once, schemas sharing a database, and a server
 * that restarts under a writing application. Failures are `DatabaseError`s (never defects, never
 * hangs) and never show a password.
 */
import { expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, DatabaseError, EventStore } from "@eventuali/core"
import { PgEventStore, PgTenants } from "@eventuali/postgres"
import { Migrations } from "@eventuali/sql"
import { Cause, Clock, Context, Duration, Effect, Exit, Layer, Logger, LogLevel, Option } from "effect"
import * as Net from "node:net"
import { describe, vi } from "vitest"
import { freePort, startEmbedded } from "./support/embedded.js"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"
import { Counter, expectAcknowledgedStoredOnce, startWriters, Ticked, waitUntil, within } from "./support/writers.js"

/** The `DatabaseError` an exit failed with; fails the test on success, defects and other errors. */
const databaseErrorOf = <A, E>(exit: Exit.Exit<A, E>): DatabaseError => {
  if (Exit.isSuccess(exit)) return expect.fail("expected a DatabaseError, but it succeeded")
  expect(Cause.isDie(exit.cause), Cause.pretty(exit.cause)).toBe(false)
  const failure = Option.getOrUndefined(Cause.failureOption(exit.cause))
  if (!(failure instanceof DatabaseError)) return expect.fail(`expected a DatabaseError, got ${Cause.pretty(exit.cause)}`)
  return failure
}

/**
 * Builds the layer with every Effect log and console output captured; bounded, so a hang fails.
 * Returns the exit, everything a user could be shown, and how long it took.
 */
const buildLayer = (config: PgEventStore.PgEventStoreConfig) =>
  Effect.gen(function*() {
    const logged: Array<string> = []
    const logger = Logger.make(({ annotations, cause, message }) => {
      logged.push(`${JSON.stringify(message)} ${JSON.stringify(annotations)} ${Cause.pretty(cause)}`)
    })
    const consoleMethods = ["log", "info", "warn", "error", "debug", "trace"] as const
    const spies = consoleMethods.map((method) =>
      vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => {
        logged.push(args.map(String).join(" "))
      })
    )
    const started = yield* Clock.currentTimeMillis
    const exit = yield* Effect.scoped(Layer.build(PgEventStore.layer(config))).pipe(
      within("20 seconds", "building the layer"),
      Effect.exit,
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All),
      Effect.ensuring(Effect.sync(() => spies.forEach((spy) => spy.mockRestore())))
    )
    const elapsed = (yield* Clock.currentTimeMillis) - started
    const shown = Exit.isSuccess(exit) ? [] : [
      Cause.pretty(exit.cause),
      ...[...Cause.failures(exit.cause)].flatMap((error) => [String(error), JSON.stringify(error), error.message, String(error.stack)])
    ]
    return { exit, shown: [...shown, ...logged], elapsed }
  })

const expectHidden = (shown: ReadonlyArray<string>, secrets: ReadonlyArray<string>) => {
  for (const text of shown) {
    for (const secret of secrets) expect(text).not.toContain(secret)
  }
}

/** A TCP server that accepts connections and never says a word. */
const silentServer = Effect.acquireRelease(
  Effect.async<{ readonly server: Net.Server; readonly port: number; readonly sockets: ReadonlyArray<Net.Socket> }>(
    (resume) => {
      const sockets: Array<Net.Socket> = []
      const server = Net.createServer((socket) => {
        sockets.push(socket)
        socket.resume() // reads (and ignores) what the client sends, so that it sees the client hang up
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(
          typeof address === "object" && address !== null
            ? Effect.succeed({ server, port: address.port, sockets })
            : Effect.dieMessage("the silent server has no port")
        )
      })
    }
  ),
  ({ server, sockets }) =>
    Effect.sync(() => {
      for (const socket of sockets) socket.destroy()
      server.close()
    })
)

/** Settings both `PgEventStore` and `PgTenants` refuse, with the message they refuse them with. */
const badSettings = [
  [{ maxConnections: Number.NaN }, "Invalid maxConnections NaN: it must be a positive integer"],
  [{ connectTimeout: Number.NaN }, "Invalid connectTimeout NaN: it must be a positive duration"],
  [{ connectionWaitTimeout: Infinity }, "Invalid connectionWaitTimeout Infinity: it must be a positive duration"],
  [{ pollInterval: "soon" }, "Invalid pollInterval soon: it must be a positive duration"],
  [{ pollInterval: 0 }, "Invalid pollInterval 0: it must be a positive duration"],
  [{ readFrom: "nearest" }, "Invalid readFrom \"nearest\": it must be \"replica\" or \"primary\""],
  [{ replicaWaitTimeout: -1 }, "Invalid replicaWaitTimeout -1: it must be a positive duration"],
  [{ replicaWaitTimeout: "a while" }, "Invalid replicaWaitTimeout a while: it must be a positive duration"]
] as const

describe("PgEventStore options", () => {
  it.live.each([
    [{ maxConnections: 0 }, "Invalid maxConnections 0: it must be a positive integer"],
    [{ maxConnections: 1.5 }, "Invalid maxConnections 1.5: it must be a positive integer"],
    [{ connectTimeout: 0 }, "Invalid connectTimeout 0: it must be a positive duration"],
    [{ connectTimeout: "soon" }, "Invalid connectTimeout soon: it must be a positive duration"],
    [{ connectionWaitTimeout: -1 }, "Invalid connectionWaitTimeout -1: it must be a positive duration"],
    ...badSettings
  ] as const)("%o: DatabaseError before anything is opened", ([option, message]) =>
    Effect.gen(function*() {
      // A closed port: had the options been taken, the error would be a failed connection.
      const config = { url: "postgresql://u:s3cret@127.0.0.1:1/db", ...option } as PgEventStore.PgEventStoreConfig
      const { exit } = yield* buildLayer(config)
      expect(databaseErrorOf(exit).message).toBe(message)
    }))

  it.live("a schema name that is not an identifier: DatabaseError before connecting", () =>
    Effect.gen(function*() {
      const { exit } = yield* buildLayer({ url: "postgresql://u:s3cret@127.0.0.1:1/db", schema: "no-dashes" })
      expect(databaseErrorOf(exit).message).toMatch(/^Invalid schema name "no-dashes"/)
    }))
})

describe("PgTenants options", () => {
  it.live.each([
    ...badSettings,
    [{ maxConnections: -3 }, "Invalid maxConnections -3: it must be a positive integer"],
    [{ connectTimeout: "soon" }, "Invalid connectTimeout soon: it must be a positive duration"],
    [{ connectionWaitTimeout: 0 }, "Invalid connectionWaitTimeout 0: it must be a positive duration"],
    [{ idleTimeToLive: 0 }, "Invalid idleTimeToLive 0: it must be a positive duration"],
    [{ idleTimeToLive: -1 }, "Invalid idleTimeToLive -1: it must be a positive duration"],
    [{ idleTimeToLive: "later" }, "Invalid idleTimeToLive later: it must be a positive duration"]
  ] as const)("%o: DatabaseError when the layer is built, before anything is opened", ([option, message]) =>
    Effect.gen(function*() {
      const config = { servers: { one: "postgresql://u:s3cret@127.0.0.1:1/db" }, ...option } as PgTenants.PgTenantsConfig
      const exit = yield* Effect.scoped(Layer.build(PgTenants.layer(config))).pipe(within("20 seconds", "building the layer"), Effect.exit)
      expect(databaseErrorOf(exit).message).toBe(message)
    }))

  it.live("an infinite idleTimeToLive is taken (tenants stay open): the error is then the closed port's", () =>
    Effect.gen(function*() {
      const config: PgTenants.PgTenantsConfig = { servers: { one: "postgresql://u:s3cret@127.0.0.1:1/db" }, idleTimeToLive: Duration.infinity }
      const exit = yield* Effect.scoped(Layer.build(PgTenants.layer(config))).pipe(within("20 seconds", "building the layer"), Effect.exit)
      expect(databaseErrorOf(exit).message).toMatch(/^Cannot connect to PostgreSQL/)
    }))
})

describe("PgEventStore when the server cannot be reached", () => {
  it.live("a closed port: DatabaseError at once, and the password shows nowhere (message, String, JSON, Cause.pretty, logs)", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(freePort)
      const cases: ReadonlyArray<readonly [url: string, secrets: ReadonlyArray<string>]> = [
        [`postgresql://bob:s3cret@127.0.0.1:${port}/db`, ["s3cret"]],
        [`postgres://bob:s3cret@127.0.0.1:${port}/db?sslmode=disable&schema=events`, ["s3cret"]],
        [`postgresql://bob@127.0.0.1:${port}/db?password=s3cret`, ["s3cret"]],
        [`postgresql://bob:s3%40cret@127.0.0.1:${port}/db`, ["s3%40cret", "s3@cret"]],
        [`postgresql://bob:s3@cret@127.0.0.1:${port}/db`, ["s3@cret", "cret@"]],
        // Not valid URLs: a password with a raw "/" or "#" (base64 and generated passwords have them)
        [`postgresql://bob:s3/cret@127.0.0.1:${port}/db`, ["s3/cret", "/cret"]],
        [`postgresql://bob:s3#cret@127.0.0.1:${port}/db`, ["s3#cret", "#cret"]],
        [`postgresql://bob:s3cret@127.0.0.1:99999/db`, ["s3cret"]]
      ]
      for (const [url, secrets] of cases) {
        const { elapsed, exit, shown } = yield* buildLayer({ url, connectTimeout: "1 second" })
        const error = databaseErrorOf(exit)
        expect(error.message).toMatch(/^Cannot connect to PostgreSQL at postgres(ql)?:\/\/bob/)
        expectHidden(shown, secrets)
        expect(elapsed, url).toBeLessThan(3_000)
      }
    }))

  it.live("a server that accepts the connection but never answers: DatabaseError after connectTimeout, no hang, no socket left open", () =>
    Effect.scoped(Effect.gen(function*() {
      const silent = yield* silentServer
      const { elapsed, exit, shown } = yield* buildLayer({
        url: `postgresql://bob:s3cret@127.0.0.1:${silent.port}/db`,
        connectTimeout: "500 millis"
      })
      databaseErrorOf(exit)
      expectHidden(shown, ["s3cret"])
      expect(elapsed).toBeGreaterThanOrEqual(400)
      expect(elapsed).toBeLessThan(3_000)
      expect(silent.sockets.length).toBeGreaterThan(0)
      yield* waitUntil(
        Effect.sync(() => silent.sockets.every((socket) => socket.closed)),
        "2 seconds",
        "the store to close its connection attempts"
      )
    })))
})

describePg("PgEventStore against a server that refuses", () => {
  const withUrl = (change: (url: URL) => void) => {
    const url = new URL(serverUrl)
    change(url)
    return url.toString()
  }

  it.live("a wrong password: DatabaseError naming the authentication failure, the password hidden", () =>
    Effect.gen(function*() {
      const { exit, shown } = yield* buildLayer({ url: withUrl((url) => url.password = "wr0ng-s3cret") })
      expect(databaseErrorOf(exit).message).toMatch(/password authentication failed/)
      expectHidden(shown, ["wr0ng-s3cret"])
    }))

  it.live("a user that does not exist: DatabaseError, the password hidden", () =>
    Effect.gen(function*() {
      const user = freshSchema("nobody")
      const { exit, shown } = yield* buildLayer({
        url: withUrl((url) => {
          url.username = user
          url.password = "s3cret"
        })
      })
      expect(databaseErrorOf(exit).message).toContain(user)
      expectHidden(shown, ["s3cret"])
    }))

  it.live("a database that does not exist: DatabaseError naming it", () =>
    Effect.gen(function*() {
      const database = freshSchema("nodb")
      const { exit } = yield* buildLayer({ url: withUrl((url) => url.pathname = `/${database}`) })
      expect(databaseErrorOf(exit).message).toContain(`database "${database}" does not exist`)
    }))
})

/** A working store on a fresh schema of the test server, with its client. */
const openStore = (schema: string, options: Partial<PgEventStore.PgEventStoreConfig> = {}) =>
  Effect.map(
    Layer.build(PgEventStore.layer({ url: `${serverUrl}?schema=${schema}`, ...options })),
    (context) => ({ store: Context.get(context, EventStore.EventStore), sql: Context.get(context, SqlClient.SqlClient) })
  )

const tick = (store: EventStore.Service, id: string, n: number) =>
  store.save(Aggregate.apply(Aggregate.empty(Counter, id), new Ticked({ n })))

describePg("PgEventStore schemas", () => {
  it.scopedLive("invalid schema names in ?schema=: DatabaseError, and nothing is created or dropped", () =>
    Effect.gen(function*() {
      const canary = freshSchema("canary")
      const { sql, store } = yield* openStore(canary)
      yield* tick(store, "still-here", 1)
      const names = [
        "bad-name",
        `x"; drop schema ${canary} cascade; --`,
        `"x"; drop`,
        "1starts_with_a_digit",
        "a".repeat(64),
        "has space",
        "dot.ted"
      ]
      for (const name of names) {
        for (const url of [`${serverUrl}?schema=${encodeURIComponent(name)}`, `${serverUrl}?schema=${name}`]) {
          const { exit } = yield* buildLayer({ url })
          expect(databaseErrorOf(exit).message).toContain("Invalid schema name")
        }
      }
      const created = yield* sql<{ readonly nspname: string }>`SELECT nspname FROM pg_namespace WHERE nspname IN ${sql.in(names)}`
      expect(created).toEqual([])
      expect((yield* store.loadEvents("still-here")).length).toBe(1)
    }))

  it.scopedLive("5 layers starting at once on one fresh schema all succeed, and each migration is applied exactly once", () =>
    Effect.gen(function*() {
      for (let round = 0; round < 3; round++) {
        const schema = freshSchema("race")
        const stores = yield* Effect.all(
          Array.from({ length: 5 }, () => openStore(schema, { maxConnections: 2 })),
          { concurrency: "unbounded" }
        ).pipe(within("30 seconds", "5 layers starting at once"))
        const { sql } = stores[0]!
        const applied = yield* sql<{ readonly id: number; readonly times: number }>`
          SELECT id, count(*)::int AS times FROM ${sql(schema)}.eventuali_migrations GROUP BY id ORDER BY id`
        expect(applied).toEqual(Migrations.migrations.map((migration) => ({ id: migration.id, times: 1 })))
        yield* Effect.forEach(stores, ({ store }, i) => tick(store, `c-${i}`, i), { concurrency: "unbounded" })
        for (const { store } of stores) expect((yield* store.loadEventsByType("Counter")).length).toBe(5)
      }
    }))

  it.scopedLive("options=-c search_path=SCHEMA in the URL puts read models' unqualified tables in the store's schema (the PostgreSQL guide)", () =>
    Effect.gen(function*() {
      const schemas = [freshSchema("rmleft"), freshSchema("rmright")]
      for (const schema of schemas) {
        const url = `${serverUrl}${serverUrl.includes("?") ? "&" : "?"}schema=${schema}&options=${encodeURIComponent(`-c search_path=${schema}`)}`
        const context = yield* Layer.build(PgEventStore.layer({ url }))
        const sql = Context.get(context, SqlClient.SqlClient)
        // The same unqualified name in both stores: two tables, one per schema.
        yield* sql`CREATE TABLE totals (id TEXT PRIMARY KEY)`
        yield* sql`INSERT INTO totals (id) VALUES (${schema})`
      }
      const { sql } = yield* openStore(schemas[0]!)
      for (const schema of schemas) {
        expect(yield* sql<{ readonly id: string }>`SELECT id FROM ${sql(schema)}.totals`).toEqual([{ id: schema }])
      }
    }))

  it.scopedLive("two schemas of one database are isolated: same ids, different events, neither sees the other's", () =>
    Effect.gen(function*() {
      const left = (yield* openStore(freshSchema("left"))).store
      const right = (yield* openStore(freshSchema("right"))).store
      let shared = Aggregate.empty(Counter, "shared")
      shared = yield* left.save(Aggregate.applyAll(shared, [new Ticked({ n: 1 }), new Ticked({ n: 2 })]))
      yield* right.save(Aggregate.apply(Aggregate.empty(Counter, "shared"), new Ticked({ n: 10 })))
      yield* right.append("Other", "right-only", [{ eventType: "Noted", data: { n: 3 } }])

      expect((yield* left.loadEvents("shared")).map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }])
      expect((yield* right.loadEvents("shared")).map((e) => e.data)).toEqual([{ n: 10 }])
      expect(yield* left.getAggregateVersion("shared")).toEqual(Option.some(2))
      expect(yield* right.getAggregateVersion("shared")).toEqual(Option.some(1))
      expect(yield* left.getAggregateVersion("right-only")).toEqual(Option.none())
      expect((yield* left.loadEventsByType("Counter")).length).toBe(2)
      expect((yield* left.loadEventsByType("Other")).length).toBe(0)
      expect((yield* right.loadEventsByType("Counter")).length).toBe(1)
      // An id of one type in one schema is free for another type in the other.
      yield* left.append("Other", "shared-other", [{ eventType: "Noted", data: {} }])
      yield* right.save(Aggregate.apply(Aggregate.empty(Counter, "shared-other"), new Ticked({ n: 0 })))
    }))
})

describePg("PgEventStore when its server restarts", () => {
  it.scopedLive(
    "saves in flight fail with DatabaseError while the server is down; after it is back, saving resumes and every acknowledged save is stored exactly once",
    () =>
      Effect.gen(function*() {
        // A server of this test's own, persistent so that its data survives the stop.
        const { server, url } = yield* Effect.acquireRelease(
          Effect.promise(() => startEmbedded({ persistent: true })),
          (embedded) => Effect.promise(embedded.dispose)
        )
        const store = yield* Effect.map(
          Layer.build(PgEventStore.layer({ url: `${url}?schema=restart`, connectTimeout: "2 seconds" })),
          Context.get(EventStore.EventStore)
        )

        // Each writer saves its own counter, one event per save, with fixed event ids so that a
        // save retried after an unclear failure (committed, but the answer lost) is idempotent.
        const writers = 4
        const { acknowledged, failures, stop, total } = yield* startWriters(store, writers, "50 millis")

        yield* waitUntil(Effect.map(total, (n) => n >= 40), "20 seconds", "40 saves before the stop")
        yield* Effect.promise(() => server.stop()).pipe(within("30 seconds", "stopping the server"), Effect.orDie)
        const whileDown = yield* Effect.exit(store.getAggregateVersion("writer-0").pipe(within("10 seconds", "a read while the server is down")))
        expect(databaseErrorOf(whileDown).message).toMatch(/^Reading the state of an aggregate failed: /)
        yield* waitUntil(Effect.map(failures, (causes) => causes.length >= writers), "10 seconds", "the writers to fail")
        const acknowledgedWhileDown = yield* total

        yield* Effect.promise(() => server.start()).pipe(within("30 seconds", "restarting the server"), Effect.orDie)
        yield* waitUntil(
          Effect.map(total, (n) => n >= acknowledgedWhileDown + 40),
          "30 seconds",
          "40 saves after the restart"
        )
        yield* stop

        for (const cause of yield* failures) databaseErrorOf(Exit.failCause(cause))
        yield* expectAcknowledgedStoredOnce(store, yield* acknowledged)
      })
  )
})
