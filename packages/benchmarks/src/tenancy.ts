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
import { median, progress, progressDone, rate, type Row } from "./harness.js"

const TENANTS = 8

/**
 * Each repetition's operations run as this many short rounds of each side (of 25 operations or
 * more, a few milliseconds): the shorter a pair of rounds, the likelier both sides ran under the
 * same load from the machine's other processes.
 */
const ROUNDS_PER_REPETITION = 16

interface Paired {
  readonly ours: number
  readonly raw: number
  /** The median of the rounds' ratios (ours / raw, each pair run back to back). */
  readonly ratio: number
  readonly rounds: number
  /** This process's CPU time per operation (µs), medians: what tenancy adds is client work. */
  readonly cpuOurs: number
  readonly cpuRaw: number
}

/**
 * Ours and raw in many short rounds, back to back, the order alternating: on a shared machine
 * whose load swings by the minute, the ratio of two rounds a second apart is steadier than the
 * ratio of medians taken minutes apart. Also each side's CPU time in this process per operation.
 */
const paired = async (
  label: string,
  rounds: number,
  operations: number,
  ours: (round: number) => Promise<number>,
  raw: (round: number) => Promise<number>
): Promise<Paired> => {
  const measure = async (side: (round: number) => Promise<number>, round: number) => {
    const before = process.cpuUsage()
    const rate = await side(round)
    const cpu = process.cpuUsage(before)
    return { rate, cpu: (cpu.user + cpu.system) / operations }
  }
  const oursRounds: Array<{ readonly rate: number; readonly cpu: number }> = []
  const rawRounds: Array<{ readonly rate: number; readonly cpu: number }> = []
  for (let round = 0; round < rounds; round++) {
    progress(label, round, rounds)
    if (round % 2 === 0) {
      rawRounds.push(await measure(raw, round))
      oursRounds.push(await measure(ours, round))
    } else {
      oursRounds.push(await measure(ours, round))
      rawRounds.push(await measure(raw, round))
    }
  }
  progress(label, rounds, rounds)
  progressDone()
  return {
    ours: median(oursRounds.map((r) => r.rate)),
    raw: median(rawRounds.map((r) => r.rate)),
    ratio: median(oursRounds.map((r, i) => r.rate / rawRounds[i]!.rate)),
    rounds,
    cpuOurs: median(oursRounds.map((r) => r.cpu)),
    cpuRaw: median(rawRounds.map((r) => r.cpu))
  }
}

/** Requests per round of the plumbing row: enough for a stable CPU time per request. */
const PLUMBING_REQUESTS = 20_000

/**
 * (t0) What a request pays to run as its tenant, without the database: CPU time per request of an
 * empty handler that takes `EventStore` from its context, through `Tenants.provide` (8 tenants
 * round-robin) and on the one store, in alternating rounds. The client side of the loads' gap.
 */
const plumbing = async <R>(
  backend: string,
  runPromise: <A, E>(effect: Effect.Effect<A, E, R>) => Promise<A>,
  viaTenant: <A, E>(i: number, body: (store: EventStore.Service) => Effect.Effect<A, E>) => Effect.Effect<A, E | Tenants.TenantError, R>,
  viaStore: <A, E>(i: number, body: (store: EventStore.Service) => Effect.Effect<A, E>) => Effect.Effect<A, E | Tenants.TenantError, R>
): Promise<Row> => {
  const cpuPerRequest = async (via: typeof viaTenant) => {
    const before = process.cpuUsage()
    await runPromise(Effect.gen(function*() {
      for (let i = 0; i < PLUMBING_REQUESTS; i++) yield* via(i, () => Effect.void)
    }))
    const used = process.cpuUsage(before)
    return (used.user + used.system) / PLUMBING_REQUESTS
  }
  const tenant: Array<number> = []
  const one: Array<number> = []
  for (let round = 0; round < 7; round++) {
    progress("tenancy plumbing", round, 7)
    tenant.push(await cpuPerRequest(viaTenant))
    one.push(await cpuPerRequest(viaStore))
  }
  progress("tenancy plumbing", 7, 7)
  progressDone()
  const ours = median(tenant)
  const raw = median(one)
  return {
    backend,
    workload: "(t0) per-request plumbing: an empty handler run as its tenant (Tenants.provide), no database",
    unit: "µs CPU/request",
    ours,
    raw,
    ratio: undefined,
    target: "report (a load costs 100–200 µs)",
    met: undefined,
    note: `raw column = the same handler on the one store; medians of 7 rounds of ${PLUMBING_REQUESTS.toLocaleString("en-US")} requests`
  }
}

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
  // As an application does: the tenants (or the one store) are provided once, and a request's
  // handler takes `EventStore` from its context — the tenant's, provided per request.
  const runPromise = Runtime.runPromise(
    Runtime.defaultRuntime.pipe(Runtime.provideService(Tenants.Tenants, tenants), Runtime.provideService(EventStore.EventStore, store))
  )
  /** How a request reaches its store: through its tenant's services, or the one store. */
  type Via = <A, E>(
    i: number,
    body: (store: EventStore.Service) => Effect.Effect<A, E>
  ) => Effect.Effect<A, E | Tenants.TenantError, Tenants.Tenants | EventStore.EventStore>
  const viaTenant: Via = (i, body) => Tenants.provide(ids[i % TENANTS]!)(Effect.flatMap(EventStore.EventStore, body))
  const viaStore: Via = (_, body) => Effect.flatMap(EventStore.EventStore, body)
  // Short rounds, many of them, in alternating order (see `paired`).
  const roundSaves = Math.max(25, Math.round(options.saves / ROUNDS_PER_REPETITION))
  const roundLoads = Math.max(25, Math.round(options.loads / ROUNDS_PER_REPETITION))
  const saves = (via: Via, label: string) => (round: number) =>
    rate(roundSaves, () => runPromise(Effect.gen(function*() {
      const p = prefix(label, round)
      for (let i = 0; i < roundSaves; i++) yield* via(i, (target) => saveOne(target, `${p}-${i}`, i))
    })))
  const loadIds = Array.from({ length: 100 }, (_, i) => `load-${i}`)
  const loads = (via: Via) => () =>
    rate(roundLoads, () => runPromise(Effect.gen(function*() {
      for (let i = 0; i < roundLoads; i++) {
        const loaded = yield* via(i, (target) => target.load(Account, loadIds[i % loadIds.length]!))
        if (loaded._tag === "None" || loaded.value.version !== 10) return yield* Effect.die("bad load")
      }
    })))
  const rowOf = (workload: string, unit: string, measured: Paired): Row => ({
    backend,
    workload,
    unit,
    ours: measured.ours,
    raw: measured.raw,
    ratio: measured.ratio,
    target: "ratio ≥ 0.9",
    met: measured.ratio >= 0.9,
    note: `raw column = one store without tenants; ratio = median of ${measured.rounds} paired rounds; client CPU per request ${
      measured.cpuOurs.toFixed(0)
    } µs vs ${measured.cpuRaw.toFixed(0)} µs`
  })
  const rows: Array<Row> = []
  try {
    if (strategy === "schema") rows.push(await plumbing(backend, runPromise, viaTenant, viaStore))
    const rounds = options.repetitions * ROUNDS_PER_REPETITION
    const save = await paired(`tenancy (${strategy}) save 1 event`, rounds, roundSaves, saves(viaTenant, "ta"), saves(viaStore, "na"))
    rows.push(rowOf("(t1) save 1 event per request, tenants round-robin", "saves/s", save))
    await runPromise(Effect.forEach(
      Array.from({ length: TENANTS + 1 }, (_, t) => t),
      (t) => (t === TENANTS ? viaStore : viaTenant)(t, (target) => Effect.forEach(loadIds, (id, i) => saveMany(target, id, 10, i), { discard: true })),
      { discard: true }
    ))
    const load = await paired(`tenancy (${strategy}) load 10-event aggregate`, rounds, roundLoads, loads(viaTenant), loads(viaStore))
    rows.push(rowOf("(t2) load a 10-event aggregate per request, tenants round-robin", "loads/s", load))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
  return rows
}
