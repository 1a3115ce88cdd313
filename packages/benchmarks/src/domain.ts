/** The aggregate and events every workload uses, for ours and for the raw baselines alike. */
import { Aggregate } from "@eventuali/core"
import type * as EventStore from "@eventuali/core/EventStore"
import { Effect, Schema } from "effect"

export class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", {
  amount: Schema.Number,
  currency: Schema.String,
  reference: Schema.String,
  account: Schema.String,
  note: Schema.String
}) {}

export interface State {
  readonly balance: number
  readonly count: number
}

export const evolve = (state: State, event: { readonly amount: number }): State => ({
  balance: state.balance + event.amount,
  count: state.count + 1
})

export const Account = Aggregate.make({
  type: "Account",
  events: [Deposited],
  initialState: { balance: 0, count: 0 } as State,
  evolve
})

/** A five-field event, as in the published benchmark of the original Eventuali (docs/performance.md). */
export const deposit = (i: number): Deposited =>
  new Deposited({ amount: (i % 100) + 1, currency: "EUR", reference: `ref-${i}`, account: `acct-${i % 7}`, note: "benchmark" })

/** The JSON payload of `deposit(i)` as stored (without `_tag`). */
export const depositJson = (i: number): string => {
  const { _tag: _, ...data } = Schema.encodeSync(Deposited)(deposit(i))
  return JSON.stringify(data)
}

/** Saves one event to a new account. */
export const saveOne = (store: EventStore.Service, id: string, i: number) =>
  store.save(Aggregate.apply(Aggregate.empty(Account, id), deposit(i)))

/** Saves `count` events to a new account in one save. */
export const saveMany = (store: EventStore.Service, id: string, count: number, seed: number) =>
  store.save(Aggregate.applyAll(Aggregate.empty(Account, id), Array.from({ length: count }, (_, k) => deposit(seed + k))))

/** Workload (d): `saves` one-event saves to distinct new accounts from 64 fibers at once. */
export const concurrentSaves = (store: EventStore.Service, saves: number, repetition: number) => {
  const p = prefix("d", repetition)
  return Effect.runPromise(Effect.forEach(
    Array.from({ length: saves }, (_, i) => i),
    (i) => saveOne(store, `${p}-${i}`, i),
    { concurrency: 64, discard: true }
  ))
}

/** A run-unique prefix, so repetitions on one database never collide. */
export const prefix = (label: string, repetition: number): string =>
  `${label}-${repetition}-${Math.random().toString(36).slice(2, 8)}`

/** The same account with a snapshot every 100 events. */
export const SnapshottedAccount = Aggregate.make({
  type: "Account",
  events: [Deposited],
  initialState: { balance: 0, count: 0 } as State,
  evolve,
  snapshot: { every: 100, schema: Schema.Struct({ balance: Schema.Number, count: Schema.Number }), version: 1 }
})

/** The same event as a plain tagged struct: decoding builds no class instance (about 10× cheaper). */
export const DepositedStruct = Schema.TaggedStruct("Deposited", {
  amount: Schema.Number,
  currency: Schema.String,
  reference: Schema.String,
  account: Schema.String,
  note: Schema.String
})

/** The account over struct events. */
export const StructAccount = Aggregate.make({
  type: "Account",
  events: [DepositedStruct],
  initialState: { balance: 0, count: 0 } as State,
  evolve
})
