/** Snapshots: load from the newest snapshot equals a full replay; stale schema versions are ignored; writes are atomic. */
import { expect } from "@effect/vitest"
import { Aggregate, EventStore } from "@eventuali/core"
import { Effect, FastCheck, Option, Schema } from "effect"
import { type AccountEvent, type AccountState, Deposited, evolveAccount, expectFailure, Opened, type Test, unique, Withdrawn } from "./fixtures.js"

const AccountState = Schema.Struct({
  owner: Schema.String,
  balance: Schema.Number,
  movements: Schema.Array(Schema.Number)
})

/** An account aggregate that counts the events its `evolve` folds, to see what `load` replayed. */
const countingAccount = (type: string, snapshot: { readonly every: number; readonly version: number } | undefined) => {
  const folded = { count: 0 }
  const definition = Aggregate.make({
    type,
    events: [Opened, Deposited, Withdrawn],
    initialState: { owner: "", balance: 0, movements: [] } as AccountState,
    evolve: (state, event: AccountEvent): AccountState => {
      folded.count++
      return evolveAccount(state, event)
    },
    ...(snapshot === undefined ? {} : { snapshot: { ...snapshot, schema: AccountState } })
  })
  return { definition, folded }
}

const movement = FastCheck.oneof(
  FastCheck.integer({ min: 1, max: 1000 }).map((amount): AccountEvent => new Deposited({ amount })),
  FastCheck.integer({ min: 1, max: 1000 }).map((amount): AccountEvent => new Withdrawn({ amount }))
)
/** Saves of 1–7 events each, 1–12 saves. */
const histories = FastCheck.array(FastCheck.array(movement, { minLength: 1, maxLength: 7 }), { minLength: 1, maxLength: 12 })

const saveAll = <D extends Aggregate.Definition<AccountState, AccountEvent>>(
  definition: D,
  id: string,
  saves: ReadonlyArray<ReadonlyArray<AccountEvent>>
) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    let root = yield* store.save(Aggregate.apply(Aggregate.empty(definition, id), new Opened({ owner: "Ada" })))
    for (const events of saves) root = yield* store.save(Aggregate.applyAll(root, events))
    return root
  })

export const snapshots = (test: Test): void => {
  test("load from snapshots equals a full replay, for random histories (property)", (store) =>
    Effect.gen(function*() {
      const samples = FastCheck.sample(FastCheck.tuple(histories, FastCheck.integer({ min: 1, max: 5 })), { numRuns: 25, seed: 4242 })
      for (const [saves, every] of samples) {
        const type = unique("Account")
        const id = unique("account")
        const withSnapshots = countingAccount(type, { every, version: 1 })
        const plain = countingAccount(type, undefined)
        const saved = yield* saveAll(withSnapshots.definition, id, saves)
        const total = 1 + saves.reduce((n, events) => n + events.length, 0)
        withSnapshots.folded.count = 0
        const loaded = Option.getOrThrow(yield* store.load(withSnapshots.definition, id))
        const replayed = Option.getOrThrow(yield* store.load(plain.definition, id))
        expect(loaded.state).toEqual(replayed.state)
        expect(loaded.version).toBe(replayed.version)
        expect(loaded.version).toBe(total)
        expect(loaded.state).toEqual(saved.state)
        // The snapshot is at the end of the last save that crossed a multiple of `every`: only
        // the events after it are folded.
        expect(withSnapshots.folded.count).toBeLessThan(total >= every ? total : total + 1)
        if (total >= every) expect(withSnapshots.folded.count).toBeLessThanOrEqual(7 + every)
      }
    }))

  test("a snapshot of another schema version is ignored, and replaced at the next crossing", (store) =>
    Effect.gen(function*() {
      const type = unique("Account")
      const id = unique("account")
      const v1 = countingAccount(type, { every: 2, version: 1 })
      yield* saveAll(v1.definition, id, [[new Deposited({ amount: 1 })], [new Deposited({ amount: 2 })], [new Deposited({ amount: 3 })]])
      const v2 = countingAccount(type, { every: 2, version: 2 })
      v2.folded.count = 0
      const loaded = Option.getOrThrow(yield* store.load(v2.definition, id))
      expect(v2.folded.count).toBe(4) // every event: the version-1 snapshot was not used
      expect(loaded.state.balance).toBe(6)
      yield* store.save(Aggregate.applyAll(loaded, [new Deposited({ amount: 4 }), new Deposited({ amount: 5 })]))
      v2.folded.count = 0
      const again = Option.getOrThrow(yield* store.load(v2.definition, id))
      expect(v2.folded.count).toBe(0) // the new version-2 snapshot holds the state after version 6
      expect(again.state.balance).toBe(15)
      expect(again.version).toBe(6)
    }))

  test("a save that loses on concurrency writes no snapshot", (store) =>
    Effect.gen(function*() {
      const type = unique("Account")
      const id = unique("account")
      const { definition, folded } = countingAccount(type, { every: 2, version: 1 })
      const root = yield* saveAll(definition, id, [[new Deposited({ amount: 1 })]])
      yield* store.save(Aggregate.apply(root, new Deposited({ amount: 10 })))
      // A stale root crossing the next multiple: refused, and its state must not become the snapshot.
      yield* expectFailure(
        store.save(Aggregate.applyAll(root, [new Deposited({ amount: 500 }), new Deposited({ amount: 500 })])),
        "OptimisticConcurrencyError"
      )
      folded.count = 0
      const loaded = Option.getOrThrow(yield* store.load(definition, id))
      expect(loaded.state.balance).toBe(11)
      expect(loaded.version).toBe(3)
    }))

  test("a snapshot policy whose every or version is not a whole number fails the save with EventStoreError, writing nothing", (store) =>
    Effect.gen(function*() {
      const policies = [
        { every: 0, version: 1, message: /snapshot\.every must be a positive integer, got 0/ },
        { every: 1.5, version: 1, message: /snapshot\.every must be a positive integer, got 1\.5/ },
        { every: 1, version: 1.5, message: /snapshot\.version must be an integer from 0 to 2147483647, got 1\.5/ },
        { every: 1, version: -1, message: /snapshot\.version must be an integer from 0 to 2147483647, got -1/ },
        { every: 1, version: 2 ** 31, message: /snapshot\.version must be an integer from 0 to 2147483647, got 2147483648/ },
        { every: 1, version: NaN, message: /snapshot\.version must be an integer from 0 to 2147483647, got NaN/ }
      ]
      for (const { every, message, version } of policies) {
        const { definition } = countingAccount(unique("Account"), { every, version })
        const id = unique("account")
        const error = yield* Effect.flip(store.save(Aggregate.apply(Aggregate.empty(definition, id), new Opened({ owner: "Ada" }))))
        expect(error._tag).toBe("EventStoreError")
        expect(error.message).toMatch(message)
        expect(yield* store.getAggregateVersion(id)).toEqual(Option.none())
      }
    }))
}
