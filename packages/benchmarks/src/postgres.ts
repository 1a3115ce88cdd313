/** PostgreSQL workloads: our store and, in the same run, the same statements through raw `pg` on one connection. */
import { Event } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { Migrations, SqlBackend, Tables } from "@eventuali/sql"
import { Effect, Exit, Scope } from "effect"
import Pg from "pg"
import * as PgAppend from "../../postgres/src/internal/append.js"
import { Account, concurrentSaves, depositJson, evolve, prefix, saveMany, saveOne, type State } from "./domain.js"
import { compare, rate, type Row } from "./harness.js"

const METADATA = JSON.stringify({ headers: {} })



const openRaw = async (url: string, schema: string) => {
  const tables = Tables.quoted(schema)
  const statements = SqlBackend.statements("pg", schema)
  const client = new Pg.Client({ connectionString: url })
  await client.connect()
  await client.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
  for (const migration of Migrations.migrations) for (const sql of migration.pg(tables)) await client.query(sql)
  const appendText = PgAppend.statement(schema)
  const save = async (aggregateId: string, count: number, seed: number) => {
    const now = Date.now()
    const ids: Array<string> = [], types: Array<string> = [], versions: Array<number> = []
    const data: Array<string> = [], metadata: Array<string> = [], ms: Array<number> = []
    for (let k = 0; k < count; k++) {
      ids.push(Event.makeId()); types.push("Deposited"); versions.push(1)
      data.push(depositJson(seed + k)); metadata.push(METADATA); ms.push(now)
    }
    const result = await client.query(appendText, [aggregateId, "Account", 0, 0, ids, types, versions, data, metadata, ms])
    // The statement answers one row: how many events it inserted (none when the expected version did not hold).
    const [answer] = result.rows as Array<{ inserted: number }>
    if (answer?.inserted !== count) throw new Error("raw append refused")
  }
  const load = async (aggregateId: string): Promise<State> => {
    let state: State = { balance: 0, count: 0 }
    const result = await client.query(statements.readStream, [aggregateId, 0])
    for (const row of result.rows as Array<{ data: string; metadata: string }>) {
      JSON.parse(row.metadata)
      state = evolve(state, JSON.parse(row.data) as { amount: number })
    }
    return state
  }
  return { save, load, close: () => client.end() }
}


export const postgresWorkloads = async (options: {
  readonly url: string
  readonly repetitions: number
  readonly saves: number
  readonly loads: number
}): Promise<ReadonlyArray<Row>> => {
  const backend = "PostgreSQL (pool of 10; raw: one connection)"
  const schema = `bench_${Math.random().toString(36).slice(2, 10)}`
  const scope = Effect.runSync(Scope.make())
  const { store } = await Effect.runPromise(Scope.extend(PgEventStore.make({ url: options.url, schema }), scope))
  const raw = await openRaw(options.url, `${schema}_raw`)
  const rows: Array<Row> = []
  try {
    const a = await compare("pg (a) save 1 event", options.repetitions, (rep) =>
      rate(options.saves, () => Effect.runPromise(Effect.gen(function*() {
        const p = prefix("a", rep)
        for (let i = 0; i < options.saves; i++) yield* saveOne(store, `${p}-${i}`, i)
      }))), (rep) =>
      rate(options.saves, async () => {
        const p = prefix("raw-a", rep)
        for (let i = 0; i < options.saves; i++) await raw.save(`${p}-${i}`, 1, i)
      }))
    rows.push({ backend, workload: "(a) save 1 event, new aggregate, sequential", unit: "saves/s", ...a, ratio: a.ours / a.raw!, target: "ratio ≥ 0.6", met: a.ours / a.raw! >= 0.6 })

    const saves10 = Math.max(1, Math.floor(options.saves / 2))
    const b = await compare("pg (b) save 10 events", options.repetitions, (rep) =>
      rate(saves10 * 10, () => Effect.runPromise(Effect.gen(function*() {
        const p = prefix("b", rep)
        for (let i = 0; i < saves10; i++) yield* saveMany(store, `${p}-${i}`, 10, i)
      }))), (rep) =>
      rate(saves10 * 10, async () => {
        const p = prefix("raw-b", rep)
        for (let i = 0; i < saves10; i++) await raw.save(`${p}-${i}`, 10, i)
      }))
    rows.push({ backend, workload: "(b) save 10 events in one save", unit: "events/s", ...b, ratio: b.ours / b.raw!, target: "ratio ≥ 0.6", met: b.ours / b.raw! >= 0.6 })

    const loadIds = Array.from({ length: 100 }, (_, i) => `c-${i}`)
    await Effect.runPromise(Effect.forEach(loadIds, (id, i) => saveMany(store, id, 10, i), { discard: true }))
    for (const [i, id] of loadIds.entries()) await raw.save(id, 10, i)
    const c = await compare("pg (c) load 10-event aggregate", options.repetitions, () =>
      rate(options.loads, () => Effect.runPromise(Effect.gen(function*() {
        for (let i = 0; i < options.loads; i++) {
          const loaded = yield* store.load(Account, loadIds[i % loadIds.length]!)
          if (loaded._tag === "None" || loaded.value.version !== 10) return yield* Effect.die("bad load")
        }
      }))), () =>
      rate(options.loads, async () => {
        for (let i = 0; i < options.loads; i++) {
          if ((await raw.load(loadIds[i % loadIds.length]!)).count !== 10) throw new Error("bad load")
        }
      }))
    rows.push({ backend, workload: "(c) load a 10-event aggregate (decode + fold)", unit: "loads/s", ...c, ratio: c.ours / c.raw!, target: "ratio ≥ 0.6", met: c.ours / c.raw! >= 0.6 })

    const d = await compare("pg (d) 64 concurrent savers", options.repetitions, (rep) =>
      rate(options.saves, () => concurrentSaves(store, options.saves, rep)), undefined)
    rows.push({
      backend,
      workload: "(d) 64 fibers, 1-event saves, distinct aggregates",
      unit: "saves/s",
      ours: d.ours,
      raw: a.ours,
      ratio: d.ours / a.ours,
      target: "≥ 2 × our (a)",
      met: d.ours / a.ours >= 2,
      note: "raw column = our sequential (a)"
    })
  } finally {
    await raw.close()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
  return rows
}
