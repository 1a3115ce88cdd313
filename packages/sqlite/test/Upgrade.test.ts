/**
 * A database made by Eventuali 0.1.0 opens with this version: its events read, new ones append
 * after them, its checkpoints hold, and migrations it lacks are applied once. The fixture builds
 * the 0.1.0 schema with the exact statements 0.1.0's migrations ran, and its rows as 0.1.0
 * wrote them.
 */
import { describe, expect, it } from "@effect/vitest"
import { Aggregate, Event, EventStore, ProjectionStore } from "@eventuali/core"
import { Migrations } from "@eventuali/sql"
import { SqliteEventStore } from "@eventuali/sqlite"
import Database from "better-sqlite3"
import { Context, Effect, Layer, Option, Schema } from "effect"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { makeDatabaseBefore } from "./fixtures/databaseBefore.js"

/**
 * 0.1.0's migrations, verbatim, by id: a frozen copy of
 * `Migrations.migrations` as released, on purpose, so that a later change there cannot change
 * what a 0.1.0 database is.
 */
const MIGRATIONS_0_1_0: ReadonlyArray<readonly [id: number, name: string, statements: ReadonlyArray<string>]> = [
  [1, "events", [
    `CREATE TABLE IF NOT EXISTS eventuali_events (
        position INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        aggregate_type TEXT NOT NULL,
        aggregate_version INTEGER NOT NULL,
        event_type TEXT NOT NULL,
        event_version INTEGER NOT NULL,
        data TEXT NOT NULL,
        metadata TEXT NOT NULL,
        timestamp INTEGER NOT NULL
      )`,
    `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_stream ON eventuali_events (aggregate_id, aggregate_version)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_event_id ON eventuali_events (event_id)`,
    `CREATE INDEX IF NOT EXISTS eventuali_events_type ON eventuali_events (aggregate_type, position)`
  ]],
  [2, "subscriptions and projections", [
    `CREATE INDEX IF NOT EXISTS eventuali_events_event_type ON eventuali_events (event_type, position)`,
    `CREATE TABLE IF NOT EXISTS eventuali_checkpoints (
        name TEXT PRIMARY KEY,
        position INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      )`
  ]],
  [3, "snapshots", [
    `CREATE TABLE IF NOT EXISTS eventuali_snapshots (
        aggregate_id TEXT PRIMARY KEY,
        aggregate_type TEXT NOT NULL,
        aggregate_version INTEGER NOT NULL,
        schema_version INTEGER NOT NULL,
        state TEXT NOT NULL,
        created_at INTEGER NOT NULL
      )`
  ]]
]

/** A file as 0.1.0 left it after applying its first `applied` migrations and saving two events. */
const makeDatabase = (filename: string, applied: number) => {
  const db = new Database(filename)
  try {
    db.pragma("journal_mode = WAL")
    db.exec(`CREATE TABLE IF NOT EXISTS eventuali_migrations (
        id integer PRIMARY KEY,
        name text NOT NULL,
        applied_at text NOT NULL
      )`)
    for (const [id, name, statements] of MIGRATIONS_0_1_0.slice(0, applied)) {
      for (const statement of statements) db.exec(statement)
      db.prepare(`INSERT INTO eventuali_migrations (id, name, applied_at) VALUES (?, ?, ?)`).run(id, name, new Date().toISOString())
    }
    const insert = db.prepare(`INSERT INTO eventuali_events
      (event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
      VALUES (?, 'c-1', 'Counter', ?, 'Ticked', 1, ?, '{"headers":{}}', ?)`)
    for (const version of [1, 2]) insert.run(Event.makeId(), version, JSON.stringify({ n: version }), Date.now())
    if (applied >= 2) {
      db.prepare(`INSERT INTO eventuali_checkpoints (name, position, updated_at) VALUES ('totals', 2, ?)`).run(Date.now())
    }
  } finally {
    db.close()
  }
}

class Ticked extends Schema.TaggedClass<Ticked>()("Ticked", { n: Schema.Number }) {}
const Counter = Aggregate.make({ type: "Counter", events: [Ticked], initialState: 0, evolve: (total: number, event) => total + event.n })

const tempFile = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "eventuali-upgrade-"))),
    (directory) => Effect.sync(() => NodeFs.rmSync(directory, { recursive: true, force: true }))
  ),
  (directory) => NodePath.join(directory, "events.db")
)

const open = (config: SqliteEventStore.SqliteEventStoreConfig) =>
  Effect.map(Layer.build(SqliteEventStore.layer(config)), (context) => ({
    store: Context.get(context, EventStore.EventStore),
    projections: Context.get(context, ProjectionStore.ProjectionStore)
  }))

const appliedMigrations = (filename: string) => {
  const db = new Database(filename, { readonly: true })
  try {
    return db.prepare(`SELECT id, count(*) AS times FROM eventuali_migrations GROUP BY id ORDER BY id`).all()
  } finally {
    db.close()
  }
}

const everyMigrationOnce = Migrations.migrations.map((migration) => ({ id: migration.id, times: 1 }))

describe("SqliteEventStore on a database made by 0.1.0", () => {
  it.scoped("reads its events and checkpoints, appends after them, and records no migration twice", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      makeDatabase(filename, 3)
      const { projections, store } = yield* open({ filename })
      const loaded = Option.getOrThrow(yield* store.load(Counter, "c-1"))
      expect([loaded.version, loaded.state]).toEqual([2, 3])
      yield* store.save(Aggregate.apply(loaded, new Ticked({ n: 10 })))
      const events = yield* store.loadEvents("c-1")
      expect(events.map((event) => [event.position, event.aggregateVersion, event.data])).toEqual([
        [1n, 1, { n: 1 }],
        [2n, 2, { n: 2 }],
        [3n, 3, { n: 10 }]
      ])
      expect(Option.map(yield* projections.get("totals"), (checkpoint) => checkpoint.position)).toEqual(Option.some(2n))
      expect(appliedMigrations(filename)).toEqual(everyMigrationOnce)
    }))

  it.scoped("applies the migrations it lacks once, over 0.1.0's tables", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      makeDatabase(filename, 1)
      const { store } = yield* open({ filename })
      expect(appliedMigrations(filename)).toEqual(everyMigrationOnce)
      const loaded = Option.getOrThrow(yield* store.load(Counter, "c-1"))
      yield* store.save(Aggregate.apply(loaded, new Ticked({ n: 10 })))
      expect((yield* store.loadEventsByType("Counter")).map((event) => event.aggregateVersion)).toEqual([1, 2, 3])
      yield* Effect.scoped(Effect.flatMap(open({ filename }), () => Effect.void))
      expect(appliedMigrations(filename)).toEqual(everyMigrationOnce)
    }))

  it.scoped("opened read-only, reads it and changes nothing", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      makeDatabase(filename, 3)
      const before = NodeFs.readFileSync(filename)
      const { store } = yield* open({ filename, readonly: true })
      expect(Option.getOrThrow(yield* store.load(Counter, "c-1")).state).toBe(3)
      // 0.1.0's migrations, which are all SQLite reads need: later ones change PostgreSQL only, or
      // add the archive, which a database without it has nothing in.
      expect(appliedMigrations(filename)).toEqual([1, 2, 3].map((id) => ({ id, times: 1 })))
      expect(Migrations.latestOf("sqlite")).toBe(3)
      expect(NodeFs.readFileSync(filename).equals(before)).toBe(true)
    }))

  it.scoped("a database from before rebuild generations (migrations 1 to 10, a versioned projection active) keeps its active version, gains the columns once, and can be asked for a rebuild", () =>
    Effect.gen(function*() {
      const filename = yield* tempFile
      makeDatabaseBefore(filename, 10, (db) => {
        db.prepare(`INSERT INTO eventuali_projection_versions (name, version, activated_at) VALUES ('balances', 2, ?)`).run(Date.now())
        db.prepare(`INSERT INTO eventuali_projections (name, partitions, aggregate_types, event_types, created_at) VALUES ('balances@v2', 1, '[]', '[]', ?)`)
          .run(Date.now())
      })
      const { projections } = yield* open({ filename })
      expect(appliedMigrations(filename)).toEqual(everyMigrationOnce)
      expect(yield* projections.activeVersion("balances")).toEqual(Option.some(2))
      expect(yield* projections.builds("balances")).toEqual(Option.some({ active: { version: 2, generation: 0 }, requested: Option.none() }))
      // Registered by code from before: not known to be rebuildable until it registers again.
      expect((yield* projections.projections).map((info) => [info.name, info.rebuildable])).toEqual([["balances@v2", false]])
      expect(yield* projections.requestRebuild("balances")).toEqual(
        Option.some({ build: { version: 2, generation: 1 }, alreadyRequested: false })
      )
      expect(yield* projections.builds("balances")).toEqual(Option.some({ active: { version: 2, generation: 0 }, requested: Option.some(1) }))
    }))
})
