/** Live subscriptions on SQLite: the store's own commits wake subscribers; other processes are polled. */
import { describe, expect, it } from "@effect/vitest"
import { EventStore } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"
import { Chunk, Context, type Duration, Effect, Fiber, Layer, Option, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const freshFile = () => Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-sub-")), "events.db")

describe("SQLite live subscriptions", () => {
  it.live("a pollInterval that is not a positive duration fails the layer with DatabaseError (0 made every idle subscriber spin)", () =>
    Effect.gen(function*() {
      for (const pollInterval of [0, -5, "soon"]) {
        const error = yield* Effect.flip(
          Layer.build(SqliteEventStore.layer({ filename: ":memory:", pollInterval: pollInterval as Duration.DurationInput }))
        )
        expect(error._tag).toBe("DatabaseError")
        expect(error.message).toBe(`Invalid pollInterval ${pollInterval}: it must be a positive duration`)
      }
    }).pipe(Effect.scoped))

  it.live("a busyTimeout or synchronous out of range fails the layer with DatabaseError naming it, and creates no file", () =>
    Effect.gen(function*() {
      const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-opt-"))
      const filename = Path.join(directory, "sub", "events.db")
      const cases: ReadonlyArray<readonly [Partial<SqliteEventStore.SqliteEventStoreConfig>, string]> = [
        [{ busyTimeout: -1 }, "Invalid busyTimeout -1: it must be a whole number of milliseconds, 0 or more"],
        [{ busyTimeout: Number.NaN }, "Invalid busyTimeout NaN: it must be a whole number of milliseconds, 0 or more"],
        [{ busyTimeout: Infinity }, "Invalid busyTimeout Infinity: it must be a whole number of milliseconds, 0 or more"],
        [{ busyTimeout: 1.5 }, "Invalid busyTimeout 1.5: it must be a whole number of milliseconds, 0 or more"],
        [{ synchronous: "off" as "full" }, `Invalid synchronous "off": use "full" or "normal"`],
        [{ pollInterval: 0 }, "Invalid pollInterval 0: it must be a positive duration"]
      ]
      for (const [options, message] of cases) {
        const error = yield* Effect.flip(Layer.build(SqliteEventStore.layer({ filename, ...options })))
        expect(error._tag).toBe("DatabaseError")
        expect(error.message).toBe(message)
      }
      expect(Fs.existsSync(Path.join(directory, "sub"))).toBe(false)
      const context = yield* Layer.build(SqliteEventStore.layer({ filename, busyTimeout: 0, synchronous: "normal" }))
      expect(yield* Context.get(context, EventStore.EventStore).getAggregateVersion("none")).toStrictEqual(Option.none())
    }).pipe(Effect.scoped))

  it.live("events written by another store on the same file reach a subscriber by polling", () =>
    Effect.gen(function*() {
      const filename = freshFile()
      const reader = yield* Layer.build(SqliteEventStore.layer({ filename, pollInterval: "20 millis" }))
      const writer = yield* Layer.build(SqliteEventStore.layer({ filename }))
      const readerStore = Context.get(reader, EventStore.EventStore)
      const writerStore = Context.get(writer, EventStore.EventStore)
      const subscriber = yield* readerStore.subscribe({ from: "end" }).pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("100 millis")
      for (let i = 0; i < 3; i++) yield* writerStore.append("Remote", `r-${i}`, [{ eventType: "Pinged", data: { i } }])
      const received = yield* Fiber.join(subscriber).pipe(Effect.timeout("5 seconds"))
      expect(Chunk.toReadonlyArray(received).map((e) => e.aggregateId)).toEqual(["r-0", "r-1", "r-2"])
    }).pipe(Effect.scoped))

  it.live("the store's own appends wake a subscriber at once, without waiting for the poll", () =>
    Effect.gen(function*() {
      const context = yield* Layer.build(SqliteEventStore.layer({ filename: freshFile(), pollInterval: "1 hour" }))
      const store = Context.get(context, EventStore.EventStore)
      const subscriber = yield* store.subscribe({ from: "end" }).pipe(Stream.take(1), Stream.runCollect, Effect.fork)
      yield* Effect.sleep("50 millis")
      yield* store.append("Local", "l-1", [{ eventType: "Pinged", data: {} }])
      const received = yield* Fiber.join(subscriber).pipe(Effect.timeout("5 seconds"))
      expect(Chunk.size(received)).toBe(1)
    }).pipe(Effect.scoped))
})
