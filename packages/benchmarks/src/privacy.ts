/**
 * Personal data (`Privacy`): saves and loads of events with three fields marked
 * `Privacy.personal` against the same events unmarked, in two stores with the same settings (two
 * SQLite files, or two PostgreSQL schemas). Both columns are ours: the ratio is what sealing and
 * opening costs.
 */
import { Aggregate, Privacy } from "@eventuali/core"
import type * as EventStore from "@eventuali/core/EventStore"
import type { DatabaseError } from "@eventuali/core/Errors"
import { Effect, Exit, Schema, Scope } from "effect"
import { compare, median, rate, type Row } from "./harness.js"
import { evolve, prefix, type State } from "./domain.js"

const personal = Privacy.personal({ subject: "customer", replacement: "" })

class PlainDeposited extends Schema.TaggedClass<PlainDeposited>()("Deposited", {
  amount: Schema.Number,
  currency: Schema.String,
  customer: Schema.String,
  reference: Schema.String,
  account: Schema.String,
  note: Schema.String
}) {}

class PersonalDeposited extends Schema.TaggedClass<PersonalDeposited>()("Deposited", {
  amount: Schema.Number,
  currency: Schema.String,
  customer: Schema.String,
  reference: Schema.String.pipe(personal),
  account: Schema.String.pipe(personal),
  note: Schema.String.pipe(personal)
}) {}

const PlainAccount = Aggregate.make({ type: "Account", events: [PlainDeposited], initialState: { balance: 0, count: 0 } as State, evolve })
const PersonalAccount = Aggregate.make({ type: "Account", events: [PersonalDeposited], initialState: { balance: 0, count: 0 } as State, evolve })

/** Fifty customers: after their first event, saves find their key. */
const fields = (i: number) => ({
  amount: (i % 100) + 1,
  currency: "EUR",
  customer: `customer-${i % 50}`,
  reference: `ref-${i}`,
  account: `DE89 3704 0044 0532 ${String(i % 10_000).padStart(4, "0")} 00`,
  note: "benchmark"
})

/** Opens one of the two stores compared, by name. */
export type OpenStore = (name: "plain" | "sealed") => Effect.Effect<{ readonly store: EventStore.Service }, DatabaseError, Scope.Scope>

const open = async (openStore: OpenStore, name: "plain" | "sealed") => {
  const scope = Effect.runSync(Scope.make())
  const { store } = await Effect.runPromise(Scope.extend(openStore(name), scope))
  return { store, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

type Definition = typeof PlainAccount | typeof PersonalAccount

const eventOf = (definition: Definition, i: number) =>
  definition === PlainAccount ? new PlainDeposited(fields(i)) : new PersonalDeposited(fields(i))

const saveEvents = (store: EventStore.Service, definition: Definition, id: string, count: number, seed: number) =>
  store.save(Aggregate.applyAll(
    Aggregate.empty(definition as typeof PlainAccount, id),
    Array.from({ length: count }, (_, k) => eventOf(definition, seed + k) as PlainDeposited)
  ))

/**
 * Runs `run` (a timed repetition of `operations` operations) and adds the process's CPU time per
 * operation to `into`. On a machine other work shares, wall-clock rates swing by a factor of two
 * between runs; the CPU time of this CPU-bound work hardly moves, so its ratio is the steadier
 * measure of what sealing costs (docs/performance.md, "Personal data").
 */
const onCpu = async (into: Array<number>, operations: number, run: () => Promise<number>): Promise<number> => {
  const start = process.cpuUsage()
  const wall = await run()
  const used = process.cpuUsage(start)
  into.push((used.user + used.system) / operations)
  return wall
}

/** A row of operations per CPU-second (the medians of the repetitions), sealed against unmarked. */
const cpuRow = (
  backend: string,
  workload: string,
  unit: string,
  sealedMicros: ReadonlyArray<number>,
  plainMicros: ReadonlyArray<number>,
  target: number
): Row => {
  const ours = 1e6 / median(sealedMicros)
  const raw = 1e6 / median(plainMicros)
  return {
    backend,
    workload,
    unit,
    ours,
    raw,
    ratio: ours / raw,
    target: `ratio ≥ ${target.toFixed(2)} (the same target, on CPU time)`,
    met: ours / raw >= target,
    note: "both ours; CPU time of the process per operation, steadier than wall-clock on a shared machine"
  }
}

export const privacyWorkload = async (
  backend: string,
  openStore: OpenStore,
  repetitions: number,
  saves: number,
  loads: number
): Promise<ReadonlyArray<Row>> => {
  const plain = await open(openStore, "plain")
  const sealed = await open(openStore, "sealed")
  try {
    const cpu = { sealedSaves: [] as Array<number>, plainSaves: [] as Array<number>, sealedLoads: [] as Array<number>, plainLoads: [] as Array<number> }
    const saving = (store: EventStore.Service, definition: Definition, label: string) => (rep: number) =>
      onCpu(definition === PersonalAccount ? cpu.sealedSaves : cpu.plainSaves, saves, () =>
        rate(saves, () =>
          Effect.runPromise(Effect.gen(function*() {
            const p = prefix(label, rep)
            for (let i = 0; i < saves; i++) yield* saveEvents(store, definition, `${p}-${i}`, 1, i)
          }))))
    // The customers' keys exist before timing, as they would in a running application.
    await Effect.runPromise(Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) =>
      saveEvents(sealed.store, PersonalAccount, `warm-${i}`, 1, i), { discard: true }))
    const s = await compare(`privacy: save 1 event, 3 personal fields (${backend})`, repetitions, saving(sealed.store, PersonalAccount, "ps"), saving(plain.store, PlainAccount, "pp"))
    const saveRows: ReadonlyArray<Row> = [
      {
        backend,
        workload: "save 1 event with 3 personal fields (raw column: unmarked)",
        unit: "saves/s",
        ours: s.ours,
        raw: s.raw,
        ratio: s.ours / s.raw!,
        target: "overhead ≤ 25% (ratio ≥ 0.8)",
        met: s.ours / s.raw! >= 0.8,
        note: "both ours; ratio = sealed / unmarked"
      },
      cpuRow(backend, "save 1 event with 3 personal fields, CPU time (raw column: unmarked)", "saves/CPU-s", cpu.sealedSaves, cpu.plainSaves, 0.8)
    ]
    // Saves only (`loads` 0): another durability setting of the same database, whose reads do not change.
    if (loads === 0) return saveRows

    const ids = Array.from({ length: 200 }, (_, i) => `load-${i}`)
    for (const [store, definition] of [[plain.store, PlainAccount], [sealed.store, PersonalAccount]] as const) {
      await Effect.runPromise(Effect.forEach(ids, (id, i) => saveEvents(store, definition, id, 10, i * 10), { discard: true }))
    }
    const loading = (store: EventStore.Service, definition: Definition) => () =>
      onCpu(definition === PersonalAccount ? cpu.sealedLoads : cpu.plainLoads, loads, () =>
        rate(loads, () =>
          Effect.runPromise(Effect.gen(function*() {
            for (let i = 0; i < loads; i++) {
              const loaded = yield* store.load(definition as typeof PlainAccount, ids[i % ids.length]!)
              if (loaded._tag === "None" || loaded.value.version !== 10) return yield* Effect.die("bad load")
            }
          }))))
    const l = await compare(`privacy: load 10-event aggregate, 3 personal fields (${backend})`, repetitions, loading(sealed.store, PersonalAccount), loading(plain.store, PlainAccount))
    return [
      saveRows[0]!,
      {
        backend,
        workload: "load a 10-event aggregate, 3 personal fields per event (raw column: unmarked)",
        unit: "loads/s",
        ours: l.ours,
        raw: l.raw,
        ratio: l.ours / l.raw!,
        target: "overhead ≤ 35% (ratio ≥ 0.74)",
        met: l.ours / l.raw! >= 1 / 1.35,
        note: "both ours; ratio = sealed / unmarked"
      },
      saveRows[1]!,
      cpuRow(backend, "load a 10-event aggregate, 3 personal fields per event, CPU time (raw column: unmarked)", "loads/CPU-s", cpu.sealedLoads, cpu.plainLoads, 1 / 1.35)
    ]
  } finally {
    await plain.close()
    await sealed.close()
  }
}
