/**
 * Two processes opening the same file at the same moment, as two instances of a server started
 * together do: on a file an older version made (it lacks migration 11, which adds columns and
 * cannot say `IF NOT EXISTS` on SQLite), and on a file that does not exist yet. Both opens
 * succeed, the file's events are intact, and every migration is recorded once.
 *
 * Two real processes (the store's connections live in separate processes, each with its own
 * SQLite locks), each opening a series of files: for each file the test waits until both are
 * ready, then tells both to open it, so that their opens overlap.
 */
import { describe, expect, it } from "@effect/vitest"
import { EventStore } from "@eventuali/core"
import { Migrations } from "@eventuali/sql"
import { SqliteEventStore } from "@eventuali/sqlite"
import Database from "better-sqlite3"
import { Context, Effect, Layer } from "effect"
import { type ChildProcess, fork } from "node:child_process"
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { makeDatabaseBefore } from "./fixtures/databaseBefore.js"

const FILES = 20
const openerScript = fileURLToPath(new URL("./fixtures/openTogether.ts", import.meta.url))
const packageDirectory = fileURLToPath(new URL("..", import.meta.url))
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href

interface Answer {
  readonly filename: string
  readonly result: string
}

/** A child process and the messages it sent that nobody has taken yet. */
const startOpener = (name: string) => {
  const child = fork(openerScript, [name], { cwd: packageDirectory, execArgv: ["--import", tsxLoader] })
  const received: Array<unknown> = []
  const waiting: Array<(message: unknown) => void> = []
  child.on("message", (message) => {
    const waiter = waiting.shift()
    if (waiter === undefined) received.push(message)
    else waiter(message)
  })
  const next = (): Promise<unknown> =>
    received.length > 0 ? Promise.resolve(received.shift()) : new Promise((resolve) => waiting.push(resolve))
  return { child, next }
}

const stop = (child: ChildProcess) => {
  if (child.connected) child.disconnect()
}

/** Opens every file in both processes at once, one file after another; what each answered. */
const openTogether = async (filenames: ReadonlyArray<string>): Promise<ReadonlyArray<readonly [Answer, Answer]>> => {
  const openers = [startOpener("first"), startOpener("second")] as const
  try {
    await Promise.all(openers.map((opener) => opener.next()))
    const answers: Array<readonly [Answer, Answer]> = []
    for (const filename of filenames) {
      for (const opener of openers) opener.child.send({ filename })
      const [first, second] = await Promise.all(openers.map((opener) => opener.next() as Promise<Answer>))
      answers.push([first!, second!])
    }
    return answers
  } finally {
    for (const opener of openers) stop(opener.child)
  }
}

const inspect = (filename: string) => {
  const db = new Database(filename, { readonly: true })
  try {
    return {
      migrations: db.prepare(`SELECT id, count(*) AS times FROM eventuali_migrations GROUP BY id ORDER BY id`).all(),
      events: db.prepare(`SELECT aggregate_id AS stream, aggregate_version AS version FROM eventuali_events ORDER BY stream, version`).all(),
      integrity: db.pragma("integrity_check", { simple: true })
    }
  } finally {
    db.close()
  }
}

const everyMigrationOnce = Migrations.migrations.map((migration) => ({ id: migration.id, times: 1 }))
const bothOpened = (filename: string): readonly [Answer, Answer] => [{ filename, result: "opened" }, { filename, result: "opened" }]

const withDirectory = async (body: (directory: string) => Promise<void>) => {
  const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "eventuali-migrate-"))
  try {
    await body(directory)
  } finally {
    NodeFs.rmSync(directory, { recursive: true, force: true })
  }
}

describe("SqliteEventStore opened by two processes at the same moment", () => {
  it(`a file made before migration 11 (${FILES} files): both open, migrate once, and keep the events`, () =>
    withDirectory(async (directory) => {
      const filenames = Array.from({ length: FILES }, (_, i) => NodePath.join(directory, `old-${i}.db`))
      for (const filename of filenames) {
        makeDatabaseBefore(filename, 10, (db) => {
          const insert = db.prepare(`INSERT INTO eventuali_events
            (event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
            VALUES (?, 'c-1', 'Counter', ?, 'Ticked', 1, '{"n":1}', '{"headers":{}}', ?)`)
          for (const version of [1, 2]) insert.run(`old-event-${version}`, version, Date.now())
        })
      }
      const answers = await openTogether(filenames)
      expect(answers).toEqual(filenames.map(bothOpened))
      for (const filename of filenames) {
        expect(inspect(filename), filename).toEqual({
          migrations: everyMigrationOnce,
          events: [
            { stream: "c-1", version: 1 },
            { stream: "c-1", version: 2 },
            { stream: "first", version: 1 },
            { stream: "second", version: 1 }
          ],
          integrity: "ok"
        })
      }
    }), 60_000)

  it(`a file that does not exist yet (${FILES} files): both open and create it once`, () =>
    withDirectory(async (directory) => {
      const filenames = Array.from({ length: FILES }, (_, i) => NodePath.join(directory, `new-${i}.db`))
      const answers = await openTogether(filenames)
      expect(answers).toEqual(filenames.map(bothOpened))
      for (const filename of filenames) {
        expect(inspect(filename), filename).toEqual({
          migrations: everyMigrationOnce,
          events: [{ stream: "first", version: 1 }, { stream: "second", version: 1 }],
          integrity: "ok"
        })
      }
    }), 60_000)

  // What makes the race on a new file: switching it to WAL writes its header, and SQLite refuses
  // that at once (SQLITE_BUSY, busy timeout or not) while another connection holds its write
  // lock. A connection of this process holds it here, as another process's open would.
  it.scopedLive("a new file whose write lock another connection holds while the store switches it to WAL: the open waits for it", () =>
    Effect.gen(function*() {
      const directory = yield* Effect.acquireRelease(
        Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "eventuali-migrate-"))),
        (directory) => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true }))
      )
      const filename = NodePath.join(directory, "events.db")
      const other = yield* Effect.acquireRelease(Effect.sync(() => new Database(filename)), (db) => Effect.sync(() => db.close()))
      other.exec("BEGIN IMMEDIATE")
      yield* Effect.forkScoped(Effect.delay(Effect.sync(() => other.exec("COMMIT")), "200 millis"))
      const store = Context.get(yield* Layer.build(SqliteEventStore.layer({ filename })), EventStore.EventStore)
      yield* store.append("Opener", "only", [{ eventType: "Opened", data: {} }])
      expect(other.pragma("journal_mode", { simple: true })).toBe("wal")
      expect(inspect(filename)).toEqual({ migrations: everyMigrationOnce, events: [{ stream: "only", version: 1 }], integrity: "ok" })
    }))
})
