/**
 * What the store's spans and metrics cost when no tracer is installed (Effect's built-in tracer,
 * whose spans reach no one, so the store makes none): the store as shipped against the same store
 * with its metrics off (`Metrics.Enabled` = false), alternating the two in one run. Budget: 5 %.
 * Rates are per second of this process's CPU time, which a busy machine disturbs less than wall
 * time does.
 *
 *   npx tsx packages/benchmarks/src/observability.ts [--repetitions 9] [--operations 3000]
 *
 * The last lines price what the comparison cannot see: the check that skips a span, against a
 * plain effect and against a span of Effect's built-in tracer.
 */
import { Aggregate, type EventStore, InMemoryEventStore, Metrics } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"
import { Effect, Exit, Scope } from "effect"
import * as Observability from "../../core/src/internal/observability.js"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Account, deposit, prefix } from "./domain.js"
import { median, progress, progressDone } from "./harness.js"

const option = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`)
  return index >= 0 ? Number(process.argv[index + 1]) : fallback
}
const repetitions = option("repetitions", 15)
const operations = option("operations", 3000)

type Variant = "shipped" | "off"

const withVariant = (variant: Variant) => <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  variant === "shipped" ? effect : Effect.provideService(effect, Metrics.Enabled, false)

/** Microseconds of this process's CPU time (user and system) that `run` takes. */
const cpuMicros = async (run: () => Promise<unknown>): Promise<number> => {
  const start = process.cpuUsage()
  await run()
  const used = process.cpuUsage(start)
  return used.user + used.system
}

const opsPerSecond = async (variant: Variant, effect: Effect.Effect<unknown, unknown>) =>
  operations / ((await cpuMicros(() => Effect.runPromise(withVariant(variant)(effect)))) / 1e6)

/** One event saved to a new aggregate, `operations` times in a row. */
const saves = (store: EventStore.Service, label: string) =>
  Effect.forEach(
    Array.from({ length: operations }, (_, i) => i),
    (i) => store.save(Aggregate.apply(Aggregate.empty(Account, `${label}-${i}`), deposit(i))),
    { discard: true }
  )

/** A 10-event aggregate loaded `operations` times. */
const loads = (store: EventStore.Service, id: string) =>
  Effect.forEach(Array.from({ length: operations }), () => store.load(Account, id), { discard: true })

interface Result {
  readonly backend: string
  readonly workload: string
  readonly shipped: ReadonlyArray<number>
  readonly off: ReadonlyArray<number>
}

/** Alternates the variants (off, shipped, off, ...) so that drift on a shared machine hits both. */
const measure = async (
  backend: string,
  workload: string,
  run: (variant: Variant, repetition: number) => Promise<number>
): Promise<Result> => {
  const rates: Record<Variant, Array<number>> = { shipped: [], off: [] }
  await run("shipped", -1) // warm-up
  await run("off", -1)
  for (let i = 0; i < repetitions; i++) {
    progress(`${backend} ${workload}`, i, repetitions)
    const order: ReadonlyArray<Variant> = i % 2 === 0 ? ["off", "shipped"] : ["shipped", "off"]
    for (const variant of order) rates[variant].push(await run(variant, i))
  }
  progress(`${backend} ${workload}`, repetitions, repetitions)
  progressDone()
  return { backend, workload, shipped: rates.shipped, off: rates.off }
}

const backends = async (): Promise<ReadonlyArray<{ name: string; store: EventStore.Service; close: () => Promise<void> }>> => {
  const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-bench-observability-"))
  const open = async (name: string, make: Effect.Effect<EventStore.Service, unknown, Scope.Scope>, cleanup = () => {}) => {
    const scope = Effect.runSync(Scope.make())
    const store = await Effect.runPromise(Scope.extend(make, scope))
    return { name, store, close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      cleanup()
    } }
  }
  return [
    await open(
      "sqlite file",
      Effect.map(SqliteEventStore.make({ filename: Path.join(dir, "bench.db"), synchronous: "normal" }), ({ store }) => store),
      () => Fs.rmSync(dir, { recursive: true, force: true })
    ),
    await open("in-memory", InMemoryEventStore.make)
  ]
}

/**
 * CPU microseconds per operation of: a plain effect, the store's span wrapper with no tracer
 * installed (the check that skips the span), and `Effect.withSpan` on Effect's built-in tracer.
 */
const spanCost = async () => {
  const count = 200_000
  const attributes = { "eventuali.aggregate.type": "Account", "eventuali.aggregate.id": "acc-1", "eventuali.event.count": 1 }
  const loop = (body: () => Effect.Effect<void>) => Effect.forEach(Array.from({ length: count }), body, { discard: true })
  const time = async (effect: Effect.Effect<void>) => {
    const runs: Array<number> = []
    for (let i = 0; i < 7; i++) runs.push((await cpuMicros(() => Effect.runPromise(effect))) / count)
    return median(runs)
  }
  return {
    plain: await time(loop(() => Effect.void)),
    skipped: await time(loop(() => Effect.void.pipe(Observability.span("EventStore.save", attributes)))),
    builtIn: await time(loop(() => Effect.void.pipe(Effect.withSpan("EventStore.save", { captureStackTrace: false, attributes }))))
  }
}

const main = async () => {
  const results: Array<Result> = []
  for (const { name, store, close } of await backends()) {
    const loaded = prefix("load", 0)
    await Effect.runPromise(store.save(Aggregate.applyAll(Aggregate.empty(Account, loaded), Array.from({ length: 10 }, (_, i) => deposit(i)))))
    results.push(await measure(name, "save (1 event)", (variant, i) => opsPerSecond(variant, saves(store, prefix(`save-${variant}`, i)))))
    results.push(await measure(name, "load (10 events)", (variant) => opsPerSecond(variant, loads(store, loaded))))
    await close()
  }
  const span = await spanCost()

  const best = (rates: ReadonlyArray<number>) => Math.max(...rates)
  const overhead = (off: number, shipped: number) => `${((off / shipped - 1) * 100).toFixed(1)} %`
  const rows = results.map((r) => [
    r.backend,
    r.workload,
    Math.round(median(r.off)).toLocaleString("en-US"),
    Math.round(median(r.shipped)).toLocaleString("en-US"),
    overhead(median(r.off), median(r.shipped)),
    overhead(best(r.off), best(r.shipped))
  ])
  const header = ["backend", "workload", "metrics off (ops/CPU s)", "shipped (ops/CPU s)", "overhead (medians)", "overhead (best runs)"]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => "| " + cells.map((cell, i) => cell.padEnd(widths[i]!)).join(" | ") + " |"
  console.log(`\nThe store as shipped, no tracer installed: medians of ${repetitions} runs of ${operations} operations\n`)
  console.log([line(header), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...rows.map(line)].join("\n"))
  console.log(
    `\nPer operation, CPU: a plain effect ${span.plain.toFixed(2)} µs; with the store's span, no tracer installed ` +
      `${span.skipped.toFixed(2)} µs; with Effect.withSpan on the built-in tracer ${span.builtIn.toFixed(2)} µs`
  )
}

main()
