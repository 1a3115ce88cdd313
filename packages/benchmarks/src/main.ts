/**
 * `pnpm bench`: every workload against our stores and, in the same run, against the raw driver
 * doing the same work with the same durability settings; medians of several repetitions, a
 * table on stdout and a JSON file (packages/benchmarks/results/latest.json).
 *
 * PostgreSQL: the server of EVENTUALI_PG_URL, or an embedded PostgreSQL started for the run.
 *
 * Options: --quick (fewer operations),
 * --only sqlite|postgres|tenancy|replicas|original|snapshots|privacy|stream|latency|projections|lifecycle|peers-sqlite|peers-postgres|ui.
 * `--only projections` runs the projection workloads on both backends; `--only sqlite` and
 * `--only postgres` include their backend's.
 * The peers-* parts compare ours with Emmett and a hand-written raw store (`peers.ts`) and print
 * their own three-column table; `--only sqlite` and `--only postgres` include their backend's.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { PgEventStore } from "@eventuali/postgres"
import { SqliteEventStore } from "@eventuali/sqlite"
import { Effect } from "effect"
import * as Esbuild from "esbuild"
import { execFileSync } from "node:child_process"
import { startEmbedded } from "../../postgres/test/support/embedded.js"
import { progress, progressDone, type Row, table } from "./harness.js"
import { latencyRow, measureLatency } from "./latency.js"
import { type PeerRow, peerTable } from "./peers.js"
import { postgresWorkloads } from "./postgres.js"
import { projectionWorkloads } from "./projections.js"
import { originalWorkload, snapshotWorkload, sqliteWorkloads, tempDirectory } from "./sqlite.js"

/**
 * Stops the embedded server. A pool some library left with idle connections and no 'error'
 * listener (Emmett's, after `store.close()`, seen in a CI run) would otherwise crash the process
 * when the server terminates those connections (57P01): that one error is ignored while stopping.
 */
const disposeTolerantly = async (embedded: { readonly dispose: () => Promise<void> } | undefined) => {
  const ignoreShutdown = (error: unknown) => {
    if ((error as { readonly code?: unknown } | null)?.code !== "57P01") throw error
  }
  process.on("uncaughtException", ignoreShutdown)
  try {
    await embedded?.dispose()
    // The terminated connections report on the next turns of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 200))
  } finally {
    process.off("uncaughtException", ignoreShutdown)
  }
}


/** The package root, from src/ (tsx) or .build/ (bundled by scripts/bench.mjs) alike. */
const root = Path.resolve(import.meta.dirname, "..")
const args = process.argv.slice(2)
const quick = args.includes("--quick")
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined
/** `--only postgres` and `--only sqlite` include the comparison with the peers on that backend. */
const wants = (name: string) => only === undefined || only === name || `peers-${only}` === name
/** The projection workloads of a backend: with it, or alone with `--only projections`. */
const wantsProjections = (backend: string) => only === undefined || only === backend || only === "projections"
const projectionEvents = quick ? 2000 : 10_000

const main = async () => {
  const directory = tempDirectory()
  const rows: Array<Row> = []
  const peers: Array<PeerRow> = []
  const repetitions = quick ? 3 : 5
  const peerOperations = quick ? 200 : 1000
  const lifecycleSize = quick
    ? { streams: 500, eventsPerStream: 40, operations: 300, repetitions }
    : { streams: 2000, eventsPerStream: 50, operations: 1000, repetitions }
  try {
    if (wants("sqlite")) {
      for (const synchronous of ["normal", "full"] as const) {
        rows.push(...await sqliteWorkloads({
          synchronous,
          repetitions,
          saves: quick ? 400 : synchronous === "full" ? 1000 : 3000,
          loads: quick ? 1000 : 5000,
          directory
        }))
      }
    }
    if (wantsProjections("sqlite")) {
      rows.push(...await projectionWorkloads({
        backend: "SQLite file (one process)",
        layer: SqliteEventStore.layer({ filename: Path.join(directory, "projections.db") }),
        events: projectionEvents,
        repetitions
      }))
    }
    if (wants("original")) rows.push(...await originalWorkload(repetitions, quick ? 5 : 20))
    if (wants("snapshots")) rows.push(...await snapshotWorkload(directory, repetitions))
    if (wants("privacy")) {
      const { privacyWorkload } = await import("./privacy.js")
      rows.push(...await privacyWorkload(
        "SQLite file, WAL, synchronous=NORMAL",
        (name) => SqliteEventStore.make({ filename: Path.join(directory, `privacy-${name}.db`), synchronous: "normal" }),
        repetitions,
        quick ? 400 : 2000,
        quick ? 1000 : 5000
      ))
      // Saves again with the store's default durability (every commit synced), which is what an
      // application gets unless it asks for NORMAL.
      rows.push(...await privacyWorkload(
        "SQLite file, WAL, synchronous=FULL (the default)",
        (name) => SqliteEventStore.make({ filename: Path.join(directory, `privacy-full-${name}.db`) }),
        repetitions,
        quick ? 200 : 1000,
        0
      ))
    }
    if (wants("stream")) rows.push(...streamWorkload(directory, quick ? 200_000 : 1_000_000))
    if (wants("peers-sqlite")) {
      // Imported only when run, so that the other parts run exactly the code they ran before.
      const { sqlitePeers } = await import("./peersSqlite.js")
      for (const synchronous of ["normal", "full"] as const) {
        peers.push(...await sqlitePeers({ directory, synchronous, repetitions, operations: peerOperations }))
      }
    }
    if (wants("lifecycle")) {
      const { lifecycleWorkloads } = await import("./lifecycle.js")
      rows.push(...await lifecycleWorkloads({
        backend: "SQLite file (synchronous=normal)",
        open: SqliteEventStore.make({ filename: Path.join(directory, "lifecycle.db"), synchronous: "normal" }),
        ...lifecycleSize
      }))
    }
    const needsPg = wants("postgres") || wants("latency") || wants("peers-postgres") || wants("ui") || wants("tenancy") ||
      wantsProjections("postgres") || wants("lifecycle") || wants("privacy")
    const embedded = needsPg && process.env.EVENTUALI_PG_URL === undefined ? await startEmbedded() : undefined
    const pgUrl = process.env.EVENTUALI_PG_URL ?? embedded?.url
    try {
      if (wants("postgres")) {
        rows.push(...await postgresWorkloads({ url: pgUrl!, repetitions, saves: quick ? 300 : 1500, loads: quick ? 500 : 3000 }))
      }
      if (wants("tenancy")) {
        const { tenancyWorkloads } = await import("./tenancy.js")
        rows.push(...await tenancyWorkloads({ url: pgUrl!, repetitions, saves: quick ? 300 : 1500, loads: quick ? 500 : 3000 }))
      }
      if (wantsProjections("postgres")) {
        rows.push(...await projectionWorkloads({
          backend: "PostgreSQL (pool of 10)",
          layer: PgEventStore.layer({ url: `${pgUrl!}${pgUrl!.includes("?") ? "&" : "?"}schema=bench_projections_${Date.now()}` }),
          events: projectionEvents,
          repetitions
        }))
      }
      if (wants("privacy")) {
        const { privacyWorkload } = await import("./privacy.js")
        const run = Date.now()
        rows.push(...await privacyWorkload(
          "PostgreSQL (pool of 10)",
          (name) => PgEventStore.make({ url: pgUrl!, schema: `bench_privacy_${name}_${run}` }),
          repetitions,
          quick ? 300 : 1500,
          quick ? 500 : 3000
        ))
      }
      if (wants("latency")) rows.push(...await latencyRows(directory, pgUrl!, quick ? 50 : 200))
      if (wants("replicas")) {
        // A primary and a replica of their own, whatever EVENTUALI_PG_URL says.
        const { replicaWorkloads } = await import("./replicas.js")
        rows.push(...await replicaWorkloads({ repetitions, samples: quick ? 50 : 200, saves: quick ? 200 : 1000 }))
      }
      if (wants("lifecycle")) {
        const { lifecycleWorkloads } = await import("./lifecycle.js")
        const schema = `bench_lifecycle_${Math.random().toString(36).slice(2, 8)}`
        rows.push(...await lifecycleWorkloads({
          backend: "PostgreSQL",
          open: PgEventStore.make({ url: pgUrl!, schema }),
          schema,
          ...lifecycleSize
        }))
      }
      if (wants("peers-postgres")) {
        const { postgresPeers } = await import("./peersPostgres.js")
        peers.push(...await postgresPeers({ url: pgUrl!, repetitions, operations: peerOperations }))
      }
      if (wants("ui")) {
        // Imported only when run, like the peers.
        const { uiWorkloads } = await import("./ui.js")
        rows.push(...await uiWorkloads({ directory, pgUrl, count: quick ? 100_000 : 1_000_000, samples: quick ? 5 : 15 }))
      }
    } finally {
      await disposeTolerantly(embedded)
    }
  } finally {
    Fs.rmSync(directory, { recursive: true, force: true })
  }
  if (rows.length > 0 || peers.length === 0) process.stdout.write(`\n${table(rows)}\n`)
  if (peers.length > 0) process.stdout.write(`\n${peerTable(peers)}\n`)
  const out = Path.join(root, "results")
  Fs.mkdirSync(out, { recursive: true })
  Fs.writeFileSync(
    Path.join(out, "latest.json"),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, rows, ...(peers.length > 0 ? { peers } : {}) }, null, 2)
  )
}

/** (f) in child processes, so each peak RSS is that reader's own. */
function streamWorkload(directory: string, count: number): ReadonlyArray<Row> {
  const file = Path.join(directory, "stream.db")
  // Bundled to plain JavaScript and run by plain node: a TypeScript loader would add its own
  // memory (~100 MB) to the peak RSS being measured.
  const script = Path.join(root, ".build", "stream.mjs")
  Esbuild.buildSync({
    entryPoints: [Path.join(root, "src", "stream.ts")],
    bundle: true,
    platform: "node",
    format: "esm",
    outfile: script,
    external: ["better-sqlite3", "pg", "pg-native", "@effect/platform-node", "msgpackr", "msgpackr-extract"],
    logLevel: "error"
  })
  const child = (...args: Array<string>) =>
    execFileSync(process.execPath, [script, ...args], { encoding: "utf8", cwd: root })
  progress(`(f) writing ${count.toLocaleString("en-US")} events`, 0, 3)
  child("prepare", file, String(count))
  progress("(f) streaming, raw", 1, 3)
  const raw = JSON.parse(child("raw", file)) as { rate: number; maxRssMb: number }
  progress("(f) streaming, ours", 2, 3)
  const ours = JSON.parse(child("ours", file)) as { rate: number; maxRssMb: number; events: number }
  progress("(f) streaming", 3, 3)
  progressDone()
  if (ours.events !== count) throw new Error(`(f) read ${ours.events} of ${count} events`)
  const backend = "SQLite file (streaming read)"
  return [
    { backend, workload: `(f) read ${count.toLocaleString("en-US")} events by type, paged`, unit: "events/s", ours: ours.rate, raw: raw.rate, ratio: ours.rate / raw.rate, target: "≥ 200,000 events/s", met: ours.rate >= 200_000 },
    { backend, workload: "(f) peak RSS of that reader process", unit: "MB", ours: ours.maxRssMb, raw: raw.maxRssMb, ratio: undefined, target: "< 200 MB", met: ours.maxRssMb < 200 }
  ]
}

/** Live subscription latency: same process on SQLite, across store instances on PostgreSQL (LISTEN/NOTIFY). */
async function latencyRows(directory: string, pgUrl: string, samples: number): Promise<ReadonlyArray<Row>> {
  progress("latency", 0, 2)
  const sqlite = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const { store } = yield* SqliteEventStore.make({ filename: Path.join(directory, "latency.db") })
    return yield* measureLatency(store, store, samples)
  })))
  progress("latency", 1, 2)
  const pg = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const schema = `latency_${Math.random().toString(36).slice(2, 8)}`
    const reader = yield* PgEventStore.make({ url: pgUrl, schema, pollInterval: "1 hour" })
    const writer = yield* PgEventStore.make({ url: pgUrl, schema })
    return yield* measureLatency(reader.store, writer.store, samples)
  })))
  progress("latency", 2, 2)
  progressDone()
  return [
    latencyRow("SQLite file", "the store's own appends", sqlite),
    latencyRow("PostgreSQL", "another store instance (NOTIFY, polling off)", pg)
  ]
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
