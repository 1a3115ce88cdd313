/**
 * A database made by Eventuali 0.1.0 opens with this version: its events read, new ones append
 * after them, its checkpoints hold, and migrations it lacks are applied once, also by several
 * processes starting at once. The fixture builds the 0.1.0 schema with the exact statements
 * 0.1.0's migrations ran, and its rows as 0.1.0 wrote them (positioned by the writer's
 * transaction id, as the PostgreSQL append does).
 */
import { expect, it } from "@effect/vitest"
import { Aggregate, Event, EventStore, ProjectionStore } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { Migrations } from "@eventuali/sql"
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

/** A schema as 0.1.0 left it after applying its first `applied` migrations and saving two events. */
const makeSchema = (schema: string, applied: number) =>
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
    } finally {
      await client.end()
    }
  })

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
})
