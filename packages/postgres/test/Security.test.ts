/**
 * Security on PostgreSQL: SQL injection through every string the API takes; and a password that
 * appears in no error, log line, span or console output, on success and on every kind of failure.
 */
import { expect, it } from "@effect/vitest"
import { Aggregate, EventStore, Projection } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { SqlInjection } from "@eventuali/testing/vitest"
import { Cause, Chunk, Context, Effect, Exit, Layer, Logger, LogLevel, Option, Schema, Stream, Tracer } from "effect"
import Pg from "pg"
import { vi } from "vitest"
import { freePort } from "./support/embedded.js"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"

describePg("PostgreSQL", () => {
  SqlInjection.run("PgEventStore", () => {
    const schema = freshSchema("inject")
    return {
      layer: PgEventStore.layer({ url: `${serverUrl}?schema=${schema}` }),
      events: `"${schema}".eventuali_events`,
      canary: `"${schema}".eventuali_canary`
    }
  })
})

class Ticked extends Schema.TaggedClass<Ticked>()("Ticked", { n: Schema.Number }) {}
const Counter = Aggregate.make({ type: "Counter", events: [Ticked], initialState: 0, evolve: (count: number) => count + 1 })

/** Everything a program shows: spans (names, attributes, events), log lines, console output. */
const capture = () => {
  const shown: Array<string> = []
  const record = (value: unknown) => {
    try {
      shown.push(typeof value === "string" ? value : JSON.stringify(value, (_, inner: unknown) => typeof inner === "bigint" ? String(inner) : inner))
    } catch {
      shown.push(String(value))
    }
  }
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind, options) => {
      record(name)
      record(options?.attributes ?? {})
      const attributes = new Map<string, unknown>()
      return {
        _tag: "Span",
        name,
        spanId: crypto.randomUUID(),
        traceId: "security",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes,
        links,
        sampled: true,
        kind,
        end: (_endTime, exit) => {
          record([...attributes])
          if (Exit.isFailure(exit)) record(Cause.pretty(exit.cause))
        },
        attribute: (key, value) => {
          attributes.set(key, value)
          record([key, value])
        },
        event: (eventName, _time, eventAttributes) => record([eventName, eventAttributes]),
        addLinks: () => {}
      }
    },
    context: (f) => f()
  })
  const logger = Logger.make(({ annotations, cause, message, spans }) => {
    record(message)
    record([...annotations])
    record([...spans].map((span) => span.label))
    record(Cause.pretty(cause))
  })
  const spies = (["log", "info", "warn", "error", "debug", "trace"] as const).map((method) =>
    vi.spyOn(console, method).mockImplementation((...args: Array<unknown>) => args.forEach(record))
  )
  /** Runs `effect` with every output captured; records its failure in every rendering. */
  const run = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    effect.pipe(
      Effect.exit,
      Effect.tap((exit) => {
        if (Exit.isFailure(exit)) {
          record(Cause.pretty(exit.cause))
          for (const error of Cause.failures(exit.cause)) {
            record(String(error))
            record(error)
            record((error as { readonly message?: unknown }).message)
          }
        }
      }),
      Effect.withTracer(tracer),
      Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
  return { shown, run, restore: () => spies.forEach((spy) => spy.mockRestore()) }
}

describePg("PgEventStore never shows a password", () => {
  it.scopedLive("in no error, log line, span or console output: connecting, saving, loading, subscribing, projecting, conflicts, SQL errors, a wrong password, a closed port", () =>
    Effect.gen(function*() {
      // A role of this test's own, with a password found nowhere else (dropped afterwards). A
      // server where the test's login may not create roles runs only the failing connections.
      const role = freshSchema("secret_role")
      const password = `Pw-${crypto.randomUUID()}`
      const database = new URL(serverUrl).pathname.slice(1)
      const asAdmin = (statements: ReadonlyArray<string>) =>
        Effect.tryPromise(async () => {
          const admin = new Pg.Client({ connectionString: serverUrl })
          await admin.connect()
          try {
            for (const statement of statements) await admin.query(statement)
          } finally {
            await admin.end()
          }
        })
      const hasRole = yield* Effect.acquireRelease(
        asAdmin([`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`, `GRANT CREATE ON DATABASE "${database}" TO ${role}`]).pipe(
          Effect.as(true),
          Effect.orElseSucceed(() => false)
        ),
        (created) => created ? Effect.ignore(asAdmin([`DROP OWNED BY ${role} CASCADE`, `DROP ROLE ${role}`])) : Effect.void
      )
      const url = new URL(serverUrl)
      url.username = role
      url.password = password
      url.searchParams.set("schema", freshSchema("secret"))

      const captured = capture()
      const works = !hasRole ? Exit.succeed(0) : yield* captured.run(Effect.scoped(Effect.gen(function*() {
        const context = yield* Layer.build(PgEventStore.layer({ url: url.toString() }))
        const store = Context.get(context, EventStore.EventStore)
        const saved = yield* store.save(Aggregate.apply(Aggregate.empty(Counter, "c-1"), new Ticked({ n: 1 })))
        expect(Option.getOrThrow(yield* store.load(Counter, "c-1")).version).toBe(1)
        // A conflict, a decoding failure and a failing statement, all shown in full.
        yield* Effect.flip(store.save(Aggregate.apply(Aggregate.empty(Counter, "c-1"), new Ticked({ n: 2 }))))
        yield* store.registerEventClass("Ticked", Schema.Struct({ n: Schema.String }))
        yield* Effect.flip(store.loadEvents("c-1"))
        yield* Effect.logError("a log line with the store's error", yield* Effect.flip(store.loadEvents("c-1")))
        expect(Chunk.size(yield* Stream.runCollect(Stream.take(store.subscribe({ eventTypes: ["Other"], from: "end" }), 0)))).toBe(0)
        yield* store.unregisterEventClass("Ticked")
        const projection = yield* Projection.run(Projection.make({ name: "counting", handle: () => Effect.void })).pipe(Effect.provide(context))
        yield* projection.whenCaughtUp
        return saved.version
      })))
      expect(Exit.isSuccess(works), Exit.isFailure(works) ? Cause.pretty(works.cause) : "").toBe(true)

      const wrongPassword = new URL(url)
      wrongPassword.password = `${password}-wrong`
      const refused = yield* captured.run(Effect.scoped(Layer.build(PgEventStore.layer({ url: wrongPassword.toString() }))))
      expect(Exit.isFailure(refused)).toBe(true)
      const closed = new URL(url)
      closed.port = String(yield* Effect.promise(freePort))
      const unreachable = yield* captured.run(Effect.scoped(Layer.build(PgEventStore.layer({ url: closed.toString(), connectTimeout: "2 seconds" }))))
      expect(Exit.isFailure(unreachable)).toBe(true)
      captured.restore()

      if (hasRole) {
        expect(captured.shown.length).toBeGreaterThan(20)
        expect(captured.shown.some((text) => text.includes("EventStore.save"))).toBe(true)
      } else {
        yield* Effect.logWarning(`could not create a role on ${database}: only the failing connections were checked`)
      }
      for (const secret of [password, encodeURIComponent(password), `${password}-wrong`]) {
        const leaks = captured.shown.filter((text) => text.includes(secret))
        expect(leaks, `${secret} shown in: ${leaks.slice(0, 3).join(" | ")}`).toEqual([])
      }
      // The user name is not a secret: failures name it, so an operator knows which login failed.
      expect(captured.shown.some((text) => text.includes(role))).toBe(true)
    }), 60_000)
})
