/** SQLite workloads: our store and, in the same run, the same statements on raw better-sqlite3. */
import { Aggregate, Event } from "@eventuali/core"
import { Migrations, SqlBackend, Tables } from "@eventuali/sql"
import { SqliteEventStore } from "@eventuali/sqlite"
import Database from "better-sqlite3"
import { Effect, Exit, Scope } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as SqliteAppend from "../../sqlite/src/internal/append.js"
import { Account, concurrentSaves, deposit, depositJson, evolve, prefix, saveMany, saveOne, SnapshottedAccount, type State, StructAccount } from "./domain.js"
import { compare, rate, type Row } from "./harness.js"

export type Synchronous = "full" | "normal"

const tables = Tables.quoted(undefined)
const statements = SqlBackend.statements("sqlite", undefined)
const appendStatements = SqliteAppend.statements(undefined)
const METADATA = JSON.stringify({ headers: {} })

/** Our store on a fresh file (or `:memory:`), open until `close`. */
const openOurs = async (filename: string, synchronous: Synchronous) => {
  const scope = Effect.runSync(Scope.make())
  const { store } = await Effect.runPromise(Scope.extend(SqliteEventStore.make({ filename, synchronous }), scope))
  return { store, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** Raw better-sqlite3 on a fresh file with the same schema and durability settings. */
const openRaw = (filename: string, synchronous: Synchronous) => {
  const db = new Database(filename)
  db.pragma("journal_mode = WAL")
  db.pragma(`synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`)
  for (const migration of Migrations.migrations) for (const sql of migration.sqlite(tables)) db.exec(sql)
  const inserts = new Map<number, Database.Statement>()
  const insert = (count: number) => {
    let statement = inserts.get(count)
    if (statement === undefined) {
      statement = db.prepare(appendStatements.insertRows(count))
      inserts.set(count, statement)
    }
    return statement
  }
  const head = db.prepare(statements.streamHead)
  const readStream = db.prepare(statements.readStream)
  /** Appends `count` five-field events to a new aggregate. */
  const save = (aggregateId: string, count: number, seed: number) =>
    saveJson(aggregateId, Array.from({ length: count }, (_, k) => depositJson(seed + k)))
  /**
   * Appends events already serialised, with ids made the way the store makes them, with the
   * store's own statements: read the aggregate's head, check it, insert the rows.
   */
  const saveJson = (aggregateId: string, payloads: ReadonlyArray<string>) => {
    const current = head.get(aggregateId) as { version: number; type: string | null }
    if (current.version !== 0 || current.type !== null) throw new Error("raw append refused")
    const params: Array<unknown> = []
    const now = Date.now()
    payloads.forEach((payload, k) => params.push(Event.makeId(), aggregateId, "Account", k + 1, "Deposited", 1, payload, METADATA, now))
    const { changes, lastInsertRowid } = insert(payloads.length).run(...params)
    if (changes !== payloads.length || typeof lastInsertRowid !== "number") throw new Error("raw append failed")
  }
  const load = (aggregateId: string): State => {
    let state: State = { balance: 0, count: 0 }
    for (const row of readStream.all(aggregateId, 0) as Array<{ data: string; metadata: string }>) {
      JSON.parse(row.metadata)
      state = evolve(state, JSON.parse(row.data) as { amount: number })
    }
    return state
  }
  return { db, save, saveJson, load, close: () => db.close() }
}




export interface SqliteOptions {
  readonly synchronous: Synchronous
  readonly repetitions: number
  /** Operations per repetition of the sequential save workloads. */
  readonly saves: number
  readonly loads: number
  readonly directory: string
}

export const sqliteWorkloads = async (options: SqliteOptions): Promise<ReadonlyArray<Row>> => {
  const { directory, repetitions, synchronous } = options
  const backend = `SQLite file, WAL, synchronous=${synchronous.toUpperCase()}`
  const file = (name: string) => Path.join(directory, `${name}-${synchronous}.db`)
  const ours = await openOurs(file("ours"), synchronous)
  const raw = openRaw(file("raw"), synchronous)
  const rows: Array<Row> = []
  try {
    // (a) one event to a new aggregate, sequential
    const a = await compare(`${synchronous} (a) save 1 event`, repetitions, (rep) =>
      rate(options.saves, () =>
        Effect.runPromise(Effect.gen(function*() {
          const p = prefix("a", rep)
          for (let i = 0; i < options.saves; i++) yield* saveOne(ours.store, `${p}-${i}`, i)
        }))), (rep) =>
      rate(options.saves, () => {
        const p = prefix("raw-a", rep)
        for (let i = 0; i < options.saves; i++) raw.save(`${p}-${i}`, 1, i)
      }))
    rows.push({ backend, workload: "(a) save 1 event, new aggregate, sequential", unit: "saves/s", ...a, ratio: a.ours / a.raw!, target: "ratio ≥ 0.5", met: a.ours / a.raw! >= 0.5 })

    // (b) ten events in one save
    const saves10 = Math.max(1, Math.floor(options.saves / 2))
    const b = await compare(`${synchronous} (b) save 10 events`, repetitions, (rep) =>
      rate(saves10 * 10, () =>
        Effect.runPromise(Effect.gen(function*() {
          const p = prefix("b", rep)
          for (let i = 0; i < saves10; i++) yield* saveMany(ours.store, `${p}-${i}`, 10, i)
        }))), (rep) =>
      rate(saves10 * 10, () => {
        const p = prefix("raw-b", rep)
        for (let i = 0; i < saves10; i++) raw.save(`${p}-${i}`, 10, i)
      }))
    rows.push({ backend, workload: "(b) save 10 events in one save", unit: "events/s", ...b, ratio: b.ours / b.raw!, target: "ratio ≥ 0.6", met: b.ours / b.raw! >= 0.6 })

    // (c) load (decode + fold) of a 10-event aggregate
    const loadIds = Array.from({ length: 200 }, (_, i) => `c-${synchronous}-${i}`)
    await Effect.runPromise(Effect.forEach(loadIds, (id, i) => saveMany(ours.store, id, 10, i), { discard: true }))
    loadIds.forEach((id, i) => raw.save(id, 10, i))
    const loads = (label: string, definition: typeof Account | typeof StructAccount) =>
      compare(`${synchronous} (c) ${label}`, repetitions, () =>
        rate(options.loads, () =>
          Effect.runPromise(Effect.gen(function*() {
            for (let i = 0; i < options.loads; i++) {
              const loaded = yield* ours.store.load(definition, loadIds[i % loadIds.length]!)
              if (loaded._tag === "None" || loaded.value.version !== 10) return yield* Effect.die("bad load")
            }
          }))), () =>
        rate(options.loads, () => {
          for (let i = 0; i < options.loads; i++) {
            if (raw.load(loadIds[i % loadIds.length]!).count !== 10) throw new Error("bad load")
          }
        }))
    const c = await loads("load 10-event aggregate", Account)
    rows.push({ backend, workload: "(c) load a 10-event aggregate (decode + fold)", unit: "loads/s", ...c, ratio: c.ours / c.raw!, target: "ratio ≥ 0.5", met: c.ours / c.raw! >= 0.5 })

    // (c) again with the events declared as Schema.TaggedStruct: what the store costs when
    // decoding does not construct class instances.
    const cs = await loads("load, TaggedStruct events", StructAccount)
    rows.push({ backend, workload: "(c) the same, events as Schema.TaggedStruct", unit: "loads/s", ...cs, ratio: cs.ours / cs.raw!, target: "ratio ≥ 0.5", met: cs.ours / cs.raw! >= 0.5 })

    // (d) 64 fibers saving single events concurrently to distinct aggregates, vs raw sequential (a)
    const d = await compare(`${synchronous} (d) 64 concurrent savers`, repetitions, (rep) =>
      rate(options.saves, () => concurrentSaves(ours.store, options.saves, rep)), undefined)
    rows.push({
      backend,
      workload: "(d) 64 fibers, 1-event saves, distinct aggregates",
      unit: "saves/s",
      ours: d.ours,
      raw: a.raw,
      ratio: d.ours / a.raw!,
      target: "≥ 1.5 × raw (a)",
      met: d.ours / a.raw! >= 1.5,
      note: "raw = sequential (a) of this run"
    })
  } finally {
    await ours.close()
    raw.close()
  }
  return rows
}

/** (e) The original's published workload: in-memory, 10 aggregates × 100 five-field events. */
export const originalWorkload = async (repetitions: number, rounds: number): Promise<ReadonlyArray<Row>> => {
  const ours = await openOurs(":memory:", "full")
  const raw = openRaw(":memory:", "full")
  const events = 10 * 100 * rounds
  try {
    const saveRates: Array<number> = []
    const loadRates: Array<number> = []
    const rawSave: Array<number> = []
    const rawLoad: Array<number> = []
    for (let rep = 0; rep < repetitions; rep++) {
      const ids = Array.from({ length: 10 * rounds }, (_, i) => `${prefix("e", rep)}-${i}`)
      // The original times creating events apart from persisting them ("Event Creation" vs
      // "Event Persistence"): both sides get their events made before the clock starts, and
      // serialise them while it runs (ours with the event schema, raw with JSON.stringify).
      const batches = ids.map((_, i) => Array.from({ length: 100 }, (_, k) => deposit(i * 100 + k)))
      rawSave.push(await rate(events, () => ids.forEach((id, i) => raw.saveJson(id, batches[i]!.map((event) => JSON.stringify(event))))))
      rawLoad.push(await rate(events, () => ids.forEach((id) => raw.load(id))))
      const roots = ids.map((id, i) => Aggregate.applyAll(Aggregate.empty(Account, id), batches[i]!))
      saveRates.push(await rate(events, () => Effect.runPromise(Effect.forEach(roots, (root) => ours.store.save(root), { discard: true }))))
      loadRates.push(await rate(events, () => Effect.runPromise(Effect.forEach(ids, (id) => ours.store.loadEvents(id), { discard: true }))))
    }
    const { median } = await import("./harness.js")
    const backend = "SQLite :memory: (the original's workload)"
    return [
      { backend, workload: "(e) 10 aggregates × 100 events, one save each", unit: "events/s", ours: median(saveRates), raw: median(rawSave), ratio: median(saveRates) / median(rawSave), target: "≥ 250,000 events/s", met: median(saveRates) >= 250_000 },
      { backend, workload: "(e) loadEvents of each", unit: "events/s", ours: median(loadRates), raw: median(rawLoad), ratio: median(loadRates) / median(rawLoad), target: "≥ 400,000 events/s", met: median(loadRates) >= 400_000 }
    ]
  } finally {
    await ours.close()
    raw.close()
  }
}

export const tempDirectory = () => Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-bench-"))

/** Snapshots: `load` of one 10,000-event aggregate, replaying every event vs. from a snapshot. */
export const snapshotWorkload = async (directory: string, repetitions: number): Promise<ReadonlyArray<Row>> => {
  const ours = await openOurs(Path.join(directory, "snapshots.db"), "normal")
  try {
    const id = "long-lived"
    await Effect.runPromise(Effect.gen(function*() {
      let root = Aggregate.empty(SnapshottedAccount, id)
      for (let i = 0; i < 100; i++) {
        root = yield* ours.store.save(Aggregate.applyAll(root, Array.from({ length: 100 }, (_, k) => deposit(i * 100 + k))))
      }
    }))
    const loads = 20
    const result = await compare("snapshots: load a 10,000-event aggregate", repetitions, () =>
      rate(loads, () =>
        Effect.runPromise(Effect.gen(function*() {
          for (let i = 0; i < loads; i++) {
            const loaded = yield* ours.store.load(SnapshottedAccount, id)
            if (loaded._tag === "None" || loaded.value.state.count !== 10_000) return yield* Effect.die("bad load")
          }
        }))), () =>
      rate(loads, () =>
        Effect.runPromise(Effect.gen(function*() {
          for (let i = 0; i < loads; i++) {
            const loaded = yield* ours.store.load(Account, id)
            if (loaded._tag === "None" || loaded.value.state.count !== 10_000) return yield* Effect.die("bad load")
          }
        }))))
    return [{
      backend: "SQLite file, WAL, synchronous=NORMAL",
      workload: "load a 10,000-event aggregate: snapshot every 100 (raw column: full replay)",
      unit: "loads/s",
      ours: result.ours,
      raw: result.raw,
      ratio: result.ours / result.raw!,
      target: "faster than replay",
      met: result.ours > result.raw!,
      note: "both ours; ratio = speed-up"
    }]
  } finally {
    await ours.close()
  }
}
