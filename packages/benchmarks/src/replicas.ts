/**
 * What a read replica costs and gives (`--only replicas`): a primary and a streaming replica of
 * it started for the run (the replica tests' support, `postgres/test/support/replica.ts`), both on
 * this machine.
 *
 * - (r1, r2) live delivery latency: one store appends on the primary, one event at a time; a
 *   subscriber on another store instance reading on the primary, then one reading on the replica,
 *   times each event's arrival (p50, p99 in the row). The replica's includes its replay lag.
 * - (r3) save then load the same aggregate, per iteration, on a store reading on the replica
 *   (read-your-writes: each load first waits for the replica to pass the save) against the same
 *   on a store reading on the primary, in the same run.
 */
import { PgEventStore } from "@eventuali/postgres"
import { Aggregate, type EventStore } from "@eventuali/core"
import { Effect, Exit, Scope } from "effect"
import { startReplicated } from "../../postgres/test/support/replica.js"
import { Account, deposit, prefix } from "./domain.js"
import { compare, progress, progressDone, rate, type Row } from "./harness.js"
import { latencyRow, measureLatency } from "./latency.js"

export const replicaWorkloads = async (options: {
  readonly repetitions: number
  readonly samples: number
  readonly saves: number
}): Promise<ReadonlyArray<Row>> => {
  const backend = "PostgreSQL primary + streaming replica (same machine)"
  const servers = await startReplicated()
  const scope = Effect.runSync(Scope.make())
  try {
    const run = Math.random().toString(36).slice(2, 8)
    const open = (schema: string, extra: Partial<PgEventStore.PgEventStoreConfig>) =>
      Effect.runPromise(Scope.extend(
        Effect.map(PgEventStore.make({ url: servers.primaryUrl, schema: `bench_replica_${schema}_${run}`, ...extra }), (opened) => opened.store),
        scope
      ))
    // A schema per measurement: the latency workload reuses its aggregate ids.
    const latencyOn = async (schema: string, extra: Partial<PgEventStore.PgEventStoreConfig>) =>
      Effect.runPromise(measureLatency(await open(schema, { ...extra, pollInterval: "1 hour" }), await open(schema, {}), options.samples))
    progress("replica latency", 0, 2)
    const primaryLatency = await latencyOn("lp", {})
    progress("replica latency", 1, 2)
    const replicaLatency = await latencyOn("lr", { replicas: [servers.replicaUrl] })
    progress("replica latency", 2, 2)
    progressDone()

    const saveThenLoad = (store: EventStore.Service, label: string) => (rep: number) =>
      rate(options.saves, () =>
        Effect.runPromise(Effect.gen(function*() {
          let account = Aggregate.empty(Account, `${prefix(label, rep)}-ryw`)
          for (let i = 0; i < options.saves; i++) {
            account = yield* store.save(Aggregate.apply(account, deposit(i)))
            const loaded = yield* store.load(Account, account.id)
            if (loaded._tag === "None" || loaded.value.version !== account.version) return yield* Effect.die("read-your-writes broken")
          }
        })))
    const onPrimary = await open("ryw", {})
    const onReplica = await open("ryw", { replicas: [servers.replicaUrl] })
    const ryw = await compare("replica save+load", options.repetitions, saveThenLoad(onReplica, "rr"), saveThenLoad(onPrimary, "rp"))
    return [
      latencyRow(backend, "subscriber on the primary (NOTIFY, polling off)", primaryLatency),
      latencyRow(backend, "subscriber on the replica (primary's NOTIFY, then the replica's replay)", replicaLatency),
      {
        backend,
        workload: "(r3) save then load the same aggregate, loads on the replica (read-your-writes)",
        unit: "save+load/s",
        ...ryw,
        ratio: ryw.ours / ryw.raw!,
        target: "report",
        met: undefined,
        note: "raw column = the same on a store reading on the primary"
      }
    ]
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await servers.dispose()
  }
}
