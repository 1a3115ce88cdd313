/**
 * Crash safety of the SQLite store: a writer in a child process is killed with SIGKILL in the
 * middle of saving, three times on the same file. After each kill the file must pass SQLite's
 * integrity check, hold every save the writer acknowledged, hold no save in part, and take
 * new saves.
 */
import { describe, expect, it } from "@effect/vitest"
import { Aggregate, EventStore } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"
import { FaultInjection } from "@eventuali/testing/vitest"
import Database from "better-sqlite3"
import { Chunk, Effect, Option, Schema, Stream } from "effect"
import { randomUUID } from "node:crypto"
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { type Ack, aggregateIds, Counter, Ticked } from "./fixtures/crashModel.js"

const ROUNDS = 3
const writerScript = fileURLToPath(new URL("./fixtures/crashWriter.ts", import.meta.url))
const packageDirectory = fileURLToPath(new URL("..", import.meta.url))
/** tsx's loader, resolved like any dependency, so the child does not depend on its cwd or PATH. */
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href
/** The raw payload of a stored `Ticked` (reads other than `load` return JSON without `_tag`). */
const decodeTickedIndex = Schema.decodeUnknownSync(Schema.Struct({ index: Schema.Number }))

/**
 * Runs the writer until it has acknowledged `killAfter` saves (or for 1.5 s after its first
 * acknowledgement, on a slow machine), then kills it with SIGKILL.
 */
const runWriterUntilKilled = (filename: string, round: number, killAfter: number) =>
  FaultInjection.runUntilKilled({
    args: ["--import", tsxLoader, writerScript, filename, String(round)],
    cwd: packageDirectory,
    killAfterAcks: killAfter,
    maxMillisAfterFirstAck: 1_500
  })

/** SQLite's own check of the file, by a plain connection that also recovers the killed writer's WAL. */
const inspectFile = (filename: string) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Database(filename)),
    (db) =>
      Effect.sync(() => ({
        integrity: db.pragma("integrity_check"),
        rows: Number((db.prepare("SELECT count(*) AS n FROM eventuali_events").get() as { n: number }).n)
      })),
    (db) => Effect.sync(() => db.close())
  )

/**
 * Opens the file with the store and checks it against everything acknowledged so far; then
 * saves one more event on every aggregate (acknowledged too, for the next rounds).
 */
const verifyAndContinue = (filename: string, round: number, acks: Array<Ack>) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const events = Chunk.toReadonlyArray(yield* Stream.runCollect(store.streamAll()))

    // Versions are 1..n per aggregate, in position order.
    const { byAggregate, bySave } = FaultInjection.groupLog(events)
    for (const [aggregateId, stream] of byAggregate) {
      expect(stream.map((event) => event.aggregateVersion), aggregateId).toEqual(
        Array.from({ length: stream.length }, (_, i) => i + 1)
      )
    }

    // Every save found is whole: `count` events at contiguous versions of one aggregate, in order.
    expect(bySave.has(FaultInjection.NO_SAVE_ID)).toBe(false)
    for (const [saveId, saved] of bySave) {
      const first = saved[0]!
      expect(saved.length, `save ${saveId} is all or nothing`).toBe(Number(first.metadata.headers["count"]))
      expect(saved.map((event) => [event.aggregateId, event.aggregateVersion]), saveId).toEqual(
        saved.map((_, i) => [first.aggregateId, first.aggregateVersion + i])
      )
      expect(saved.map((event) => decodeTickedIndex(event.data).index), saveId).toEqual(
        saved.map((_, i) => i)
      )
    }

    // Every acknowledged save is there, with its event ids at its versions.
    for (const ack of acks) {
      const saved = bySave.get(ack.saveId)
      expect(saved, `acknowledged save ${ack.saveId} is missing`).toBeDefined()
      expect(saved!.map((event) => [event.aggregateId, event.aggregateVersion, event.eventId]), ack.saveId).toEqual(
        ack.eventIds.map((eventId, i) => [ack.aggregateId, ack.version - ack.eventIds.length + 1 + i, eventId])
      )
    }

    // The writer saves one at a time and waits for each line to be written: each kill leaves at
    // most one save written but not acknowledged.
    const acknowledged = new Set(acks.map((ack) => ack.saveId))
    const unacknowledged = [...bySave.keys()].filter((saveId) => !acknowledged.has(saveId))
    expect(unacknowledged.length).toBeLessThanOrEqual(round)

    // The store keeps working: every aggregate loads whole and takes a save at the next version.
    for (const aggregateId of aggregateIds) {
      const stored = byAggregate.get(aggregateId)?.length ?? 0
      const loaded = Option.getOrElse(yield* store.load(Counter, aggregateId), () => Aggregate.empty(Counter, aggregateId))
      expect(loaded.version).toBe(stored)
      expect(loaded.state.events).toBe(stored)
      const saveId = `round-${round}-probe-${aggregateId}`
      const eventId = randomUUID()
      const saved = yield* store.save(Aggregate.apply(loaded, new Ticked({ saveId, index: 0, padding: "" })), {
        eventIds: [eventId],
        headers: { saveId, count: "1" }
      })
      expect(saved.version).toBe(stored + 1)
      expect((yield* store.loadEvents(aggregateId, stored)).map((event) => event.eventId)).toEqual([eventId])
      acks.push({ saveId, aggregateId, version: saved.version, eventIds: [eventId] })
    }
    return { events: events.length, saves: bySave.size, unacknowledged: unacknowledged.length }
  }).pipe(Effect.provide(SqliteEventStore.layer({ filename })))

describe("SqliteEventStore crash safety", () => {
  it.live(
    "a writer killed with SIGKILL mid-save loses no acknowledged save and leaves no partial save",
    () =>
      Effect.gen(function*() {
        const directory = yield* Effect.acquireRelease(
          Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "eventuali-crash-"))),
          (directory) => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true }))
        )
        const filename = NodePath.join(directory, "events.db")
        const acks: Array<Ack> = []
        let writtenBefore = 0
        for (let round = 1; round <= ROUNDS; round++) {
          const killAfter = 100 + Math.floor(Math.random() * 300)
          const run = yield* runWriterUntilKilled(filename, round, killAfter)
          // Killed mid-stream, not exited on its own (a failing writer shows its stderr here).
          expect(run.signal, run.stderr).toBe("SIGKILL")
          expect(run.acks.length, run.stderr).toBeGreaterThan(0)
          acks.push(...run.acks)

          const file = yield* inspectFile(filename)
          expect(file.integrity).toEqual([{ integrity_check: "ok" }])

          const found = yield* verifyAndContinue(filename, round, acks)
          expect(found.events).toBe(file.rows)
          expect(found.events).toBeGreaterThan(writtenBefore)
          writtenBefore = found.events + aggregateIds.length
          yield* Effect.logDebug(
            `round ${round}: ${run.acks.length} saves acknowledged, ${found.unacknowledged} written but unacknowledged in total, ${found.events} events`
          )
        }
        expect((yield* inspectFile(filename)).integrity).toEqual([{ integrity_check: "ok" }])
      }).pipe(Effect.scoped),
    120_000
  )
})
