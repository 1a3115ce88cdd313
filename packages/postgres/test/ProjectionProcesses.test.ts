/**
 * The crash test with real processes: three worker processes (each its own pool) run an
 * 8-partition projection into a read model keyed by event id while 8 writers append 10,000
 * events over 500 aggregates; one worker is killed with SIGKILL midway and another started.
 * Every event is applied exactly once, in order per aggregate, every partition is held by a live
 * worker afterwards, and `verify` reports complete.
 */
import { expect, it } from "@effect/vitest"
import { EventStore, Projection, ProjectionStore } from "@eventuali/core"
import { type ChildProcess, spawn } from "node:child_process"
import * as Path from "node:path"
import { Effect, Schedule } from "effect"
import { PgEventStore } from "../src/index.js"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"

const EVENTS = 10_000
const WRITERS = 8
const AGGREGATES = 500

const workerScript = Path.join(import.meta.dirname, "support", "projectionWorker.ts")
const repositoryRoot = Path.resolve(import.meta.dirname, "..", "..", "..")

interface Worker {
  readonly child: ChildProcess
  /** Its projection instance's id, once it printed it. */
  readonly instance: Effect.Effect<string>
  readonly exited: Effect.Effect<void>
  readonly output: () => string
}

/** Starts a worker process; it is killed when the scope closes, whatever happened. */
const startWorker = (schema: string, table: string, name: string) =>
  Effect.acquireRelease(
    Effect.sync((): Worker => {
      const child = spawn(process.execPath, ["--import", "tsx", workerScript, serverUrl, schema, table, name], {
        cwd: repositoryRoot,
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      child.stdout.on("data", (chunk: Buffer) => output += chunk.toString())
      child.stderr.on("data", (chunk: Buffer) => output += chunk.toString())
      const exited = Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        child.once("exit", () => resume(Effect.void))
      })
      const instance = Effect.gen(function*() {
        for (let round = 0; round < 1200; round++) {
          const id = /^instance (\S+)$/m.exec(output)?.[1]
          if (id !== undefined) return id
          if (child.exitCode !== null) break
          yield* Effect.sleep("50 millis")
        }
        return yield* Effect.dieMessage(`the worker did not start: ${output}`)
      })
      return { child, instance, exited, output: () => output }
    }),
    (worker) =>
      Effect.suspend(() => {
        if (worker.child.exitCode !== null || worker.child.signalCode !== null) return Effect.void
        worker.child.kill("SIGKILL")
        return worker.exited
      })
  )

describePg("PostgreSQL projection instances in separate processes", () => {
  it.live(`three worker processes share an 8-partition projection while ${WRITERS} writers append ${EVENTS.toLocaleString("en-US")} events over ${AGGREGATES} aggregates; one is killed with SIGKILL midway and another started: each event applied once, in order per aggregate, every partition held again, verify complete`, () =>
    Effect.gen(function*() {
      const schema = freshSchema("procs")
      const table = "applied"
      const name = "applied"
      const opened = yield* PgEventStore.make({ url: serverUrl, schema, maxConnections: 10 })
      const sql = opened.client
      yield* sql.unsafe(`CREATE TABLE "${schema}".${table} (event_id text PRIMARY KEY, aggregate_id text NOT NULL, version int NOT NULL, seq bigserial)`)
      const workers = [startWorker(schema, table, name), startWorker(schema, table, name), startWorker(schema, table, name)]
      const first = yield* Effect.all(workers, { concurrency: "unbounded" })
      yield* Effect.forEach(first, (worker) => worker.instance, { discard: true })

      const rows = Effect.map(sql.unsafe<{ readonly n: string }>(`SELECT count(*)::text AS n FROM "${schema}".${table}`), ([row]) => Number(row?.n ?? 0))
      const perWriter = EVENTS / WRITERS
      const writers = Effect.all(
        Array.from({ length: WRITERS }, (_, writer) =>
          Effect.forEach(Array.from({ length: perWriter }, (_, i) => i), (i) =>
            opened.store.append("Account", `acc-${(writer * perWriter + i) % AGGREGATES}`, [{ eventType: "Deposited", data: { i } }]), { discard: true })),
        { concurrency: "unbounded", discard: true }
      )
      const killMidway = Effect.gen(function*() {
        while ((yield* rows) < EVENTS * 0.3) yield* Effect.sleep("20 millis")
        first[0]!.child.kill("SIGKILL")
        yield* first[0]!.exited
        const replacement = yield* startWorker(schema, table, name)
        yield* replacement.instance
        return replacement
      })
      const [, replacement] = yield* Effect.all([writers, killMidway], { concurrency: "unbounded" })
      const live = [first[1]!, first[2]!, replacement]
      expect(first[0]!.child.signalCode).toBe("SIGKILL")

      const services = (effect: Effect.Effect<boolean, unknown, EventStore.EventStore | ProjectionStore.ProjectionStore>) =>
        effect.pipe(
          Effect.provideService(EventStore.EventStore, opened.store),
          Effect.provideService(ProjectionStore.ProjectionStore, opened.projections)
        )
      const ids = new Set(yield* Effect.forEach(live, (worker) => worker.instance))
      // Caught up, and every partition held by a live worker (the killed one's leases expired).
      const settled = services(Effect.map(Projection.status(name), (status) =>
        status.partitionStatus.every((partition) => partition.lagEvents === 0 && partition.holder !== undefined && ids.has(partition.holder))))
      const done = yield* Effect.repeat(Effect.orDie(settled), { until: (ok) => ok, schedule: Schedule.spaced("200 millis") }).pipe(
        Effect.timeout("90 seconds"),
        Effect.option
      )
      expect(done._tag === "Some" ? "settled" : `not settled: ${live.map((worker) => worker.output()).join("\n")}`).toBe("settled")

      expect(yield* rows).toBe(EVENTS)
      const applied = yield* sql.unsafe<{ readonly aggregate_id: string; readonly version: number }>(
        `SELECT aggregate_id, version FROM "${schema}".${table} ORDER BY seq`
      )
      const lastVersion = new Map<string, number>()
      let outOfOrder = 0
      for (const row of applied) {
        if (row.version !== (lastVersion.get(row.aggregate_id) ?? 0) + 1) outOfOrder++
        lastVersion.set(row.aggregate_id, row.version)
      }
      expect(outOfOrder).toBe(0)
      expect(lastVersion.size).toBe(AGGREGATES)
      const verification = yield* Projection.verify(name).pipe(
        Effect.provideService(EventStore.EventStore, opened.store),
        Effect.provideService(ProjectionStore.ProjectionStore, opened.projections)
      )
      expect(verification.complete).toBe(true)
      expect(verification.partitions.reduce((sum, partition) => sum + partition.recorded, 0)).toBe(EVENTS)

      // SIGTERM: each live worker gives its partitions up and exits 0.
      for (const worker of live) worker.child.kill("SIGTERM")
      yield* Effect.forEach(live, (worker) => worker.exited, { discard: true })
      expect(live.map((worker) => worker.child.exitCode)).toEqual([0, 0, 0])
    }).pipe(Effect.scoped), 240_000)
})
