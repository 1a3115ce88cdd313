/**
 * The peer comparison (`--only peers-postgres`, `--only peers-sqlite`): the same four cart
 * workloads against our store, Emmett and a hand-written store on the raw driver, in one
 * process, alternating, medians of the repetitions, with the targets of issue 14.
 *
 * Each contender is used the way an application would use it: Promise-based calls, one per
 * operation (ours through a `ManagedRuntime`).
 */
import type { EventStore as EmmettEventStore } from "@event-driven-io/emmett"
import { Aggregate, EventStore } from "@eventuali/core"
import { Effect, type Layer, ManagedRuntime } from "effect"
import type { CartEvent, CartState, ProductItem } from "./cart.js"
import { Cart, evolve, initialState, items, type ProductItemAdded } from "./cart.js"
import { median, progress, progressDone, rate } from "./harness.js"

/** What every contender offers the workloads. */
export interface Contender {
  /** Appends the events to a stream that must not exist yet. */
  readonly saveNew: (streamId: string, events: ReadonlyArray<ProductItem>) => Promise<unknown>
  /** Reads a stream and folds it. */
  readonly load: (streamId: string) => Promise<CartState>
  readonly close: () => Promise<void>
}

/**
 * An item as our cart's event: a plain object, built the way Emmett's side builds its
 * `{ type, data }` — one object literal per event, no validation (each store checks what it
 * stores when it saves). `ProductItemAdded.make` would validate every event first, work Emmett's
 * side does not do (7–8 µs an event, measured).
 */
const added = (item: ProductItem): typeof ProductItemAdded.Type => ({ _tag: "ProductItemAdded", ...item })

/** Our store as a Promise-based application uses it: a `ManagedRuntime`, `runPromise` per call. */
export const ours = async <E>(layer: Layer.Layer<EventStore.EventStore, E>): Promise<Contender> => {
  const runtime = ManagedRuntime.make(layer)
  await runtime.runPromise(EventStore.EventStore)
  return {
    saveNew: (streamId, events) =>
      runtime.runPromise(Effect.flatMap(EventStore.EventStore, (store) =>
        store.save(Aggregate.applyAll(Aggregate.empty(Cart, streamId), events.map(added))))),
    load: (streamId) =>
      runtime.runPromise(Effect.flatMap(EventStore.EventStore, (store) => store.load(Cart, streamId))).then((loaded) =>
        loaded._tag === "Some" ? loaded.value.state : initialState
      ),
    close: () => runtime.dispose()
  }
}

/** An Emmett store (imported by the caller when its part runs: bench.mjs keeps Emmett out of the bundle). */
export const emmett = async (store: EmmettEventStore, close: () => Promise<void>): Promise<Contender> => {
  const { STREAM_DOES_NOT_EXIST } = await import("@event-driven-io/emmett")
  return {
    saveNew: (streamId, events) =>
      store.appendToStream(streamId, events.map((data) => ({ type: "ProductItemAdded", data })), {
        expectedStreamVersion: STREAM_DOES_NOT_EXIST
      }),
    load: async (streamId) =>
      (await store.aggregateStream<CartState, CartEvent>(streamId, {
        evolve: (state: CartState, event: CartEvent) => evolve(state, event.data),
        initialState: () => initialState
      })).state,
    close
  }
}

export interface Contenders {
  readonly ours: Contender
  readonly emmett: Contender
  readonly raw: Contender
}

type Name = keyof Contenders
const names: ReadonlyArray<Name> = ["ours", "emmett", "raw"]

export interface PeerRow {
  readonly backend: string
  readonly workload: string
  readonly unit: string
  readonly ours: number
  readonly emmett: number
  readonly raw: number
  readonly oursPerRaw: number
  readonly oursPerEmmett: number
  readonly target: string
  /** The targets this row missed (empty: met). */
  readonly missed: ReadonlyArray<string>
  readonly note?: string | undefined
}

export interface PeerOptions {
  readonly backend: string
  readonly repetitions: number
  /** Operations per repetition of each workload. */
  readonly operations: number
  /** Concurrent callers of (d). */
  readonly concurrency?: number | undefined
}

const CONCURRENCY = 64
const LOADED_STREAMS = 100

/** A run-unique stream id prefix, so that repetitions never collide. */
const streamPrefix = (label: string, repetition: number) =>
  `cart-${label}-${repetition}-${Math.random().toString(36).slice(2, 8)}`

/** `total` calls of `operation`, `concurrency` at a time (each caller awaits its previous one). */
const concurrently = async (total: number, concurrency: number, operation: (i: number) => Promise<unknown>) => {
  let next = 0
  const caller = async () => {
    while (next < total) await operation(next++)
  }
  await Promise.all(Array.from({ length: concurrency }, caller))
}

/**
 * Runs `measure` for each contender `repetitions` times, rotating who goes first, so drift on a
 * shared machine hits all three; returns the medians.
 *
 * Each contender first runs the workload once untimed (as repetition `repetitions`, so its
 * streams are its own): V8 optimises a function only after many calls, and a store with more
 * code on the path reaches its optimised code later. Without this, the first timed repetitions
 * measured the warm-up — ours rose from 4.5k to 8.6k loads/s across five repetitions while
 * Emmett's and the raw store's rose less — and the median swung by 30% between runs.
 */
const compareAll = async (
  label: string,
  repetitions: number,
  measure: (name: Name, repetition: number) => Promise<number>
): Promise<Record<Name, number>> => {
  for (const name of names) await measure(name, repetitions)
  const rates: Record<Name, Array<number>> = { ours: [], emmett: [], raw: [] }
  for (let repetition = 0; repetition < repetitions; repetition++) {
    progress(label, repetition, repetitions)
    for (let k = 0; k < names.length; k++) {
      const name = names[(repetition + k) % names.length]!
      rates[name].push(await measure(name, repetition))
    }
  }
  progress(label, repetitions, repetitions)
  progressDone()
  return { ours: median(rates.ours), emmett: median(rates.emmett), raw: median(rates.raw) }
}

const check = (state: CartState, events: number, who: Name) => {
  if (state.count !== events) throw new Error(`${who} loaded ${state.count} events, expected ${events}`)
}

export const peerWorkloads = async (contenders: Contenders, options: PeerOptions): Promise<ReadonlyArray<PeerRow>> => {
  const { backend, repetitions, operations } = options
  const concurrency = options.concurrency ?? CONCURRENCY

  // Warm-up: every code path of every contender once compiled before the clock runs.
  for (const name of names) {
    const p = streamPrefix(`warm-${name}`, 0)
    for (let i = 0; i < 50; i++) await contenders[name].saveNew(`${p}-${i}`, items(i, 1 + (i % 10)))
    for (let i = 0; i < 50; i++) check(await contenders[name].load(`${p}-${i}`), 1 + (i % 10), name)
  }

  const row = (workload: string, unit: string, rates: Record<Name, number>, rawTarget: number | undefined, extra?: {
    readonly target: string
    readonly met: boolean
  }): PeerRow => {
    const oursPerRaw = rates.ours / rates.raw
    const oursPerEmmett = rates.ours / rates.emmett
    const missed: Array<string> = []
    if (oursPerEmmett < 1.3) missed.push("Emmett")
    if (rawTarget !== undefined && oursPerRaw < rawTarget) missed.push("raw")
    if (extra !== undefined && !extra.met) missed.push("scaling")
    const targets = ["≥ 1.3× Emmett", ...(rawTarget === undefined ? [] : [`≥ ${rawTarget} raw`]), ...(extra === undefined ? [] : [extra.target])]
    return { backend, workload, unit, ...rates, oursPerRaw, oursPerEmmett, target: targets.join(", "), missed }
  }
  const rows: Array<PeerRow> = []

  const a = await compareAll(`${backend} (a) save 1 event`, repetitions, (name, repetition) => {
    const p = streamPrefix(`a-${name}`, repetition)
    return rate(operations, async () => {
      for (let i = 0; i < operations; i++) await contenders[name].saveNew(`${p}-${i}`, items(i, 1))
    })
  })
  rows.push(row("(a) save 1 event, new stream, sequential", "saves/s", a, 0.7))

  const b = await compareAll(`${backend} (b) save 10 events`, repetitions, (name, repetition) => {
    const p = streamPrefix(`b-${name}`, repetition)
    return rate(operations * 10, async () => {
      for (let i = 0; i < operations; i++) await contenders[name].saveNew(`${p}-${i}`, items(i, 10))
    })
  })
  rows.push(row("(b) save 10 events, new stream, sequential", "events/s", b, 0.7))

  const loaded = Object.fromEntries(names.map((name) => [name, streamPrefix(`c-${name}`, 0)])) as Record<Name, string>
  for (const name of names) {
    for (let i = 0; i < LOADED_STREAMS; i++) await contenders[name].saveNew(`${loaded[name]}-${i}`, items(i, 10))
  }
  // Loads are the fastest workload: three times the operations, so that one repetition lasts
  // long enough (about half a second) that a garbage collection falling inside it moves its
  // rate by a few percent, not by a fifth.
  const loads = operations * 3
  const c = await compareAll(`${backend} (c) load 10 events`, repetitions, (name) =>
    rate(loads, async () => {
      for (let i = 0; i < loads; i++) check(await contenders[name].load(`${loaded[name]}-${i % LOADED_STREAMS}`), 10, name)
    }))
  rows.push(row("(c) load a 10-event stream + fold", "loads/s", c, 0.6))

  const d = await compareAll(`${backend} (d) ${concurrency} concurrent saves`, repetitions, (name, repetition) => {
    const p = streamPrefix(`d-${name}`, repetition)
    return rate(operations, () => concurrently(operations, concurrency, (i) => contenders[name].saveNew(`${p}-${i}`, items(i, 1))))
  })
  const scaling = d.ours / a.ours
  rows.push({
    ...row(`(d) ${concurrency} concurrent 1-event saves`, "saves/s", d, undefined, {
      target: `≥ 2.5× our (a): ${scaling.toFixed(2)}×`,
      met: scaling >= 2.5
    }),
    note: "raw: the same concurrent callers"
  })
  return rows
}

const format = (n: number): string => n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(2)

/** The three-column table, in the layout of the harness's `table`. */
export const peerTable = (rows: ReadonlyArray<PeerRow>): string => {
  const header = ["backend", "workload", "unit", "ours", "Emmett", "raw driver", "ours/raw", "ours/Emmett", "target", "met"]
  const body = rows.map((row) => [
    row.backend,
    row.workload,
    row.unit,
    format(row.ours),
    format(row.emmett),
    format(row.raw),
    row.oursPerRaw.toFixed(2),
    `${row.oursPerEmmett.toFixed(2)}×`,
    row.target,
    row.missed.length === 0 ? "yes" : `NO (${row.missed.join(", ")})`
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    "| " + cells.map((c, i) => (i >= 3 && i <= 7 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(" | ") + " |"
  return [line(header), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...body.map(line)].join("\n")
}
