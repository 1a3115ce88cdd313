/**
 * `eventuali bench`: a small benchmark of the store behind `--url`, as an application uses it:
 * sequential saves of 1 and of 10 events, and loads of 10-event aggregates.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Aggregate from "@eventuali/core/Aggregate"
import { EventStore } from "@eventuali/core/EventStore"
import { Console, Effect, Schema } from "effect"
import { CliError, json, url, wholeNumber, withStore } from "./common.js"
import { Database } from "./database.js"
import * as Output from "./output.js"

class BenchmarkEvent extends Schema.TaggedClass<BenchmarkEvent>()("BenchmarkEvent", {
  amount: Schema.Number,
  reference: Schema.String,
  note: Schema.String
}) {}

/** The aggregate type every benchmark event is written under. */
export const BENCHMARK_TYPE = "EventualiBenchmark"

const Account = Aggregate.make({
  type: BENCHMARK_TYPE,
  events: [BenchmarkEvent],
  initialState: 0,
  evolve: (total: number, event: BenchmarkEvent) => total + event.amount
})

const eventsOf = (count: number, seed: number) =>
  Array.from({ length: count }, (_, i) => new BenchmarkEvent({ amount: (seed + i) % 100, reference: `ref-${seed}-${i}`, note: "eventuali bench" }))

interface Result {
  readonly workload: string
  readonly operations: number
  readonly eventsPerOperation: number
  readonly seconds: number
  readonly operationsPerSecond: number
  readonly eventsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
}

/**
 * `[#####-----]  50%  label` on stderr, redrawn in place at most every 100 ms on a terminal;
 * elsewhere (a log, a pipe) only the finished line.
 */
const progressBar = (label: string, total: number) => {
  const interactive = process.stderr.isTTY === true
  let drawn = -1
  let drawnAt = 0
  return (done: number) =>
    Effect.sync(() => {
      const percent = Math.floor((done / total) * 100)
      const now = performance.now()
      if (done < total && (!interactive || percent === drawn || now - drawnAt < 100)) return
      drawn = percent
      drawnAt = now
      const filled = Math.round(percent / 5)
      const bar = `[${"#".repeat(filled)}${"-".repeat(20 - filled)}] ${String(percent).padStart(3)}%  ${label}`
      process.stderr.write(interactive ? `\r${bar}${done === total ? "\n" : ""}` : `${bar}\n`)
    })
}

/** Runs `operation` `count` times in sequence, timing each. */
const measure = <E, R>(
  workload: string,
  count: number,
  eventsPerOperation: number,
  operation: (i: number) => Effect.Effect<unknown, E, R>
): Effect.Effect<Result, E, R> =>
  Effect.gen(function*() {
    const draw = progressBar(workload, count)
    const latencies = new Float64Array(count)
    const started = performance.now()
    for (let i = 0; i < count; i++) {
      const before = performance.now()
      yield* operation(i)
      latencies[i] = performance.now() - before
      yield* draw(i + 1)
    }
    const seconds = (performance.now() - started) / 1000
    latencies.sort()
    return {
      workload,
      operations: count,
      eventsPerOperation,
      seconds,
      operationsPerSecond: count / seconds,
      eventsPerSecond: (count * eventsPerOperation) / seconds,
      p50Ms: latencies[Math.floor(count * 0.5)] ?? 0,
      p99Ms: latencies[Math.min(count - 1, Math.floor(count * 0.99))] ?? 0
    }
  })

const operations = wholeNumber("operations", { min: 1, max: 1_000_000 }).pipe(
  Options.withAlias("n"),
  Options.withDefault(1000),
  Options.withDescription("Operations per workload (default: 1,000)")
)

const force = Options.boolean("force").pipe(
  Options.withDescription(`Run on a store that already holds events (the benchmark adds its own, of aggregate type ${BENCHMARK_TYPE})`)
)

const run = (count: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const run = `bench-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`
    const saveNew = (id: string, events: number, seed: number) =>
      store.save(Aggregate.applyAll(Aggregate.empty(Account, id), eventsOf(events, seed)))
    return [
      yield* measure("save, 1 event", count, 1, (i) => saveNew(`${run}-single-${i}`, 1, i)),
      yield* measure("save, 10 events", count, 10, (i) => saveNew(`${run}-ten-${i}`, 10, i)),
      yield* measure("load, 10 events", count, 10, (i) => store.loadOrFail(Account, `${run}-ten-${(i * 7919) % count}`))
    ]
  })

export const bench = Command.make("bench", { url, operations, force, json }, (options) =>
  withStore(
    options.url,
    { create: true },
    Effect.gen(function*() {
      const store = yield* EventStore
      const database = yield* Database
      if (!options.force && (yield* store.readEvents({ limit: 1 })).length > 0) {
        return yield* new CliError({
          message: `${database.shownUrl} already holds events: bench adds ${Output.count(options.operations * 11)} of its own; use a scratch database, or pass --force`
        })
      }
      const results = yield* run(options.operations)
      if (options.json) return yield* Console.log(results.map(Output.json).join("\n"))
      yield* Console.log(Output.table(
        ["Workload", "Operations", "Seconds", "Ops/s", "Events/s", "p50 ms", "p99 ms"],
        results.map((result) => [
          result.workload,
          Output.count(result.operations),
          result.seconds.toFixed(2),
          Output.count(Math.round(result.operationsPerSecond)),
          Output.count(Math.round(result.eventsPerSecond)),
          result.p50Ms.toFixed(3),
          result.p99Ms.toFixed(3)
        ]),
        ["left", "right", "right", "right", "right", "right", "right"]
      ))
    })
  )).pipe(
    Command.withDescription(
      "Benchmark the store: sequential saves of 1 and of 10 events and loads of 10-event aggregates, with a progress bar and a result table. Writes its own events: use a scratch database."
    )
  )
