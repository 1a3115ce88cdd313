/**
 * What tenancy costs on PostgreSQL: a request that saves or loads through its tenant's store
 * (`PgTenants`, a schema per tenant or conjoined, 8 tenants on one server's shared pool, the
 * tenant's services provided per request) against the same work on one store without tenants,
 * in the same run.
 */
import { EventStore, Tenants } from "@eventuali/core"
import { PgEventStore, PgTenants } from "@eventuali/postgres"
import { Effect, Exit, Runtime, Scope } from "effect"
import { Account, prefix, saveMany, saveOne } from "./domain.js"
import { compare, rate, type Row } from "./harness.js"

const TENANTS = 8

export const tenancyWorkloads = async (options: {
  readonly url: string
  readonly repetitions: number
  readonly saves: number
  readonly loads: number
}): Promise<ReadonlyArray<Row>> => {
  const rows: Array<Row> = []
  for (const strategy of ["schema", "conjoined"] as const) rows.push(...await tenancyOf(strategy, options))
  return rows
}

const tenancyOf = async (strategy: "schema" | "conjoined", options: {
  readonly url: string
  readonly repetitions: number
  readonly saves: number
  readonly loads: number
}): Promise<ReadonlyArray<Row>> => {
  const backend = `PostgreSQL tenants (${strategy === "schema" ? "schema per tenant" : "conjoined"}, 8 tenants, one pool of 10)`
  const run = Math.random().toString(36).slice(2, 8)
  const scope = Effect.runSync(Scope.make())
  const { store } = await Effect.runPromise(Scope.extend(PgEventStore.make({ url: options.url, schema: `bench_notenant_${run}` }), scope))
  const tenants = await Effect.runPromise(Scope.extend(
    PgTenants.make({
      servers: { main: options.url },
      directory: "schemas",
      schemaPrefix: `bt${run}_`,
      strategy,
      conjoinedSchema: `bench_conjoined_${run}`
    }),
    scope
  ))
  const ids = Array.from({ length: TENANTS }, (_, i) => `tenant${i}`)
  await Effect.runPromise(Effect.forEach(ids, tenants.create, { discard: true }))
  // As an application does: the tenants are provided once, the tenant's services per request.
  const runPromise = Runtime.runPromise(Runtime.provideService(Runtime.defaultRuntime, Tenants.Tenants, tenants))
  /** How a request reaches its store: through its tenant's services, or the one store. */
  type Via = <A, E>(i: number, body: (store: EventStore.Service) => Effect.Effect<A, E>) => Effect.Effect<A, E | Tenants.TenantError, Tenants.Tenants>
  const viaTenant: Via = (i, body) =>
    Tenants.provide(ids[i % TENANTS]!)(Effect.flatMap(EventStore.EventStore, body))
  const viaStore: Via = (_, body) => body(store)
  const saves = (via: Via, label: string) => (rep: number) =>
    rate(options.saves, () => runPromise(Effect.gen(function*() {
      const p = prefix(label, rep)
      for (let i = 0; i < options.saves; i++) yield* via(i, (target) => saveOne(target, `${p}-${i}`, i))
    })))
  const loadIds = Array.from({ length: 100 }, (_, i) => `load-${i}`)
  const loads = (via: Via) => () =>
    rate(options.loads, () => runPromise(Effect.gen(function*() {
      for (let i = 0; i < options.loads; i++) {
        const loaded = yield* via(i, (target) => target.load(Account, loadIds[i % loadIds.length]!))
        if (loaded._tag === "None" || loaded.value.version !== 10) return yield* Effect.die("bad load")
      }
    })))
  const rowOf = (workload: string, unit: string, measured: { readonly ours: number; readonly raw: number | undefined }): Row => ({
    backend,
    workload,
    unit,
    ...measured,
    ratio: measured.ours / measured.raw!,
    target: "ratio ≥ 0.9",
    met: measured.ours / measured.raw! >= 0.9,
    note: "raw column = one store without tenants"
  })
  const rows: Array<Row> = []
  try {
    const save = await compare(`tenancy (${strategy}) save 1 event`, options.repetitions, saves(viaTenant, "ta"), saves(viaStore, "na"))
    rows.push(rowOf("(t1) save 1 event per request, tenants round-robin", "saves/s", save))
    await runPromise(Effect.forEach(
      Array.from({ length: TENANTS + 1 }, (_, t) => t),
      (t) => (t === TENANTS ? viaStore : viaTenant)(t, (target) => Effect.forEach(loadIds, (id, i) => saveMany(target, id, 10, i), { discard: true })),
      { discard: true }
    ))
    const load = await compare(`tenancy (${strategy}) load 10-event aggregate`, options.repetitions, loads(viaTenant), loads(viaStore))
    rows.push(rowOf("(t2) load a 10-event aggregate per request, tenants round-robin", "loads/s", load))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
  return rows
}
