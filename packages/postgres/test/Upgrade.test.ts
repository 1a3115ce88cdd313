/**
 * A database made by Eventuali 0.1.0 opens with this version: its events read, new ones append
 * after them, its checkpoints hold, and migrations it lacks are applied once, also by several
 * processes starting at once. The fixture builds the 0.1.0 schema with the exact statements
 * 0.1.0's migrations ran, and its rows as 0.1.0 wrote them (positioned by the writer's
 * transaction id, as the PostgreSQL append does). Migrations 1 to 3 are the schema every
 * version before migration 4 made, so the fixture is also a database made by the version before
 * payloads were stored as `json`.
 */
import { expect, it } from "@effect/vitest"
import { Aggregate, Event, EventStore, ProjectionStore } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { Migrations, Tables } from "@eventuali/sql"
import { Context, Effect, Layer, Option, Schema } from "effect"
import Pg from "pg"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"

/**
 * 0.1.0's migrations, verbatim, by id, given its schema-qualified table names: a frozen copy of
 * `Migrations.migrations` as released, on purpose, so that a later change there cannot change
 * what a 0.1.0 database is.
 */
const migrations010 = (
  t: { readonly events: string; readonly checkpoints: string; readonly snapshots: string }
): ReadonlyArray<readonly [id: number, name: string, statements: ReadonlyArray<string>]> => [
  [1, "events", [
    `CREATE TABLE IF NOT EXISTS ${t.events} (
        position bigint PRIMARY KEY,
        transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
        event_id text NOT NULL,
        aggregate_id text NOT NULL,
        aggregate_type text NOT NULL,
        aggregate_version bigint NOT NULL,
        event_type text NOT NULL,
        event_version integer NOT NULL,
        data jsonb NOT NULL,
        metadata jsonb NOT NULL,
        timestamp timestamptz NOT NULL
      )`,
    `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_stream ON ${t.events} (aggregate_id, aggregate_version)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS eventuali_events_event_id ON ${t.events} (event_id)`,
    `CREATE INDEX IF NOT EXISTS eventuali_events_type ON ${t.events} (aggregate_type, position)`
  ]],
  [2, "subscriptions and projections", [
    `CREATE INDEX IF NOT EXISTS eventuali_events_event_type ON ${t.events} (event_type, position)`,
    `CREATE TABLE IF NOT EXISTS ${t.checkpoints} (
        name text PRIMARY KEY,
        position bigint NOT NULL,
        updated_at timestamptz NOT NULL
      )`
  ]],
  [3, "snapshots", [
    `CREATE TABLE IF NOT EXISTS ${t.snapshots} (
        aggregate_id text PRIMARY KEY,
        aggregate_type text NOT NULL,
        aggregate_version bigint NOT NULL,
        schema_version integer NOT NULL,
        state jsonb NOT NULL,
        created_at timestamptz NOT NULL
      )`
  ]]
]

/**
 * A schema as 0.1.0 left it after applying its first `applied` migrations and saving two events;
 * `unordered`: and an event and a snapshot whose objects jsonb stored with their keys sorted.
 */
const makeSchema = (schema: string, applied: number, unordered = false) =>
  Effect.promise(async () => {
    const client = new Pg.Client({ connectionString: serverUrl })
    await client.connect()
    try {
      const t = {
        events: `"${schema}".eventuali_events`,
        migrations: `"${schema}".eventuali_migrations`,
        checkpoints: `"${schema}".eventuali_checkpoints`,
        snapshots: `"${schema}".eventuali_snapshots`
      }
      await client.query("BEGIN")
      await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
      await client.query(`CREATE TABLE IF NOT EXISTS ${t.migrations} (
        id integer PRIMARY KEY,
        name text NOT NULL,
        applied_at text NOT NULL
      )`)
      for (const [id, name, statements] of migrations010(t).slice(0, applied)) {
        for (const statement of statements) await client.query(statement)
        await client.query(`INSERT INTO ${t.migrations} (id, name, applied_at) VALUES ($1, $2, $3)`, [id, name, new Date().toISOString()])
      }
      await client.query("COMMIT")
      // One save of two events, positioned as 0.1.0's append positions them.
      await client.query(
        `INSERT INTO ${t.events}
          (position, event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
        SELECT (pg_current_xact_id()::text::bigint << 20) + v.k, v.id, 'c-1', 'Counter', v.k, 'Ticked', 1,
          jsonb_build_object('n', v.k), '{"headers":{}}', now()
        FROM unnest($1::text[]) WITH ORDINALITY AS v(id, k)`,
        [[Event.makeId(), Event.makeId()]]
      )
      if (applied >= 2) {
        await client.query(`INSERT INTO ${t.checkpoints} (name, position, updated_at) VALUES ('totals', 2, now())`)
      }
      if (unordered) {
        await client.query(
          `INSERT INTO ${t.events}
            (position, event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
          VALUES ((pg_current_xact_id()::text::bigint << 20) + 1, $1, 'r-1', 'Raw', 1, 'Noted', 1, $2, $3, now())`,
          [Event.makeId(), JSON.stringify(unsorted), JSON.stringify({ headers: unsortedHeaders })]
        )
        await client.query(
          `INSERT INTO ${t.snapshots} (aggregate_id, aggregate_type, aggregate_version, schema_version, state, created_at)
          VALUES ('s-1', 'Snapshotted', 1, 1, $1, now())`,
          [JSON.stringify(unsorted)]
        )
      }
    } finally {
      await client.end()
    }
  })

const unsorted = { zeta: 1, alpha: { zeta: 2, alpha: 3, mid: 4 }, mid: 5 }
const unsortedHeaders = { "x-zeta": "1", "x-alpha": "2", "x-mid": "3" }

class Ticked extends Schema.TaggedClass<Ticked>()("Ticked", { n: Schema.Number }) {}
const Counter = Aggregate.make({ type: "Counter", events: [Ticked], initialState: 0, evolve: (total: number, event) => total + event.n })

const open = (schema: string) =>
  Effect.map(
    Layer.build(PgEventStore.layer({ url: `${serverUrl}?schema=${schema}`, maxConnections: 2 })),
    (context) => ({
      store: Context.get(context, EventStore.EventStore),
      projections: Context.get(context, ProjectionStore.ProjectionStore)
    })
  )

const appliedMigrations = (schema: string) =>
  Effect.promise(async () => {
    const client = new Pg.Client({ connectionString: serverUrl })
    await client.connect()
    try {
      const { rows } = await client.query(
        `SELECT id, count(*)::int AS times FROM "${schema}".eventuali_migrations GROUP BY id ORDER BY id`
      )
      return rows
    } finally {
      await client.end()
    }
  })

const columnTypes = (schema: string) =>
  Effect.promise(async () => {
    const client = new Pg.Client({ connectionString: serverUrl })
    await client.connect()
    try {
      const { rows } = await client.query(
        `SELECT table_name || '.' || column_name AS column, data_type AS type FROM information_schema.columns
        WHERE table_schema = $1 AND column_name IN ('data', 'metadata', 'state') ORDER BY 1`,
        [schema]
      )
      return rows
    } finally {
      await client.end()
    }
  })

const everyMigrationOnce = Migrations.migrations.map((migration) => ({ id: migration.id, times: 1 }))

describePg("PgEventStore on a database made by 0.1.0", () => {
  it.scopedLive("reads its events and checkpoints, appends after them, and records no migration twice", () =>
    Effect.gen(function*() {
      const schema = freshSchema("v010")
      yield* makeSchema(schema, 3)
      const { projections, store } = yield* open(schema)
      const loaded = Option.getOrThrow(yield* store.load(Counter, "c-1"))
      expect([loaded.version, loaded.state]).toEqual([2, 3])
      yield* store.save(Aggregate.apply(loaded, new Ticked({ n: 10 })))
      const events = yield* store.loadEvents("c-1")
      expect(events.map((event) => [event.aggregateVersion, event.data])).toEqual([[1, { n: 1 }], [2, { n: 2 }], [3, { n: 10 }]])
      expect(events[2]!.position > events[1]!.position).toBe(true)
      const all = yield* store.readEvents({ fromPosition: 0n })
      expect(all.map((event) => event.aggregateVersion)).toEqual([1, 2, 3])
      expect(Option.map(yield* projections.get("totals"), (checkpoint) => checkpoint.position)).toEqual(Option.some(2n))
      expect(yield* appliedMigrations(schema)).toEqual(everyMigrationOnce)
    }))

  it.scopedLive("turns jsonb into json: events and snapshots written before read as jsonb left them, new ones keep their key order", () =>
    Effect.gen(function*() {
      const schema = freshSchema("v010")
      yield* makeSchema(schema, 3, true)
      const { store } = yield* open(schema)
      expect(yield* columnTypes(schema)).toEqual([
        { column: "eventuali_events.data", type: "json" },
        { column: "eventuali_events.metadata", type: "json" },
        { column: "eventuali_events_archive.data", type: "json" },
        { column: "eventuali_events_archive.metadata", type: "json" },
        { column: "eventuali_snapshots.state", type: "json" }
      ])
      // Written under jsonb: the same values, the keys in the order jsonb gave them.
      const [old] = yield* store.loadEvents("r-1")
      expect(old!.data).toEqual(unsorted)
      expect(JSON.stringify(old!.data)).toBe(`{"mid":5,"zeta":1,"alpha":{"mid":4,"zeta":2,"alpha":3}}`)
      expect(Object.keys(old!.metadata.headers)).toEqual(["x-mid", "x-zeta", "x-alpha"])
      const snapshot = yield* Effect.promise(async () => {
        const client = new Pg.Client({ connectionString: serverUrl })
        await client.connect()
        try {
          return (await client.query(`SELECT state::text AS state FROM "${schema}".eventuali_snapshots`)).rows
        } finally {
          await client.end()
        }
      })
      expect(snapshot.map((row) => JSON.parse(row.state))).toEqual([unsorted])
      // Written now: as written.
      yield* store.append("Raw", "r-1", [{ eventType: "Noted", data: unsorted, metadata: { headers: unsortedHeaders } }])
      const [, fresh] = yield* store.loadEvents("r-1")
      expect(JSON.stringify(fresh!.data)).toBe(JSON.stringify(unsorted))
      expect(Object.keys(fresh!.metadata.headers)).toEqual(Object.keys(unsortedHeaders))
      expect((yield* store.loadEventsByType("Raw")).map((event) => event.aggregateVersion)).toEqual([1, 2])
    }))

  it.scopedLive("applies the migrations it lacks exactly once when 5 processes open it at once", () =>
    Effect.gen(function*() {
      const schema = freshSchema("v010")
      yield* makeSchema(schema, 1)
      const opened = yield* Effect.all(Array.from({ length: 5 }, () => open(schema)), { concurrency: "unbounded" })
      expect(yield* appliedMigrations(schema)).toEqual(everyMigrationOnce)
      const { store } = opened[0]!
      const loaded = Option.getOrThrow(yield* store.load(Counter, "c-1"))
      yield* store.save(Aggregate.apply(loaded, new Ticked({ n: 10 })))
      expect((yield* store.loadEventsByType("Counter")).map((event) => event.aggregateVersion)).toEqual([1, 2, 3])
    }))

  it.scopedLive("a database from before rebuild generations (migrations 1 to 10, a versioned projection active) keeps its active version, gains the columns once, and can be asked for a rebuild", () =>
    Effect.gen(function*() {
      const schema = freshSchema("v09")
      yield* Effect.promise(async () => {
        const client = new Pg.Client({ connectionString: serverUrl })
        await client.connect()
        try {
          await client.query(`CREATE SCHEMA "${schema}"`)
          await client.query(`CREATE TABLE "${schema}".eventuali_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at text NOT NULL)`)
          for (const migration of Migrations.migrations.filter((migration) => migration.id < 11)) {
            for (const statement of migration.pg(Tables.quoted(schema))) await client.query(statement)
            await client.query(`INSERT INTO "${schema}".eventuali_migrations (id, name, applied_at) VALUES ($1, $2, $3)`, [
              migration.id,
              migration.name,
              new Date().toISOString()
            ])
          }
          await client.query(`INSERT INTO "${schema}".eventuali_projection_versions (name, version, activated_at) VALUES ('balances', 2, 0)`)
          await client.query(
            `INSERT INTO "${schema}".eventuali_projections (name, partitions, aggregate_types, event_types, created_at) VALUES ('balances@v2', 1, '[]', '[]', 0)`
          )
        } finally {
          await client.end()
        }
      })
      const { projections } = yield* open(schema)
      expect(yield* appliedMigrations(schema)).toEqual(everyMigrationOnce)
      expect(yield* projections.builds("balances")).toEqual(Option.some({ active: { version: 2, generation: 0 }, requested: Option.none() }))
      expect((yield* projections.projections).map((info) => [info.name, info.rebuildable])).toEqual([["balances@v2", false]])
      expect(yield* projections.requestRebuild("balances")).toEqual(
        Option.some({ build: { version: 2, generation: 1 }, alreadyRequested: false })
      )
      expect(yield* projections.requestRebuild("balances")).toEqual(
        Option.some({ build: { version: 2, generation: 1 }, alreadyRequested: true })
      )
    }))
})
