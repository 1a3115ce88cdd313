/**
 * (p) Projection throughput into a SQL read model, on SQLite and PostgreSQL: one partition
 * against eight, with a handler that upserts a row and one that waits 2 ms per event (as a call
 * to another service would); and the cost of the completeness record (count and digest of each
 * batch's event ids) against the upsert handler's own cost.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { EventStore, Projection, ProjectionStore } from "@eventuali/core"
import { Effect, type Layer, Option } from "effect"
import { addDigests, eventIdHash } from "../../core/src/internal/projection/hashing.js"
import { median, progress, progressDone, type Row } from "./harness.js"

type Services = EventStore.EventStore | ProjectionStore.ProjectionStore | SqlClient.SqlClient

const AGGREGATES = 500

/** Appends `events` deposits over 500 aggregates, 8 writers at once. */
const seed = (events: number) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    Effect.all(
      Array.from({ length: 8 }, (_, writer) =>
        Effect.forEach(Array.from({ length: Math.ceil(events / 8) }, (_, i) => i), (i) =>
          store.append("BenchAccount", `bench-${(writer * 7919 + i) % AGGREGATES}`, [{ eventType: "Deposited", data: { amount: 1 + (i % 9) } }]), {
          discard: true
        })),
      { concurrency: "unbounded", discard: true }
    ))

/** Events per second for one projection catching up with the whole log. */
const catchUpRate = (events: number, partitions: number, handler: "upsert" | "wait") =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const suffix = Math.random().toString(36).slice(2, 10)
    const table = `bench_balances_${suffix}`
    yield* sql.unsafe(`CREATE TABLE ${table} (account_id TEXT PRIMARY KEY, balance BIGINT NOT NULL)`)
    const started = performance.now()
    const running = yield* Projection.run(Projection.make({
      name: `bench-${handler}-${partitions}-${suffix}`,
      aggregateTypes: ["BenchAccount"],
      partitions,
      handle: (event) =>
        handler === "wait"
          ? Effect.sleep("2 millis")
          : sql`INSERT INTO ${sql(table)} (account_id, balance) VALUES (${event.aggregateId}, 1)
              ON CONFLICT (account_id) DO UPDATE SET balance = ${sql(table)}.balance + 1`
    }))
    yield* running.whenCaughtUp
    const seconds = (performance.now() - started) / 1000
    yield* sql.unsafe(`DROP TABLE ${table}`)
    return events / seconds
  }).pipe(Effect.scoped)

/**
 * Milliseconds per batch of 100 events that the completeness record adds: a batch commit with its
 * range (hashing 100 ids, reading and extending the range row) against the same commit of the
 * checkpoint alone, each in its own transaction.
 */
const bookkeepingPerBatch = (batches: number) =>
  Effect.gen(function*() {
    const store = yield* ProjectionStore.ProjectionStore
    const ids = Array.from({ length: 100 }, () => crypto.randomUUID())
    const name = `bench-bookkeeping-${Math.random().toString(36).slice(2, 10)}`
    const time = (commit: (position: bigint) => Effect.Effect<void, unknown>) =>
      Effect.gen(function*() {
        const started = performance.now()
        for (let i = 1; i <= batches; i++) yield* commit(BigInt(i * 100))
        return (performance.now() - started) / batches
      })
    const plain = yield* time((position) =>
      store.withCheckpoint(`${name}-plain`, () => Effect.succeed([undefined, Option.some(position)] as const)))
    const recorded = yield* time((position) =>
      store.withBatch(`${name}-recorded`, () =>
        Effect.sync(() => {
          // The digest as the run loop computes it.
          let digest = 0n
          for (const id of ids) digest = addDigests(digest, eventIdHash(id))
          return [undefined, Option.some({ position, handled: ids.length, digest, parked: [] })] as const
        })))
    return recorded - plain
  })

export const projectionWorkloads = async (options: {
  readonly backend: string
  readonly layer: Layer.Layer<Services, unknown>
  readonly events: number
  readonly repetitions: number
}): Promise<ReadonlyArray<Row>> =>
  Effect.runPromise(Effect.gen(function*() {
    const { backend, events } = options
    yield* seed(events)
    const runs = [
      ["upsert", 1],
      ["upsert", 8],
      ["wait", 1],
      ["wait", 8]
    ] as const
    const rates = new Map<string, number>()
    let step = 0
    for (const [handler, partitions] of runs) {
      progress(`(p) ${backend}: ${handler} handler, ${partitions} partition(s)`, step++, runs.length + 1)
      const samples: Array<number> = []
      // The waiting handler's runs are long and steady: fewer repetitions.
      for (let r = 0; r < (handler === "wait" ? 1 : options.repetitions); r++) samples.push(yield* catchUpRate(events, partitions, handler))
      rates.set(`${handler}/${partitions}`, median(samples))
    }
    progress(`(p) ${backend}: completeness record`, step, runs.length + 1)
    const extra = median(yield* Effect.forEach(Array.from({ length: options.repetitions }, () => 0), () => bookkeepingPerBatch(50)))
    progressDone()
    const upsertOne = rates.get("upsert/1")!
    const perBatchOfUpsert = 100 / upsertOne * 1000
    const overhead = Math.max(0, extra) / perBatchOfUpsert
    const row = (handler: "upsert" | "wait", partitions: number): Row => {
      const ours = rates.get(`${handler}/${partitions}`)!
      const one = rates.get(`${handler}/1`)!
      const ratio = partitions === 1 ? undefined : ours / one
      return {
        backend,
        workload: `(p) projection of ${events.toLocaleString("en-US")} events, ${handler === "upsert" ? "upsert" : "2 ms wait"} handler, ${partitions} partition${partitions === 1 ? "" : "s"}`,
        unit: "events/s",
        ours,
        raw: partitions === 1 ? undefined : one,
        ratio,
        target: handler === "wait" && partitions === 8 ? "≥ 5× one partition" : "",
        met: handler === "wait" && partitions === 8 ? ratio! >= 5 : undefined,
        note: partitions === 1 ? undefined : "raw column: the same handler with one partition"
      }
    }
    return [
      row("upsert", 1),
      row("upsert", 8),
      row("wait", 1),
      row("wait", 8),
      {
        backend,
        workload: "(p) completeness record (count + digest per batch) against the upsert handler",
        unit: "% of time",
        ours: overhead * 100,
        raw: undefined,
        ratio: undefined,
        target: "≤ 5%",
        met: overhead <= 0.05,
        note: `${extra.toFixed(3)} ms per batch of 100 events, against ${perBatchOfUpsert.toFixed(1)} ms for the batch's upserts`
      }
    ]
  }).pipe(Effect.provide(options.layer)))
