/**
 * What tenancy costs on PostgreSQL: a request that saves or loads through its tenant's store
 * (`PgTenants`, a schema per tenant, 8 tenants on one server's shared pool, the tenant's services
 * provided per request) against the same work on one store without tenants, in the same run.
 */
import { EventStore, Tenants } from "@eventuali/core"
import { PgEventStore, PgTenants } from "@eventuali/postgres"
import { Effect, Exit, Scope } from "effect"
import { Account, prefix, saveMany, saveOne } from "./domain.js"
import { compare, rate, type Row } from "./harness.js"

const TENANTS = 8

export const tenancyWorkloads = async (options: {
  readonly url: string
  readonly repetitions: number
  readonly saves: number
  readonly loads: number
}): Promise<ReadonlyArray<Row>> => {
  const backend = "PostgreSQL tenants (schema per tenant, 8 tenants, one pool of 10)"
  const run = Math.random().toString(36).slice(2, 8)
  const scope = Effect.runSync(Scope.make())
  const { store } = await Effect.runPromise(Scope.extend(PgEventStore.make({ url: options.url, schema: `bench_notenant_${run}` }), scope))
  const tenants = await Effect.runPromise(Scope.extend(
    PgTenants.make({ servers: { main: options.url }, directory: "schemas", schemaPrefix: `bt${run}_` }),
    scope
  ))
  const ids = Array.from({ length: TENANTS }, (_, i) => `tenant${i}`)
  await Effect.runPromise(Effect.forEach(ids, tenants.create, { discard: true }))
  /** One request: the tenant's services provided around `body`, as a handler gets them. */
  const asTenant = <A, E>(i: number, body: Effect.Effect<A, E, EventStore.EventStore>) =>
    Tenants.provide(ids[i % TENANTS]!)(body).pipe(Effect.provideService(Tenants.Tenants, tenants))
  const rows: Array<Row> = []
  try {
    const save = await compare("tenancy save 1 event", options.repetitions, (rep) =>
      rate(options.saves, () => Effect.runPromise(Effect.gen(function*() {
        const p = prefix("ta", rep)
        for (let i = 0; i < options.saves; i++) {
          yield* asTenant(i, Effect.flatMap(EventStore.EventStore, (tenantStore) => saveOne(tenantStore, `${p}-${i}`, i)))
        }
      }))), (rep) =>
      rate(options.saves, () => Effect.runPromise(Effect.gen(function*() {
        const p = prefix("na", rep)
        for (let i = 0; i < options.saves; i++) yield* saveOne(store, `${p}-${i}`, i)
      }))))
    rows.push({
      backend,
      workload: "(t1) save 1 event per request, tenants round-robin",
      unit: "saves/s",
      ...save,
      ratio: save.ours / save.raw!,
      target: "ratio ≥ 0.9",
      met: save.ours / save.raw! >= 0.9,
      note: "raw column = one store without tenants"
    })

    const loadIds = Array.from({ length: 100 }, (_, i) => `load-${i}`)
    await Effect.runPromise(Effect.forEach(loadIds, (id, i) => saveMany(store, id, 10, i), { discard: true }))
    await Effect.runPromise(Effect.forEach(
      ids,
      (_, t) => asTenant(t, Effect.flatMap(EventStore.EventStore, (tenantStore) =>
        Effect.forEach(loadIds, (id, i) => saveMany(tenantStore, id, 10, i), { discard: true }))),
      { discard: true }
    ))
    const load = await compare("tenancy load 10-event aggregate", options.repetitions, () =>
      rate(options.loads, () => Effect.runPromise(Effect.gen(function*() {
        for (let i = 0; i < options.loads; i++) {
          const loaded = yield* asTenant(i, Effect.flatMap(EventStore.EventStore, (tenantStore) => tenantStore.load(Account, loadIds[i % loadIds.length]!)))
          if (loaded._tag === "None" || loaded.value.version !== 10) return yield* Effect.die("bad load")
        }
      }))), () =>
      rate(options.loads, () => Effect.runPromise(Effect.gen(function*() {
        for (let i = 0; i < options.loads; i++) {
          const loaded = yield* store.load(Account, loadIds[i % loadIds.length]!)
          if (loaded._tag === "None" || loaded.value.version !== 10) return yield* Effect.die("bad load")
        }
      }))))
    rows.push({
      backend,
      workload: "(t2) load a 10-event aggregate per request, tenants round-robin",
      unit: "loads/s",
      ...load,
      ratio: load.ours / load.raw!,
      target: "ratio ≥ 0.9",
      met: load.ours / load.raw! >= 0.9,
      note: "raw column = one store without tenants"
    })
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
  return rows
}
