/**
 * A read-only SQLite store: reads and subscriptions work, every write is refused with a clear
 * DatabaseError, and the file is left exactly as it was.
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, EventStore, Projection } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"
import Database from "better-sqlite3"
import { Chunk, Context, Effect, Fiber, Layer, Option, Schedule, Schema, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

class Noted extends Schema.TaggedClass<Noted>()("Noted", { text: Schema.String }) {}
const Note = Aggregate.make({ type: "Note", events: [Noted], initialState: "", evolve: (_, event) => event.text })

const tempDirectory = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "eventuali-readonly-"))),
  (directory) => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true }))
)

const open = (config: SqliteEventStore.SqliteEventStoreConfig) =>
  Effect.map(Layer.build(SqliteEventStore.layer(config)), (context) => ({
    store: Context.get(context, EventStore.EventStore),
    context
  }))

/** What the file holds, read by a plain connection: every row of every table. */
const contentsOf = (filename: string) =>
  Effect.sync(() => {
    const db = new Database(filename, { readonly: true })
    try {
      const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as Array<{ name: string }>
      return tables.map(({ name }) => [name, db.prepare(`SELECT * FROM "${name}"`).all()])
    } finally {
      db.close()
    }
  })

const databaseError = <A, E extends { readonly _tag: string; readonly message: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.map(Effect.flip(effect), (error) => {
    expect(error._tag).toBe("DatabaseError")
    return error.message
  })

describe("SqliteEventStore opened read-only", () => {
  it.scoped("reads and subscriptions work; save, append and a projection's checkpoint are refused with DatabaseError; the file is unchanged", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const filename = NodePath.join(directory, "events.db")
      yield* Effect.scoped(Effect.gen(function*() {
        const { store } = yield* open({ filename })
        yield* store.save(Aggregate.applyAll(Aggregate.empty(Note, "n-1"), [new Noted({ text: "a" }), new Noted({ text: "b" })]))
      }))
      const before = yield* contentsOf(filename)

      const { context, store } = yield* open({ filename, readonly: true })
      const loaded = Option.getOrThrow(yield* store.load(Note, "n-1"))
      expect([loaded.version, loaded.state]).toEqual([2, "b"])
      expect((yield* store.loadEvents("n-1")).length).toBe(2)
      expect((yield* store.loadEventsByType("Note")).length).toBe(2)
      expect(yield* store.getAggregateVersion("n-1")).toEqual(Option.some(2))
      expect(Chunk.size(yield* Stream.runCollect(Stream.take(store.subscribe(), 2)))).toBe(2)
      // Nothing to write is no write.
      expect((yield* store.append("Note", "n-1", [])).version).toBe(2)
      expect(yield* store.save(loaded)).toBe(loaded)

      expect(yield* databaseError(store.save(Aggregate.apply(loaded, new Noted({ text: "c" }))))).toMatch(/is open read-only: it takes no saves, appends, deletes or removals/)
      expect(yield* databaseError(store.append("Note", "n-2", [{ eventType: "Noted", data: { text: "x" } }]))).toMatch(/is open read-only/)
      for (
        const removal of [
          Effect.asVoid(store.delete("n-1")),
          Effect.asVoid(store.restore("n-1")),
          Effect.asVoid(store.truncate("n-1", 2)),
          Effect.asVoid(store.applyRetention({ aggregateType: "Note", maxCount: 1 })),
          Effect.asVoid(store.archive({ aggregateType: "Note" }))
        ]
      ) expect(yield* databaseError(removal)).toMatch(/is open read-only/)
      expect((yield* store.loadEvents("n-1")).length).toBe(2)
      // A projection registers itself when it starts: refused at once.
      expect(
        yield* databaseError(Effect.scoped(Projection.run(Projection.make<never>({ name: "notes", handle: () => Effect.void, retry: Schedule.stop })).pipe(
          Effect.provide(context)
        )))
      ).toMatch(/readonly database/)
      const sql = Context.get(context, SqlClient.SqlClient)
      expect(yield* Effect.flip(sql`DELETE FROM eventuali_events`)).toMatchObject({ _tag: "SqlError" })

      expect(yield* contentsOf(filename)).toEqual(before)
    }), 60_000)

  it.scoped("a read-only subscriber sees what another store writes to the file, by polling", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const filename = NodePath.join(directory, "events.db")
      const writer = (yield* open({ filename })).store
      yield* writer.append("Note", "n-0", [{ eventType: "Noted", data: { text: "first" } }])
      const reader = (yield* open({ filename, readonly: true, pollInterval: "20 millis" })).store
      const received = yield* Effect.fork(Stream.runCollect(Stream.take(reader.subscribe(), 3)))
      yield* writer.append("Note", "n-1", [{ eventType: "Noted", data: { text: "second" } }])
      yield* writer.append("Note", "n-2", [{ eventType: "Noted", data: { text: "third" } }])
      const events = yield* Fiber.join(received).pipe(Effect.timeout("10 seconds"))
      expect(Chunk.toReadonlyArray(events).map((event) => event.aggregateId)).toEqual(["n-0", "n-1", "n-2"])
    }), 60_000)

  it.scoped("a file that does not exist: DatabaseError, and neither the file nor its directory is created", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const filename = NodePath.join(directory, "missing", "events.db")
      expect(yield* databaseError(open({ filename, readonly: true }))).toMatch(/Cannot open SQLite database .*missing/)
      expect(NodeFs.existsSync(NodePath.dirname(filename))).toBe(false)
    }))

  it.scoped("a SQLite file without the store's schema: DatabaseError saying so, and nothing is created", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const filename = NodePath.join(directory, "other.db")
      const db = new Database(filename)
      db.exec(`CREATE TABLE other (x TEXT)`)
      db.close()
      expect(yield* databaseError(open({ filename, readonly: true }))).toMatch(/holds no event store \(opened read-only, so none is created\)/)
      expect((yield* contentsOf(filename)).map(([name]) => name)).toEqual(["other"])
    }))

  it.scoped("an in-memory database cannot be read-only: DatabaseError", () =>
    Effect.gen(function*() {
      expect(yield* databaseError(open({ filename: ":memory:", readonly: true }))).toMatch(/Cannot open SQLite database ":memory:"/)
    }))
})
