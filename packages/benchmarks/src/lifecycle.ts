/**
 * The data lifecycle under load (issue 16): a retention pass and an archive pass over many old
 * streams while a writer keeps appending to a live stream of another type, on a SQLite file and
 * on PostgreSQL. Reported: events removed or moved per second, the writer's longest pause (the
 * slowest of its appends while the pass ran, against its slowest before, when nothing else ran),
 * and the hot table's size and the speed of appends and loads before and after archiving.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type EventStore, ExpectedVersion } from "@eventuali/core"
import type { SqlEventStore } from "@eventuali/sql"
import * as Tables from "@eventuali/sql/Tables"
import { Effect, Exit, Ref, Scope } from "effect"
import { Account, depositJson, prefix, saveMany } from "./domain.js"
import { median, progress, progressDone, rate, type Row } from "./harness.js"

/** Events per append while seeding (well under every backend's per-append limit). */
const SEED_BATCH = 50

const event = (i: number) => ({ eventType: "Deposited", data: JSON.parse(depositJson(i)) as unknown })

/** `streams` streams of `aggregateType` with `events` events each. */
const seed = (store: EventStore.Service, aggregateType: string, streams: number, events: number, label: string) =>
  Effect.forEach(Array.from({ length: streams }, (_, i) => i), (i) =>
    Effect.forEach(Array.from({ length: Math.ceil(events / SEED_BATCH) }, (_, b) => b), (b) =>
      store.append(aggregateType, `${aggregateType}-${i}`, Array.from({ length: Math.min(SEED_BATCH, events - b * SEED_BATCH) }, (_, k) => event(k))), { discard: true }).pipe(
        Effect.tap(() => Effect.sync(() => i % 50 === 0 && progress(label, Math.floor((i / streams) * 10), 10)))
      ), { concurrency: 4, discard: true })

/**
 * Runs `pass` while one writer appends one event at a time to its own stream; succeeds with what
 * the pass returned, how long it took, and the writer's latencies (ms) meanwhile.
 */
const underWriter = <A, E>(store: EventStore.Service, writerId: string, pass: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const done = yield* Ref.make(false)
    const latencies: Array<number> = []
    const writer = Effect.gen(function*() {
      let version = Number((yield* store.getAggregateVersion(writerId)).pipe((v) => v._tag === "Some" ? v.value : 0))
      while (!(yield* Ref.get(done))) {
        const start = performance.now()
        yield* store.append("Live", writerId, [event(version)], { expectedVersion: ExpectedVersion.exact(version) })
        latencies.push(performance.now() - start)
        version++
      }
    })
    const start = performance.now()
    const [result] = yield* Effect.all([
      pass.pipe(Effect.ensuring(Ref.set(done, true)), Effect.map((result) => [result, performance.now() - start] as const)),
      writer
    ], { concurrency: 2 })
    return { result: result[0], seconds: result[1] / 1000, latencies }
  })

const longest = (latencies: ReadonlyArray<number>) => latencies.reduce((max, latency) => Math.max(max, latency), 0)

const p99 = (latencies: ReadonlyArray<number>) => {
  const sorted = [...latencies].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0
}

/** The writer's p99 during the pass and alone, for the note. */
const percentiles = (during: ReadonlyArray<number>, alone: ReadonlyArray<number>) =>
  `p99 ${p99(during).toFixed(1)} ms (alone: ${p99(alone).toFixed(1)} ms)`

/** The writer alone for `millis`: its latencies, the baseline of its pauses. */
const writerAlone = (store: EventStore.Service, writerId: string, millis: number) =>
  Effect.map(underWriter(store, writerId, Effect.sleep(`${millis} millis`)), ({ latencies }) => latencies)

/** One-event appends to new live streams, and loads of 10-event live streams: rates. */
const hotPathRates = (store: EventStore.Service, label: string, operations: number, repetitions: number) =>
  Effect.gen(function*() {
    const appends: Array<number> = []
    const loads: Array<number> = []
    const loadIds = Array.from({ length: 50 }, (_, i) => `${prefix(`${label}-l`, 0)}-${i}`)
    yield* Effect.forEach(loadIds, (id, i) => saveMany(store, id, 10, i), { discard: true })
    for (let rep = 0; rep < repetitions; rep++) {
      const p = prefix(`${label}-a`, rep)
      appends.push(yield* Effect.promise(() =>
        rate(operations, () => Effect.runPromise(Effect.forEach(Array.from({ length: operations }, (_, i) => i), (i) =>
          store.append("Live", `${p}-${i}`, [event(i)]), { discard: true })))
      ))
      loads.push(yield* Effect.promise(() =>
        rate(operations, () => Effect.runPromise(Effect.forEach(Array.from({ length: operations }, (_, i) => i), (i) =>
          store.load(Account, loadIds[i % loadIds.length]!), { discard: true })))
      ))
    }
    return { appends: median(appends), loads: median(loads) }
  })

const countRows = (sql: SqlClient.SqlClient, schema: string | undefined) =>
  Effect.map(
    sql<{ readonly count: number | string }>`SELECT count(*) AS count FROM ${sql(Tables.identifiers(schema).events)}`,
    ([row]) => Number(row?.count ?? 0)
  )

export interface LifecycleOptions {
  readonly backend: string
  /** Opens the store (in the scope given). */
  readonly open: Effect.Effect<SqlEventStore.OpenStore<SqlClient.SqlClient>, unknown, Scope.Scope>
  readonly schema?: string | undefined
  readonly streams: number
  readonly eventsPerStream: number
  readonly operations: number
  readonly repetitions: number
}

export const lifecycleWorkloads = async (options: LifecycleOptions): Promise<ReadonlyArray<Row>> => {
  const scope = Effect.runSync(Scope.make())
  const run = Math.random().toString(36).slice(2, 8)
  const { backend } = options
  try {
    return await Effect.runPromise(Effect.gen(function*() {
      const { client, store } = yield* Scope.extend(options.open, scope)
      const total = options.streams * options.eventsPerStream
      const label = `lifecycle, ${backend}`
      yield* seed(store, `Retained${run}`, options.streams, options.eventsPerStream, `${label}: seeding streams for retention`)
      yield* seed(store, `Closed${run}`, options.streams, options.eventsPerStream, `${label}: seeding streams to archive`)
      progressDone()
      const writerId = `writer-${run}`
      const baseline = yield* writerAlone(store, writerId, 3000)

      progress(`${label}: retention`, 0, 2)
      const keep = 2
      const retention = yield* underWriter(store, writerId, store.applyRetention({ aggregateType: `Retained${run}`, maxCount: keep }))
      if (retention.result.removedEvents !== total - options.streams * keep) {
        return yield* Effect.die(new Error(`retention removed ${retention.result.removedEvents} events`))
      }

      progress(`${label}: hot path before archiving`, 1, 2)
      const hotRowsBefore = yield* countRows(client, options.schema)
      const before = yield* hotPathRates(store, `${run}-before`, options.operations, options.repetitions)
      // Every stream of the type is idle by now.
      yield* Effect.sleep("10 millis")
      const archive = yield* underWriter(store, writerId, store.archive({ aggregateType: `Closed${run}`, idleFor: "5 millis" }))
      if (archive.result.movedEvents !== total - options.streams) {
        return yield* Effect.die(new Error(`archive moved ${archive.result.movedEvents} events`))
      }
      const hotRowsAfter = yield* countRows(client, options.schema)
      const after = yield* hotPathRates(store, `${run}-after`, options.operations, options.repetitions)
      progress(`${label}: hot path after archiving`, 2, 2)
      progressDone()

      const pauseRow = (workload: string, during: ReadonlyArray<number>): Row => ({
        backend,
        workload,
        unit: "ms",
        ours: longest(during),
        raw: longest(baseline),
        ratio: undefined,
        target: "≤ 50 ms",
        met: longest(during) <= 50,
        note: `raw column = the writer alone; ${during.length} appends during the pass, ${percentiles(during, baseline)}`
      })
      const size = `${options.streams.toLocaleString("en-US")} streams × ${options.eventsPerStream} events`
      return [
        {
          backend,
          workload: `(r1) retention maxCount ${keep}: ${size}, with a writer appending`,
          unit: "events removed/s",
          ours: retention.result.removedEvents / retention.seconds,
          raw: undefined,
          ratio: undefined,
          target: "",
          met: undefined
        },
        pauseRow("(r2) the writer's longest append during retention", retention.latencies),
        {
          backend,
          workload: `(a1) archive of ${size} (deleted or idle)`,
          unit: "events moved/s",
          ours: archive.result.movedEvents / archive.seconds,
          raw: undefined,
          ratio: undefined,
          target: "",
          met: undefined
        },
        pauseRow("(a2) the writer's longest append during archiving", archive.latencies),
        {
          backend,
          workload: "(a3) rows in the events table, after archiving",
          unit: "rows",
          ours: hotRowsAfter,
          raw: hotRowsBefore,
          ratio: hotRowsAfter / hotRowsBefore,
          target: "",
          met: undefined,
          note: "raw column = before archiving"
        },
        {
          backend,
          workload: "(a4) append 1 event to a new live stream, after archiving",
          unit: "appends/s",
          ours: after.appends,
          raw: before.appends,
          ratio: after.appends / before.appends,
          target: "ratio ≥ 0.8 (no slower)",
          met: after.appends / before.appends >= 0.8,
          note: "raw column = before archiving"
        },
        {
          backend,
          workload: "(a5) load a 10-event live aggregate, after archiving",
          unit: "loads/s",
          ours: after.loads,
          raw: before.loads,
          ratio: after.loads / before.loads,
          target: "ratio ≥ 0.8 (no slower)",
          met: after.loads / before.loads >= 0.8,
          note: "raw column = before archiving"
        }
      ] satisfies ReadonlyArray<Row>
    }))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
