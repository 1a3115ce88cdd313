/**
 * `pnpm soak`: a long run of each backend under load — 64 writers saving, 4 live subscribers and
 * a projection writing a read model in the same database — reporting throughput, save latency
 * and memory every interval, and checking at the end that every subscriber saw every event once,
 * in order, that the projection applied every event once, and that memory stayed flat.
 *
 * Settings (environment): SOAK_SECONDS per backend (default 300), SOAK_INTERVAL seconds between
 * reports (default 10), SOAK_BACKENDS (default "sqlite,postgres"), SOAK_TURN_EVERY saves between a
 * writer's turns of the event loop (default 8), EVENTUALI_PG_URL (default: an embedded PostgreSQL
 * started for the run). Results: results/soak-<backend>.json.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, Checkpoint, EventStore, Projection, ProjectionStore } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { SqliteEventStore } from "@eventuali/sqlite"
import { Context, Effect, Layer, Schema, Stream } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { startEmbedded } from "../../postgres/test/support/embedded.js"

const SECONDS = Number(process.env.SOAK_SECONDS ?? 300)
const INTERVAL = Number(process.env.SOAK_INTERVAL ?? 10)
const BACKENDS = (process.env.SOAK_BACKENDS ?? "sqlite,postgres").split(",")
const WRITERS = 64
const SUBSCRIBERS = 4
/** Each writer cycles over its own aggregates, so every subscriber's per-aggregate state stays bounded. */
const AGGREGATES_PER_WRITER = 8
/** Saves a writer makes between two turns of the event loop (see `turn`). */
const TURN_EVERY = Number(process.env.SOAK_TURN_EVERY ?? 8)

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number, note: Schema.String }) {}
const Account = Aggregate.make({
  type: "SoakAccount",
  events: [Deposited],
  initialState: 0,
  evolve: (balance: number, event) => balance + event.amount
})

/** Log-scale latency histogram (1% buckets from 1 µs): bounded memory for any run length. */
const makeHistogram = () => {
  const counts = new Map<number, number>()
  let total = 0
  let max = 0
  return {
    record: (millis: number) => {
      const bucket = Math.max(0, Math.floor(Math.log(Math.max(millis, 0.001) / 0.001) / Math.log(1.01)))
      counts.set(bucket, (counts.get(bucket) ?? 0) + 1)
      total++
      max = Math.max(max, millis)
    },
    percentile: (p: number) => {
      if (total === 0) return 0
      const target = Math.ceil(total * p)
      let seen = 0
      for (const bucket of [...counts.keys()].sort((a, b) => a - b)) {
        seen += counts.get(bucket)!
        if (seen >= target) return 0.001 * 1.01 ** (bucket + 1)
      }
      return max
    },
    get count() {
      return total
    },
    get max() {
      return max
    }
  }
}

/**
 * Resumes after a turn of the event loop. The writers take one every few saves, as request
 * handlers do between requests: with a synchronous driver (SQLite), fibers that only ever wait
 * for each other keep Effect 3's scheduler on microtasks, and timers (the reports) would wait.
 */
const turn = Effect.async<void>((resume) => {
  const handle = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(handle))
})

interface Interval {
  readonly second: number
  readonly saves: number
  readonly events: number
  readonly savesPerSecond: number
  readonly eventsPerSecond: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
  readonly rssMb: number
  readonly heapMb: number
  readonly subscriberLag: number
  readonly projectionPosition: string
}

/** What a subscriber checks as it goes: positions increase, and each aggregate's versions follow 1, 2, 3, ... */
interface SubscriberState {
  seen: number
  lastPosition: bigint
  readonly versions: Map<string, number>
  readonly problems: Array<string>
}

const soak = (
  backend: string,
  layer: Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore | SqlClient.SqlClient, unknown>,
  /** Where the store's events are, and where to put the read model (schema-qualified on PostgreSQL). */
  tables: { readonly events: string; readonly readModel: string }
) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(layer)
    const store = Context.get(context, EventStore.EventStore)
    const sql = Context.get(context, SqlClient.SqlClient)
    yield* sql.unsafe(`CREATE TABLE ${tables.readModel} (aggregate_id TEXT PRIMARY KEY, events INTEGER NOT NULL, last_version INTEGER NOT NULL, out_of_order INTEGER NOT NULL)`)

    // The projection counts events per aggregate and flags any version that does not follow the last.
    const projection = yield* Projection.run(Projection.make({
      name: "soak",
      aggregateTypes: [Account.type],
      batchSize: 500,
      handle: (event) =>
        sql.onDialectOrElse({
          pg: () =>
            sql.unsafe(
              `INSERT INTO ${tables.readModel} AS model (aggregate_id, events, last_version, out_of_order) VALUES ($1, 1, $2, CASE WHEN $2 = 1 THEN 0 ELSE 1 END)
               ON CONFLICT (aggregate_id) DO UPDATE SET events = model.events + 1, last_version = excluded.last_version,
                 out_of_order = model.out_of_order + CASE WHEN excluded.last_version = model.last_version + 1 THEN 0 ELSE 1 END`,
              [event.aggregateId, event.aggregateVersion]
            ),
          orElse: () =>
            sql.unsafe(
              `INSERT INTO ${tables.readModel} (aggregate_id, events, last_version, out_of_order) VALUES (?, 1, ?, CASE WHEN ? = 1 THEN 0 ELSE 1 END)
               ON CONFLICT (aggregate_id) DO UPDATE SET events = events + 1, last_version = excluded.last_version,
                 out_of_order = out_of_order + CASE WHEN excluded.last_version = last_version + 1 THEN 0 ELSE 1 END`,
              [event.aggregateId, event.aggregateVersion, event.aggregateVersion]
            )
        })
    })).pipe(Effect.provide(context))

    const subscribers: Array<SubscriberState> = Array.from({ length: SUBSCRIBERS }, () => ({
      seen: 0,
      lastPosition: -1n,
      versions: new Map(),
      problems: []
    }))
    for (const state of subscribers) {
      yield* store.subscribe({ aggregateTypes: [Account.type] }).pipe(
        Stream.runForEach((event) =>
          Effect.sync(() => {
            state.seen++
            if (event.position <= state.lastPosition) state.problems.push(`position ${event.position} after ${state.lastPosition}`)
            state.lastPosition = event.position
            const last = state.versions.get(event.aggregateId) ?? 0
            if (event.aggregateVersion !== last + 1) state.problems.push(`${event.aggregateId}: version ${event.aggregateVersion} after ${last}`)
            state.versions.set(event.aggregateId, event.aggregateVersion)
            if (event.checkpoint !== Checkpoint.fromPosition(event.position)) state.problems.push(`checkpoint of ${event.position}`)
          })
        ),
        Effect.forkScoped
      )
    }

    // Writers: 1–3 events per save, mostly to the writer's current aggregate; now and then a load.
    let running = true
    let saves = 0
    let events = 0
    let failures = 0
    const overall = makeHistogram()
    let interval = makeHistogram()
    const writer = (w: number) =>
      Effect.gen(function*() {
        const roots = Array.from({ length: AGGREGATES_PER_WRITER }, (_, k) => Aggregate.empty(Account, `w${w}-a${k}`))
        for (let n = 0; running; n++) {
          const k = n % AGGREGATES_PER_WRITER
          if (n % 50 === 49) {
            const loaded = yield* store.load(Account, roots[k]!.id)
            if (loaded._tag === "Some" && loaded.value.version !== roots[k]!.version) failures++
          }
          const count = 1 + (n % 3)
          const pending = Aggregate.applyAll(roots[k]!, Array.from({ length: count }, (_, i) => new Deposited({ amount: i + 1, note: "x".repeat(64) })))
          const started = performance.now()
          const saved = yield* Effect.either(store.save(pending))
          const millis = performance.now() - started
          if (saved._tag === "Left") {
            failures++
          } else {
            roots[k] = saved.right
            saves++
            events += count
            overall.record(millis)
            interval.record(millis)
          }
          if (n % TURN_EVERY === TURN_EVERY - 1) yield* turn
        }
      })

    const report: Array<Interval> = []
    const started = performance.now()
    let lastSaves = 0
    let lastEvents = 0
    const sample = Effect.gen(function*() {
      const memory = process.memoryUsage()
      const second = Math.round((performance.now() - started) / 1000)
      const current = interval
      interval = makeHistogram()
      const entry: Interval = {
        second,
        saves: saves - lastSaves,
        events: events - lastEvents,
        savesPerSecond: Math.round((saves - lastSaves) / INTERVAL),
        eventsPerSecond: Math.round((events - lastEvents) / INTERVAL),
        p50: current.percentile(0.5),
        p95: current.percentile(0.95),
        p99: current.percentile(0.99),
        max: current.max,
        rssMb: Math.round(memory.rss / 2 ** 20),
        heapMb: Math.round(memory.heapUsed / 2 ** 20),
        subscriberLag: events - Math.min(...subscribers.map((s) => s.seen)),
        projectionPosition: String(yield* projection.position)
      }
      lastSaves = saves
      lastEvents = events
      report.push(entry)
      console.log(
        `${backend.padEnd(10)} ${String(entry.second).padStart(4)} s  ${String(entry.savesPerSecond).padStart(6)} saves/s ${
          String(entry.eventsPerSecond).padStart(6)
        } events/s  p50 ${entry.p50.toFixed(2)} p95 ${entry.p95.toFixed(2)} p99 ${entry.p99.toFixed(2)} max ${entry.max.toFixed(1)} ms  rss ${entry.rssMb} MB heap ${entry.heapMb} MB  lag ${entry.subscriberLag}`
      )
    })

    const writing = yield* Effect.forkScoped(Effect.all(Array.from({ length: WRITERS }, (_, w) => writer(w)), { concurrency: "unbounded", discard: true }))
    for (let elapsed = 0; elapsed < SECONDS; elapsed += INTERVAL) {
      yield* Effect.sleep(`${INTERVAL} seconds`)
      yield* sample
    }
    running = false
    yield* writing.await

    // The end: every subscriber and the projection caught up, each event seen once, in order.
    const [row] = yield* sql.unsafe<{ readonly n: number | string }>(`SELECT count(*) AS n FROM ${tables.events} WHERE aggregate_type = 'SoakAccount'`)
    const stored = Number(row?.n)
    const catchUpStarted = performance.now()
    while (subscribers.some((s) => s.seen < stored) && performance.now() - catchUpStarted < 120_000) yield* Effect.sleep("100 millis")
    yield* projection.whenCaughtUp
    const [model] = yield* sql.unsafe<{ readonly events: number | string; readonly out_of_order: number | string; readonly aggregates: number | string }>(
      `SELECT sum(events) AS events, sum(out_of_order) AS out_of_order, count(*) AS aggregates FROM ${tables.readModel}`
    )
    const finalVersions = new Map(
      (yield* sql.unsafe<{ readonly aggregate_id: string; readonly version: number | string }>(
        `SELECT aggregate_id, max(aggregate_version) AS version FROM ${tables.events} WHERE aggregate_type = 'SoakAccount' GROUP BY aggregate_id`
      )).map((r) => [r.aggregate_id, Number(r.version)])
    )
    const checks = {
      "events stored = events acknowledged": stored === events,
      "every subscriber saw every event once, in order": subscribers.every((s) =>
        s.seen === stored && s.problems.length === 0 && s.versions.size === finalVersions.size &&
        [...finalVersions].every(([id, version]) => s.versions.get(id) === version)
      ),
      "the projection applied every event once, in order": Number(model?.events) === stored && Number(model?.out_of_order) === 0 &&
        Number(model?.aggregates) === finalVersions.size,
      "no save failed, every load matched": failures === 0
    }
    // Flat memory: after the warm-up third, the heap's last third averages within 25% of the middle third.
    const third = Math.max(1, Math.floor(report.length / 3))
    const average = (entries: ReadonlyArray<Interval>, pick: (i: Interval) => number) =>
      entries.reduce((sum, i) => sum + pick(i), 0) / Math.max(1, entries.length)
    const middle = report.slice(third, 2 * third)
    const last = report.slice(2 * third)
    const memory = {
      heapMiddleMb: Math.round(average(middle, (i) => i.heapMb)),
      heapLastMb: Math.round(average(last, (i) => i.heapMb)),
      rssMiddleMb: Math.round(average(middle, (i) => i.rssMb)),
      rssLastMb: Math.round(average(last, (i) => i.rssMb))
    }
    const flat = memory.heapLastMb <= memory.heapMiddleMb * 1.25 + 8
    const seconds = (performance.now() - started) / 1000
    const summary = {
      backend,
      seconds: Math.round(seconds),
      writers: WRITERS,
      subscribers: SUBSCRIBERS,
      saves,
      events,
      savesPerSecond: Math.round(saves / seconds),
      eventsPerSecond: Math.round(events / seconds),
      latencyMs: { p50: overall.percentile(0.5), p95: overall.percentile(0.95), p99: overall.percentile(0.99), p999: overall.percentile(0.999), max: overall.max },
      catchUpSeconds: Math.round((performance.now() - catchUpStarted) / 100) / 10,
      memory: { ...memory, flat },
      checks,
      problems: subscribers.flatMap((s) => s.problems.slice(0, 5)),
      intervals: report
    }
    console.log(JSON.stringify({ ...summary, intervals: undefined }, null, 2))
    return summary
  }).pipe(Effect.scoped)

const main = async () => {
  const results: Array<{ readonly backend: string; readonly checks: Record<string, boolean>; readonly memory: { readonly flat: boolean } }> = []
  const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-soak-"))
  try {
    if (BACKENDS.includes("sqlite")) {
      const filename = Path.join(directory, "soak.db")
      results.push(await Effect.runPromise(soak("sqlite", SqliteEventStore.layer({ filename }), { events: "eventuali_events", readModel: "soak_read_model" })))
    }
    if (BACKENDS.includes("postgres")) {
      const embedded = process.env.EVENTUALI_PG_URL === undefined ? await startEmbedded() : undefined
      try {
        const url = process.env.EVENTUALI_PG_URL ?? embedded!.url
        const schema = `soak_${Date.now()}`
        results.push(
          await Effect.runPromise(
            soak("postgres", PgEventStore.layer({ url: `${url}?schema=${schema}`, maxConnections: 20 }), {
              events: `${schema}.eventuali_events`,
              readModel: `${schema}.soak_read_model`
            })
          )
        )
      } finally {
        await embedded?.dispose()
      }
    }
  } finally {
    Fs.rmSync(directory, { recursive: true, force: true })
  }
  Fs.mkdirSync(Path.join(import.meta.dirname ?? ".", "..", "results"), { recursive: true })
  for (const result of results) {
    Fs.writeFileSync(Path.join(import.meta.dirname ?? ".", "..", "results", `soak-${result.backend}.json`), JSON.stringify(result, null, 2) + "\n")
  }
  const failed = results.filter((r) => !Object.values(r.checks).every(Boolean) || !r.memory.flat)
  for (const r of failed) console.error(`SOAK FAILED on ${r.backend}: ${JSON.stringify(r.checks)} memory flat: ${r.memory.flat}`)
  process.exitCode = failed.length === 0 ? 0 : 1
}

void main()
