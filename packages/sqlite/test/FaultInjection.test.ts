/**
 * Faults on the SQLite store: a writer process killed with SIGKILL while group commit holds a
 * batch of concurrent saves (with a live subscriber and a projection), and the disk running full.
 * After each: every acknowledged save stored exactly once, nothing half-written, the subscriber
 * and the projection resume without a gap or a duplicate, and the store keeps working.
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, Checkpoint, EventStore, Projection } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"
import { FaultInjection } from "@eventuali/testing/vitest"
import Database from "better-sqlite3"
import { Cause, Chunk, Context, Effect, Exit, Fiber, Layer, Option, Ref, Schedule, Schema, Stream } from "effect"
import { execFileSync } from "node:child_process"
import { createRequire } from "node:module"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"

const writerScript = fileURLToPath(new URL("./fixtures/faultWriter.ts", import.meta.url))
const packageDirectory = fileURLToPath(new URL("..", import.meta.url))
/** tsx's loader, resolved like any dependency, so the child does not depend on its cwd or PATH. */
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href

const tempDirectory = Effect.acquireRelease(
  Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "eventuali-faults-"))),
  (directory) => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true }))
)

/** SQLite's own check of the file, by a plain connection that also recovers the killed writer's WAL. */
const integrityOf = (filename: string) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Database(filename)),
    (db) => Effect.sync(() => db.pragma("integrity_check")),
    (db) => Effect.sync(() => db.close())
  )

describe("SqliteEventStore under faults", () => {
  it.live(
    "a writer process killed with SIGKILL while group commit holds a batch of 32 concurrent saves (synchronous full, then normal) loses no acknowledged save, writes none in part, and its subscriber and projection resume without gap or duplicate",
    () =>
      Effect.gen(function*() {
        const directory = yield* tempDirectory
        const filename = NodePath.join(directory, "events.db")
        const readModel = "fault_read_model"
        const acks: Array<FaultInjection.Ack> = []
        for (let round = 1; round <= 3; round++) {
          const run = yield* FaultInjection.runUntilKilled({
            // The last round with synchronous=normal: a killed process loses nothing either (only
            // an OS crash or a power cut can take the last commits, which no test here makes).
            args: ["--import", tsxLoader, writerScript, filename, `round${round}`, readModel, round === 3 ? "normal" : "full"],
            cwd: packageDirectory,
            killAfterAcks: 200 + Math.floor(Math.random() * 400)
          })
          expect(run.signal, run.stderr).toBe("SIGKILL")
          expect(run.acks.length, run.stderr).toBeGreaterThan(0)
          acks.push(...run.acks)
          expect(yield* integrityOf(filename)).toEqual([{ integrity_check: "ok" }])
          const found = yield* FaultInjection.verify({ acks, seen: run.seen, round: `round${round}`, readModel }).pipe(
            Effect.provide(SqliteEventStore.layer({ filename }))
          )
          // Several saves share a commit: a kill between the commit and the acknowledgements
          // leaves several saves written but unacknowledged (not asserted: it depends on timing).
          yield* Effect.logDebug(`round ${round}: ${run.acks.length} acknowledged, ${JSON.stringify(found)}`)
        }
        expect(yield* integrityOf(filename)).toEqual([{ integrity_check: "ok" }])
      }).pipe(Effect.scoped),
    180_000
  )
})

class Filled extends Schema.TaggedClass<Filled>()("Filled", { saveId: Schema.String, index: Schema.Number, padding: Schema.String }) {}
const Tank = Aggregate.make({
  type: "Tank",
  events: [Filled],
  initialState: 0,
  evolve: (count: number) => count + 1
})

/**
 * Writers, a subscriber and a projection on a database that runs out of space, then gets some
 * back: `exhaust` takes the space away (after a first batch of saves), `free` gives it back.
 */
const runOutOfSpace = (
  filename: string,
  space: {
    readonly exhaust: Effect.Effect<void, unknown, SqlClient.SqlClient>
    readonly free: Effect.Effect<void, unknown, SqlClient.SqlClient>
  }
) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(SqliteEventStore.layer({ filename }))
    const store = Context.get(context, EventStore.EventStore)
    const sql = Context.get(context, SqlClient.SqlClient)
    yield* sql`CREATE TABLE read_model (event_id TEXT NOT NULL)`

    // Writers save with fixed event ids and retry a failed save as it was (idempotent).
    const writers = 8
    const acknowledged = yield* Ref.make<ReadonlyArray<FaultInjection.Ack>>([])
    const failures = yield* Ref.make<ReadonlyArray<string>>([])
    const stopping = yield* Ref.make(false)
    const writer = (w: number) =>
      Effect.gen(function*() {
        let root = Aggregate.empty(Tank, `tank-${w}`)
        for (let n = 0; !(yield* Ref.get(stopping)); n++) {
          const saveId = `tank-${w}-${n}`
          // One save in ten holds over 1000 events: more than one statement, in a transaction of its own.
          const count = n % 10 === 9 ? 1001 : 1 + (n % 7)
          const events = Array.from({ length: count }, (_, index) => new Filled({ saveId, index, padding: "x".repeat(200) }))
          const eventIds = events.map(() => crypto.randomUUID())
          const pending = Aggregate.applyAll(root, events)
          while (true) {
            const exit = yield* Effect.exit(store.save(pending, { eventIds, headers: { saveId, count: String(count) } }))
            if (Exit.isSuccess(exit)) {
              root = exit.value
              yield* Ref.update(acknowledged, (acks) => [...acks, { saveId, aggregateId: root.id, version: root.version, eventIds }])
              // Like a request handler, let the event loop run between saves: a closed loop of
              // saves on a synchronous driver would keep timers waiting (see docs/reliability.md).
              yield* Effect.sleep("1 millis")
              break
            }
            // A full disk is a DatabaseError, never a defect.
            expect(Cause.isDie(exit.cause), Cause.pretty(exit.cause)).toBe(false)
            const error = Cause.squash(exit.cause)
            expect(error).toMatchObject({ _tag: "DatabaseError" })
            yield* Ref.update(failures, (messages) => [...messages, String((error as Error).message)])
            if (yield* Ref.get(stopping)) return
            yield* Effect.sleep("20 millis")
          }
        }
      })

    // The subscriber keeps its checkpoint and subscribes again from it when its subscription fails.
    const delivered = yield* Ref.make<ReadonlyArray<string>>([])
    const checkpoint = yield* Ref.make<Checkpoint.Checkpoint>(Checkpoint.beginning)
    const subscribing = yield* Effect.gen(function*() {
      yield* store.subscribe({ from: yield* Ref.get(checkpoint), aggregateTypes: [Tank.type] }).pipe(
        Stream.runForEach((event) =>
          Effect.zipRight(Ref.update(delivered, (ids) => [...ids, event.eventId]), Ref.set(checkpoint, event.checkpoint))
        )
      )
    }).pipe(Effect.catchAll(() => Effect.sleep("50 millis")), Effect.forever, Effect.forkScoped)

    // The projection writes its read model in the same database: its batches fail while the disk is full.
    const projection = yield* Projection.run(Projection.make({
      name: "tank-projection",
      aggregateTypes: [Tank.type],
      retry: Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(300))),
      handle: (event) => Effect.flatMap(SqlClient.SqlClient, (sql) => sql`INSERT INTO read_model (event_id) VALUES (${event.eventId})`)
    })).pipe(Effect.provide(context))

    const writing = yield* Effect.forkScoped(Effect.all(Array.from({ length: writers }, (_, w) => writer(w)), { concurrency: "unbounded" }))
    const acks = Effect.map(Ref.get(acknowledged), (all) => all.length)
    const waitFor = (condition: Effect.Effect<boolean>, what: string) =>
      Effect.repeat(condition, { until: (holds) => holds, schedule: Schedule.spaced("20 millis") }).pipe(
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`no ${what} within 30 seconds`) })
      )
    yield* waitFor(Effect.map(acks, (n) => n >= 40), "40 saves")
    yield* Effect.provideService(space.exhaust, SqlClient.SqlClient, sql)
    yield* waitFor(Effect.map(Ref.get(failures), (messages) => messages.length >= 3 * writers), "failing saves once full")
    const failed = yield* Ref.get(failures)
    expect(failed.some((message) => /full/i.test(message)), failed.slice(0, 3).join("\n")).toBe(true)
    const acknowledgedWhenFull = yield* acks

    yield* Effect.provideService(space.free, SqlClient.SqlClient, sql)
    yield* waitFor(Effect.map(acks, (n) => n >= acknowledgedWhenFull + 40), "40 saves after space was freed")
    yield* Ref.set(stopping, true)
    yield* Fiber.join(writing).pipe(Effect.timeout("30 seconds"))

    // Every acknowledged save is stored once and whole; no failed save left anything behind.
    const log = Chunk.toReadonlyArray(yield* Stream.runCollect(store.streamEventsByType(Tank.type)))
    const all = yield* Ref.get(acknowledged)
    const logIds = log.map((event) => event.eventId)
    expect(new Set(logIds).size).toBe(logIds.length)
    // Every failed save was retried as it was until it succeeded: the log holds exactly the acknowledged saves.
    expect([...logIds].sort()).toEqual(all.flatMap((ack) => ack.eventIds).sort())
    for (const ack of all) {
      const events = yield* store.loadEvents(ack.aggregateId, ack.version - ack.eventIds.length)
      expect(events.slice(0, ack.eventIds.length).map((event) => event.eventId), ack.saveId).toEqual(ack.eventIds)
    }

    // The subscriber saw every event once, in order; the projection applied every event once.
    yield* waitFor(Effect.map(Ref.get(delivered), (ids) => ids.length >= log.length), "delivery of every event")
    yield* Fiber.interrupt(subscribing)
    expect(yield* Ref.get(delivered)).toEqual(log.map((event) => event.eventId))
    yield* projection.whenCaughtUp.pipe(Effect.timeout("30 seconds"))
    const projected = yield* sql<{ readonly event_id: string }>`SELECT event_id FROM read_model`
    expect(projected.map((row) => row.event_id).sort()).toEqual(log.map((event) => event.eventId).sort())
    return { acknowledged: all.length, failures: failed.length, events: log.length }
  })

/** A tmpfs of `megabytes` at `directory`, unmounted with the scope; fails where mounting is not allowed. */
const tmpfs = (directory: string, megabytes: number) =>
  Effect.acquireRelease(
    Effect.try(() => execFileSync("mount", ["-t", "tmpfs", "-o", `size=${megabytes}m`, "tmpfs", directory], { stdio: "pipe" })),
    () => Effect.sync(() => execFileSync("umount", [directory], { stdio: "pipe" }))
  )

/** Whether this process may mount a tmpfs (root on Linux, outside most containers' limits). */
const canMount = Effect.runSync(Effect.scoped(Effect.gen(function*() {
  const directory = yield* tempDirectory
  return yield* Effect.isSuccess(Effect.scoped(tmpfs(directory, 1)))
})))

describe("SqliteEventStore when the disk runs full", () => {
  it.live("a save that fits commits even when a save committed with it in one group does not fit: each gets its own answer", () =>
    Effect.gen(function*() {
      const directory = yield* tempDirectory
      const context = yield* Layer.build(SqliteEventStore.layer({ filename: NodePath.join(directory, "events.db") }))
      const store = Context.get(context, EventStore.EventStore)
      const sql = Context.get(context, SqlClient.SqlClient)
      const filled = (count: number) => Array.from({ length: count }, (_, index) => new Filled({ saveId: "s", index, padding: "x".repeat(300) }))
      yield* store.save(Aggregate.applyAll(Aggregate.empty(Tank, "warm-up"), filled(1)))
      // Room for a few pages more: a one-event save fits, a 1001-event save does not.
      const [row] = yield* sql<{ readonly page_count: number }>`PRAGMA page_count`
      yield* sql.unsafe(`PRAGMA max_page_count = ${Number(row!.page_count) + 8}`)
      const [big, small] = yield* Effect.all([
        Effect.either(store.save(Aggregate.applyAll(Aggregate.empty(Tank, "big"), filled(1001)))),
        Effect.either(store.save(Aggregate.applyAll(Aggregate.empty(Tank, "small"), filled(1))))
      ], { concurrency: "unbounded" })
      expect(big._tag === "Left" && big.left._tag === "DatabaseError" && /full/.test(big.left.message), String(big)).toBe(true)
      expect(small._tag, String(small)).toBe("Right")
      expect((yield* store.loadEvents("small")).length).toBe(1)
      expect(yield* store.getAggregateVersion("big")).toEqual(Option.none())
    }).pipe(Effect.scoped))


  it.live.runIf(canMount)(
    "a 16 MB tmpfs runs full under writers, a subscriber and a projection: saves fail with DatabaseError saying the disk is full, nothing is half-written; after a ballast file is deleted, saving resumes and the subscriber and projection see every event once",
    () =>
      Effect.gen(function*() {
        const directory = yield* tempDirectory
        yield* tmpfs(directory, 16)
        // What the operator frees. In WAL mode the space given back must hold a checkpoint
        // (the log copied into the database file) before the log can be reused: half the disk.
        const ballast = NodePath.join(directory, "ballast")
        NodeFs.writeFileSync(ballast, Buffer.alloc(8 * 1024 * 1024))
        const filename = NodePath.join(directory, "events.db")
        // Runs in its own scope, so the database is closed before the tmpfs is unmounted.
        const found = yield* Effect.scoped(runOutOfSpace(filename, {
          exhaust: Effect.void, // the file system fills up by itself
          free: Effect.sync(() => NodeFs.rmSync(ballast))
        }))
        yield* Effect.logDebug(`tmpfs: ${JSON.stringify(found)}`)
        expect(yield* integrityOf(filename)).toEqual([{ integrity_check: "ok" }])
      }).pipe(Effect.scoped),
    120_000
  )

  it.live(
    "a database that reaches PRAGMA max_page_count (a full disk, emulated) under writers, a subscriber and a projection: saves fail with DatabaseError saying the database is full, nothing is half-written; with room again, saving resumes and the subscriber and projection see every event once",
    () =>
      Effect.gen(function*() {
        const directory = yield* tempDirectory
        const filename = NodePath.join(directory, "events.db")
        const found = yield* Effect.scoped(runOutOfSpace(filename, {
          exhaust: Effect.flatMap(SqlClient.SqlClient, (sql) =>
            Effect.flatMap(sql<{ readonly page_count: number }>`PRAGMA page_count`, ([row]) =>
              sql.unsafe(`PRAGMA max_page_count = ${Number(row!.page_count) + 64}`))),
          free: Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`PRAGMA max_page_count = 4294967294`))
        }))
        yield* Effect.logDebug(`max_page_count: ${JSON.stringify(found)}`)
        expect(yield* integrityOf(filename)).toEqual([{ integrity_check: "ok" }])
      }).pipe(Effect.scoped),
    120_000
  )
})
