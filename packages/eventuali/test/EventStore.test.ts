/**
 * The front door: `EventStore.layer(url)`, `EventStore.create(url)` and `EventStore.layerConfig`
 * choose and open the backend from a connection string, and never show a password.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, expectTypeOf, it } from "@effect/vitest"
import type * as Core from "@eventuali/core/EventStore"
import {
  Cause,
  Config,
  ConfigProvider,
  Context,
  Effect,
  Either,
  Exit,
  Layer,
  Logger,
  LogLevel,
  Option,
  Redacted,
  Schema
} from "effect"
import { Aggregate, ConnectionString, DatabaseError, EventStore } from "eventuali"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

class UserRegistered extends Schema.TaggedClass<UserRegistered>()("UserRegistered", {
  name: Schema.String,
  email: Schema.String
}) {}
class UserEmailChanged extends Schema.TaggedClass<UserEmailChanged>()("UserEmailChanged", {
  newEmail: Schema.String
}) {}

const User = Aggregate.make({
  type: "User",
  events: [UserRegistered, UserEmailChanged],
  initialState: { name: "", email: "" },
  evolve: (state, event) => {
    switch (event._tag) {
      case "UserRegistered":
        return { name: event.name, email: event.email }
      case "UserEmailChanged":
        return { ...state, email: event.newEmail }
    }
  }
})

/** Registers a user and changes its email: two saves, version 2. */
const registerAndChangeEmail = (id: string) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    let user = Aggregate.apply(Aggregate.empty(User, id), new UserRegistered({ name: "John", email: "john@example.com" }))
    user = yield* store.save(user)
    user = Aggregate.apply(user, new UserEmailChanged({ newEmail: "john@example.org" }))
    return yield* store.save(user)
  })

/** Reads back what `registerAndChangeEmail` wrote, through every read. */
const expectRegisteredAndChanged = (id: string) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const loaded = Option.getOrThrow(yield* store.load(User, id))
    expect(loaded.version).toBe(2)
    expect(loaded.state).toEqual({ name: "John", email: "john@example.org" })
    const events = yield* store.loadEvents(id)
    expect(events.map((event) => [event.eventType, event.aggregateVersion])).toEqual([
      ["UserRegistered", 1],
      ["UserEmailChanged", 2]
    ])
    expect((yield* store.loadEvents(id, 1)).map((event) => event.eventType)).toEqual(["UserEmailChanged"])
    expect((yield* store.loadEventsByType("User")).map((event) => event.aggregateId)).toEqual([id, id])
    expect(yield* store.getAggregateVersion(id)).toEqual(Option.some(2))
    return events
  })

/** A fresh directory, removed with the scope. */
const tempDirectory = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "eventuali-front-door-"))),
  (directory) => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true }))
)

/** The store's SQLite connection: the SQLite layer carries its `SqlClient` next to the store. */
const pragma = (url: string, name: string) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(EventStore.layer(url))
    const sql = Option.getOrThrowWith(
      Context.getOption(context, SqlClient.SqlClient),
      () => new Error(`EventStore.layer(${JSON.stringify(url)}) provides no SqlClient`)
    )
    const rows = yield* sql.unsafe<Record<string, unknown>>(`PRAGMA ${name}`)
    return rows[0]?.[name]
  }).pipe(Effect.scoped)

/** The failure of building the layer; a defect or a success fails the test. */
const layerError = (layer: Layer.Layer<EventStore, DatabaseError>) => Effect.flip(Effect.scoped(Layer.build(layer)))

/** Every way an error gets shown: message, String(), JSON, the pretty cause. */
const renderings = (error: unknown): ReadonlyArray<string> => [
  error instanceof Error ? error.message : "",
  String(error),
  JSON.stringify(error),
  Cause.pretty(Cause.fail(error))
]

const SUPPORTED = ["sqlite://", "postgresql://", "postgres://"]

describe("EventStore.layer", () => {
  it.effect.each(["sqlite://:memory:", "memory://"])("%s: save, load and every read work end to end", (url) =>
    Effect.gen(function*() {
      const saved = yield* registerAndChangeEmail("user-123")
      expect(saved.version).toBe(2)
      expect(saved.uncommittedEvents).toEqual([])
      yield* expectRegisteredAndChanged("user-123")
      expect(yield* (yield* EventStore).load(User, "nobody")).toEqual(Option.none())
    }).pipe(Effect.provide(EventStore.layer(url))))

  it.scoped("sqlite://relative/path.db opens a file relative to the working directory", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const absolute = NodePath.join(directory, "relative.db")
      const relative = NodePath.relative(process.cwd(), absolute)
      expect(NodePath.isAbsolute(relative)).toBe(false)
      yield* registerAndChangeEmail("user-1").pipe(Effect.provide(EventStore.layer(`sqlite://${relative}`)))
      expect(NodeFs.statSync(absolute).isFile()).toBe(true)
      yield* expectRegisteredAndChanged("user-1").pipe(Effect.provide(EventStore.layer(`sqlite://${absolute}`)))
    }))

  it.scoped("sqlite:///absolute/path.db creates missing parent directories", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const absolute = NodePath.join(directory, "does", "not", "exist", "yet", "x.db")
      yield* registerAndChangeEmail("user-1").pipe(Effect.provide(EventStore.layer(`sqlite://${absolute}`)))
      expect(NodeFs.statSync(absolute).isFile()).toBe(true)
    }))

  it.scoped("two layers on the same file, one after the other, see the same data", () =>
    Effect.gen(function*() {
      const url = `sqlite://${NodePath.join(yield* tempDirectory, "shared.db")}`
      yield* registerAndChangeEmail("user-1").pipe(Effect.provide(EventStore.layer(url)))
      const first = yield* expectRegisteredAndChanged("user-1").pipe(Effect.provide(EventStore.layer(url)))
      const second = yield* Effect.gen(function*() {
        const store = yield* EventStore
        const user = Option.getOrThrow(yield* store.load(User, "user-1"))
        yield* store.save(Aggregate.apply(user, new UserEmailChanged({ newEmail: "j@example.net" })))
        return yield* store.loadEvents("user-1")
      }).pipe(Effect.provide(EventStore.layer(url)))
      // The reopened file holds the same events (ids, positions) and takes the next version.
      expect(second.slice(0, 2)).toEqual(first)
      expect(second.map((event) => event.aggregateVersion)).toEqual([1, 2, 3])
    }))

  it.scoped("?synchronous=normal sets PRAGMA synchronous; the default and ?synchronous=full are FULL", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const file = NodePath.join(directory, "sync.db")
      // PRAGMA synchronous: 1 = NORMAL, 2 = FULL.
      expect(yield* pragma(`sqlite://${file}?synchronous=normal`, "synchronous")).toBe(1)
      expect(yield* pragma(`sqlite://${file}?synchronous=full`, "synchronous")).toBe(2)
      expect(yield* pragma(`sqlite://${file}`, "synchronous")).toBe(2)
      expect(yield* pragma(`sqlite://${file}`, "journal_mode")).toBe("wal")
    }))

  it.effect.each(["sqlite://x.db?synchronous=off", "sqlite://x.db?synchronous=", "sqlite://x.db?foo=bar"])(
    "%s: an unsupported SQLite option fails with DatabaseError",
    (url) =>
      Effect.gen(function*() {
        const error = yield* layerError(EventStore.layer(url))
        expect(error).toBeInstanceOf(DatabaseError)
        expect(error.message).toContain("synchronous=full|normal")
      })
  )

  it.effect.each(["mysql://localhost/db", "http://example.com/", "", "   ", "nonsense", "sqlite:relative-without-slashes"])(
    "%j: an unsupported connection string fails with DatabaseError naming the supported schemes",
    (url) =>
      Effect.gen(function*() {
        const error = yield* layerError(EventStore.layer(url))
        expect(error._tag).toBe("DatabaseError")
        expect(error).toBeInstanceOf(DatabaseError)
        // "sqlite:relative" names the scheme, so its message says what a SQLite URL looks like.
        for (const scheme of url.startsWith("sqlite:") ? ["sqlite://"] : SUPPORTED) {
          expect(error.message).toContain(scheme)
        }
      })
  )

  it.effect.each([
    "mysql://bob:s3cret@host/db",
    "redis://:s3cret@host",
    "mysql://bob:p@ss-s3cret@host/db",
    "http://bob:s3cret@example.com/?password=s3cret",
    "bob:s3cret@host/db",
    "sqlite://x.db?password=s3cret",
    "sqlite://x.db?token=s3cret",
    "sqlite://?password=s3cret",
    "sqlite://x%zz.db?password=s3cret"
  ])("%s: the password appears in no rendering of the error, nor in logs", (url) =>
    Effect.gen(function*() {
      const logged: Array<string> = []
      const logger = Logger.make(({ cause, message }) => logged.push(`${String(message)} ${Cause.pretty(cause)}`))
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(EventStore.layer(url)))).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, logger)),
        Logger.withMinimumLogLevel(LogLevel.All)
      )
      expect(Exit.isFailure(exit)).toBe(true)
      if (Exit.isSuccess(exit)) return
      const error = Cause.squash(exit.cause)
      expect(error).toBeInstanceOf(DatabaseError)
      for (const shown of [...renderings(error), Cause.pretty(exit.cause), ...logged]) {
        expect(shown).not.toContain("s3cret")
      }
    }))

  it.effect("a Redacted connection string with a password fails without showing it", () =>
    Effect.gen(function*() {
      const error = yield* layerError(EventStore.layer(Redacted.make("mysql://bob:s3cret@host/db")))
      for (const shown of renderings(error)) expect(shown).not.toContain("s3cret")
    }))

  it.live.each(["postgresql://bob:s3cret@127.0.0.1:1/db", "postgres://bob:s3cret@127.0.0.1:1/db?sslmode=disable"])(
    "%s: either opens or fails with DatabaseError, never showing the password",
    (url) =>
      Effect.gen(function*() {
        // Port 1 refuses connections at once: whatever the PostgreSQL support does, it cannot hang.
        const exit = yield* Effect.exit(Effect.scoped(Layer.build(EventStore.layer(url))))
        if (Exit.isFailure(exit)) {
          expect(Cause.isDie(exit.cause)).toBe(false)
          const error = Cause.squash(exit.cause)
          expect(error).toBeInstanceOf(DatabaseError)
          for (const shown of [...renderings(error), Cause.pretty(exit.cause)]) expect(shown).not.toContain("s3cret")
        }
      }),
    30_000
  )

  it.scoped("an unopenable SQLite path fails with DatabaseError, not a defect", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const file = NodePath.join(directory, "a-file")
      NodeFs.writeFileSync(file, "not a directory")
      // Its parent is a regular file; it is a directory; it is not a database.
      for (const path of [NodePath.join(file, "x.db"), directory, file]) {
        const error = yield* layerError(EventStore.layer(`sqlite://${path}`))
        expect(error).toBeInstanceOf(DatabaseError)
        expect(error.message).toContain(path)
      }
    }))

  it.effect("a malformed percent-encoding fails with DatabaseError instead of throwing", () =>
    Effect.gen(function*() {
      const error = yield* Effect.suspend(() => layerError(EventStore.layer("sqlite://bad%zz.db")))
      expect(error).toBeInstanceOf(DatabaseError)
    }))
})

describe("EventStore.create", () => {
  it.scoped("opens the store in the current scope and closes the database with it", () =>
    Effect.gen(function*() {
      const file = NodePath.join(yield* tempDirectory, "scoped.db")
      const store = yield* Effect.scoped(
        Effect.gen(function*() {
          const store = yield* EventStore.create(`sqlite://${file}`)
          yield* registerAndChangeEmail("user-1").pipe(Effect.provideService(EventStore, store))
          yield* expectRegisteredAndChanged("user-1").pipe(Effect.provideService(EventStore, store))
          // Open in WAL mode: the write-ahead log exists while a connection is open.
          expect(NodeFs.existsSync(`${file}-wal`)).toBe(true)
          return store
        })
      )
      // The last connection closing checkpoints the log and deletes it; the store no longer works.
      expect(NodeFs.existsSync(`${file}-wal`)).toBe(false)
      expect(Exit.isFailure(yield* Effect.exit(store.getAggregateVersion("user-1")))).toBe(true)
      // The data is in the file.
      yield* expectRegisteredAndChanged("user-1").pipe(Effect.provide(EventStore.layer(`sqlite://${file}`)))
    }))

  it.effect("fails with DatabaseError for an unsupported connection string", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(EventStore.create("mysql://bob:s3cret@host/db")))
      expect(error).toBeInstanceOf(DatabaseError)
      for (const shown of renderings(error)) expect(shown).not.toContain("s3cret")
    }))
})

describe("EventStore.layerConfig", () => {
  const provider = (entries: ReadonlyArray<readonly [string, string]>) => ConfigProvider.fromMap(new Map(entries))

  it.effect("reads the connection string from the ConfigProvider", () =>
    Effect.gen(function*() {
      yield* registerAndChangeEmail("user-1")
      yield* expectRegisteredAndChanged("user-1")
    }).pipe(
      Effect.provide(EventStore.layerConfig(Config.redacted("EVENTUALI_URL"))),
      Effect.withConfigProvider(provider([["EVENTUALI_URL", "sqlite://:memory:"]]))
    ))

  it.effect("a missing setting fails with ConfigError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(EventStore.layerConfig(Config.redacted("EVENTUALI_URL")))))
      expect(error._tag).not.toBe("DatabaseError")
      expect(String(error)).toContain("EVENTUALI_URL")
    }).pipe(Effect.withConfigProvider(provider([]))))

  it.effect("a configured URL with a password fails with DatabaseError without showing it", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(Layer.build(EventStore.layerConfig(Config.redacted("EVENTUALI_URL")))))
      expect(error).toBeInstanceOf(DatabaseError)
      for (const shown of renderings(error)) expect(shown).not.toContain("s3cret")
    }).pipe(Effect.withConfigProvider(provider([["EVENTUALI_URL", "mysql://bob:s3cret@host/db"]]))))
})

describe("ConnectionString", () => {
  it.each([
    ["postgresql://bob:s3cret@host:5432/db", "postgresql://bob:***@host:5432/db"],
    ["postgres://bob:s3cret@host/db?sslmode=require", "postgres://bob:***@host/db?sslmode=require"],
    ["redis://:s3cret@host", "redis://:***@host"],
    ["postgresql://bob:p@ss@host/db", "postgresql://bob:***@host/db"],
    ["postgresql://host/db?user=bob&password=s3cret&sslmode=require", "postgresql://host/db?user=bob&password=***&sslmode=require"],
    ["postgresql://bob:s3cret@host/db?pwd=s3cret", "postgresql://bob:***@host/db?pwd=***"],
    ["bob:s3cret@host/db", "bob:***@host/db"],
    ["postgresql://bob@host/db", "postgresql://bob@host/db"],
    ["postgresql://host:5432/db", "postgresql://host:5432/db"],
    ["postgresql://host:5432/db?application_name=a@b", "postgresql://host:5432/db?application_name=a@b"],
    ["sqlite:///var/data/events.db", "sqlite:///var/data/events.db"],
    ["sqlite://:memory:", "sqlite://:memory:"],
    ["nonsense", "nonsense"],
    ["", ""]
  ])("redact(%j) = %j", (url, redacted) => {
    expect(ConnectionString.redact(url)).toBe(redacted)
  })

  it.each([
    ["sqlite://:memory:", { _tag: "Sqlite", filename: ":memory:", synchronous: undefined }],
    ["sqlite://events.db", { _tag: "Sqlite", filename: "events.db", synchronous: undefined }],
    ["sqlite://data/events.db?synchronous=normal", { _tag: "Sqlite", filename: "data/events.db", synchronous: "normal" }],
    ["sqlite:///var/data/events.db?synchronous=full", { _tag: "Sqlite", filename: "/var/data/events.db", synchronous: "full" }],
    ["SQLITE:///var/my%20events.db", { _tag: "Sqlite", filename: "/var/my events.db", synchronous: undefined }],
    ["postgresql://bob:s3cret@host/db", { _tag: "Postgres", url: "postgresql://bob:s3cret@host/db" }],
    ["postgres://host/db", { _tag: "Postgres", url: "postgres://host/db" }],
    ["memory://", { _tag: "Memory" }]
  ])("parse(%j)", (url, parsed) => {
    expect(ConnectionString.parse(url)).toEqual(Either.right(parsed))
  })

  it.each(["", "mysql://host/db", "sqlite:x.db", "sqlite://", "sqlite://x.db?synchronous=off", "sqlite://%zz", "sqlite://a\u0000b"])(
    "parse(%j) fails with DatabaseError",
    (url) => {
      const parsed = ConnectionString.parse(url)
      expect(Either.isLeft(parsed)).toBe(true)
      if (Either.isLeft(parsed)) expect(parsed.left).toBeInstanceOf(DatabaseError)
    }
  )
})

describe("EventStore namespace", () => {
  it("names the store's option, event and error types", () => {
    expectTypeOf<EventStore.ReadError>().toEqualTypeOf<Core.ReadError>()
    expectTypeOf<EventStore.WriteError>().toEqualTypeOf<Core.WriteError>()
    expectTypeOf<EventStore.SubscribeOptions>().toEqualTypeOf<Core.SubscribeOptions>()
    expectTypeOf<EventStore.SubscriptionStart>().toEqualTypeOf<Core.SubscriptionStart>()
    // Every type of the core's EventStore module the docs name as EventStore.X from "eventuali".
    expectTypeOf<EventStore.StreamAllOptions>().toEqualTypeOf<Core.StreamAllOptions>()
    expectTypeOf<EventStore.DeleteOptions>().toEqualTypeOf<Core.DeleteOptions>()
    expectTypeOf<EventStore.DeleteResult>().toEqualTypeOf<Core.DeleteResult>()
    expectTypeOf<EventStore.TruncateResult>().toEqualTypeOf<Core.TruncateResult>()
    expectTypeOf<EventStore.LifecycleError>().toEqualTypeOf<Core.LifecycleError>()
    expectTypeOf<EventStore.RetentionPolicy>().toEqualTypeOf<Core.RetentionPolicy>()
    expectTypeOf<EventStore.RetentionOptions>().toEqualTypeOf<Core.RetentionOptions>()
    expectTypeOf<EventStore.RetentionReport>().toEqualTypeOf<Core.RetentionReport>()
    expectTypeOf<EventStore.ArchivePolicy>().toEqualTypeOf<Core.ArchivePolicy>()
    expectTypeOf<EventStore.ArchiveReport>().toEqualTypeOf<Core.ArchiveReport>()
    expectTypeOf<EventStore.InlineHandler>().toEqualTypeOf<Core.InlineHandler>()
    expectTypeOf<EventStore.SubscriptionEvent<string>>().toEqualTypeOf<Core.SubscriptionEvent<string>>()
    expectTypeOf<EventStore.ReadEventsOptions>().toEqualTypeOf<Core.ReadEventsOptions>()
    expectTypeOf<EventStore.StoreOptions>().toEqualTypeOf<Core.StoreOptions>()
    expectTypeOf(new DatabaseError({ message: "down" })).toExtend<EventStore.ReadError>()
  })
})
