/** Optimistic concurrency and sharing one store across fibers. */
import { expect } from "@effect/vitest"
import { Aggregate, type Event, ExpectedVersion } from "@eventuali/core"
import { Effect, Either, Fiber, Option } from "effect"
import {
  assertTag,
  collect,
  Deposited,
  deposit,
  expectFailure,
  expectStrictlyIncreasing,
  expectVersion,
  idsOf,
  makeAccount,
  Opened,
  openAccount,
  type Test,
  unique,
  Withdrawn
} from "./fixtures.js"

const FIBERS = 20

/**
 * Runs `saves` all at once and asserts exactly one wins, while every other fails with an
 * OptimisticConcurrencyError expecting `expectedVersion` and seeing `actualVersion`. Succeeds
 * with the index of the winner.
 */
const expectOneWinner = <A, E extends { readonly _tag: string }>(
  saves: ReadonlyArray<Effect.Effect<A, E>>,
  conflict: {
    readonly aggregateId: string
    readonly expectedVersion: ExpectedVersion.ExpectedVersion
    readonly actualVersion: number
  }
) =>
  Effect.gen(function*() {
    const results = yield* Effect.all(saves, { concurrency: "unbounded", mode: "either" })
    const winners = results.flatMap((result, i) => Either.isRight(result) ? [i] : [])
    expect(winners).toHaveLength(1)
    for (const result of results) {
      if (Either.isLeft(result)) {
        expect(assertTag(result.left, "OptimisticConcurrencyError")).toMatchObject(conflict)
      }
    }
    return winners[0]!
  })

export const optimisticConcurrency = (test: Test): void => {
  test(
    `exactly one of ${FIBERS} concurrent saves at the same version wins; the others see the winner's version`,
    (store) => Effect.gen(function*() {
      const base = yield* openAccount(makeAccount())
      const winner = yield* expectOneWinner(
        Array.from({ length: FIBERS }, (_, i) => store.save(Aggregate.apply(base, new Deposited({ amount: i + 1 })))),
        { aggregateId: base.id, expectedVersion: ExpectedVersion.exact(1), actualVersion: 2 }
      )
      const events = yield* store.loadEvents(base.id)
      expect(events.map((event) => event.data)).toEqual([{ owner: "Ada" }, { amount: winner + 1 }])
    })
  )

  test(
    `exactly one of ${FIBERS} concurrent saves creating the same aggregate wins`,
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const id = unique("account")
      const winner = yield* expectOneWinner(
        Array.from({ length: FIBERS }, (_, i) =>
          store.save(Aggregate.applyAll(Aggregate.empty(account, id), [
            new Opened({ owner: `owner ${i}` }),
            new Deposited({ amount: i + 1 })
          ]))),
        { aggregateId: id, expectedVersion: ExpectedVersion.exact(0), actualVersion: 2 }
      )
      const loaded = Option.getOrThrow(yield* store.load(account, id))
      expect(loaded.state.owner).toBe(`owner ${winner}`)
      yield* expectVersion(id, 2)
    })
  )

  test(
    "a stale root fails with OptimisticConcurrencyError carrying the expected and the actual version",
    (store) => Effect.gen(function*() {
      const base = yield* openAccount(makeAccount())
      yield* store.save(Aggregate.applyAll(base, [new Deposited({ amount: 1 }), new Deposited({ amount: 2 })]))

      const stale = Aggregate.apply(base, new Withdrawn({ amount: 1 }))
      const error = yield* expectFailure(store.save(stale), "OptimisticConcurrencyError")
      expect(error.aggregateId).toBe(base.id)
      expect(error.expectedVersion).toEqual(ExpectedVersion.exact(1))
      expect(error.actualVersion).toBe(3)
      yield* expectVersion(base.id, 3)
    })
  )

  test(
    "a conflicting multi-event save writes nothing",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const base = yield* openAccount(account, [1])
      yield* store.save(Aggregate.apply(base, new Deposited({ amount: 2 })))
      const before = yield* store.loadEvents(base.id)

      const conflicting = Aggregate.applyAll(base, [
        new Deposited({ amount: 10 }),
        new Deposited({ amount: 20 }),
        new Withdrawn({ amount: 30 })
      ])
      yield* expectFailure(store.save(conflicting), "OptimisticConcurrencyError")
      expect(yield* store.loadEvents(base.id)).toEqual(before)
      yield* expectVersion(base.id, 3)
      expect(Option.getOrThrow(yield* store.load(account, base.id)).state.movements).toEqual([1, 2])
    })
  )

  test(
    "after a conflict, reloading and saving again succeeds",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const base = yield* openAccount(account)
      yield* store.save(Aggregate.apply(base, new Deposited({ amount: 1 })))

      const retried = yield* store.save(Aggregate.apply(base, new Deposited({ amount: 2 }))).pipe(
        Effect.catchTag("OptimisticConcurrencyError", () =>
          store.loadOrFail(account, base.id).pipe(
            Effect.flatMap((fresh) => store.save(Aggregate.apply(fresh, new Deposited({ amount: 2 }))))
          ))
      )
      expect(retried.version).toBe(3)
      expect(Option.getOrThrow(yield* store.load(account, base.id)).state.movements).toEqual([1, 2])
    })
  )

  test(
    `${FIBERS} concurrent appends with ExpectedVersion.any to one aggregate all land, with contiguous versions`,
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const id = unique("account")
      const results = yield* Effect.all(
        Array.from({ length: FIBERS }, (_, i) => store.append(account.type, id, [deposit(i + 1)])),
        { concurrency: "unbounded" }
      )

      expect(results.map((result) => result.version).sort((a, b) => a - b)).toEqual(
        Array.from({ length: FIBERS }, (_, i) => i + 1)
      )
      const events = yield* store.loadEvents(id)
      expect(events.map((event) => event.aggregateVersion)).toEqual(Array.from({ length: FIBERS }, (_, i) => i + 1))
      expect(new Set(idsOf(events))).toEqual(new Set(results.flatMap((result) => idsOf(result.events))))
    })
  )
}

export const sharedAcrossFibers = (test: Test): void => {
  test(
    "50 fibers appending to distinct aggregates all succeed, with unique positions",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const ids = Array.from({ length: 50 }, () => unique("account"))
      const results = yield* Effect.all(
        ids.map((id, i) =>
          store.append(account.type, id, [deposit(i + 1), deposit(i + 2)], {
            expectedVersion: ExpectedVersion.noStream
          })
        ),
        { concurrency: "unbounded" }
      )

      for (const result of results) expect(result.version).toBe(2)
      const positions = results.flatMap((result) => result.events.map((event) => event.position))
      expect(new Set(positions).size).toBe(100)
      for (const [i, id] of ids.entries()) {
        yield* expectVersion(id, 2)
        // What an append returns is what is stored: the same events at the same positions.
        expect(yield* store.loadEvents(id)).toEqual(results[i]!.events)
      }
      const byType = yield* store.loadEventsByType(account.type)
      expect(byType).toHaveLength(100)
      expectStrictlyIncreasing(byType.map((event) => event.position))
    })
  )

  test(
    "of concurrent appends, one reusing a stored event id is refused and the others land",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const taken = yield* store.append(account.type, unique("account"), [deposit(1)])
      const reused = taken.events[0]!.eventId
      const ids = Array.from({ length: 20 }, () => unique("account"))
      const results = yield* Effect.all(
        ids.map((id, i) =>
          store.append(account.type, id, [i === 7 ? deposit(i, { eventId: reused }) : deposit(i), deposit(100 + i)])
        ),
        { concurrency: "unbounded", mode: "either" }
      )
      for (const [i, result] of results.entries()) {
        if (i === 7) {
          expect(Either.isLeft(result) && result.left._tag).toBe("EventStoreError")
          expect(yield* store.getAggregateVersion(ids[i]!)).toEqual(Option.none())
        } else {
          expect(Either.isRight(result)).toBe(true)
          expect(yield* store.loadEvents(ids[i]!)).toEqual(Either.getOrThrow(result).events)
        }
      }
    })
  )

  test(
    "concurrent loads, saves and reads see consistent aggregates",
    (store) => Effect.gen(function*() {
      const account = makeAccount()
      const roots = yield* Effect.all(Array.from({ length: 10 }, () => openAccount(account)), {
        concurrency: "unbounded"
      })
      const depositFiveTimes = (id: string) =>
        Effect.forEach([1, 2, 3, 4, 5], (amount) =>
          store.loadOrFail(account, id).pipe(
            Effect.flatMap((root) => store.save(Aggregate.apply(root, new Deposited({ amount })))),
            Effect.zipLeft(store.loadEvents(id))
          ), { discard: true })
      yield* Effect.all(roots.map((root) => depositFiveTimes(root.id)), { concurrency: "unbounded", discard: true })

      for (const root of roots) {
        const loaded = Option.getOrThrow(yield* store.load(account, root.id))
        expect(loaded.version).toBe(6)
        expect(loaded.state.movements).toEqual([1, 2, 3, 4, 5])
      }
    })
  )

  test(
    "readers tailing by position never skip an event committed concurrently",
    (store) => Effect.gen(function*() {
      const aggregateType = unique("Account")
      const writers = yield* Effect.fork(
        Effect.all(
          Array.from({ length: FIBERS }, () =>
            Effect.forEach([1, 2, 3, 4, 5], (amount) =>
              store.append(aggregateType, unique("account"), [deposit(amount)]))),
          { concurrency: "unbounded" }
        )
      )

      /** Reads what follows the last position seen, again and again, until the writers are done. */
      const tail = (readAfter: (fromPosition: bigint) => Effect.Effect<ReadonlyArray<Event.EventEnvelope>, unknown>) =>
        Effect.gen(function*() {
          const seen: Array<Event.EventEnvelope> = []
          let writersDone = false
          while (!writersDone) {
            // Polled before reading, so the last read starts after every write committed.
            writersDone = Option.isSome(yield* Fiber.poll(writers))
            const batch = yield* readAfter(seen.length === 0 ? 0n : seen[seen.length - 1]!.position)
            seen.push(...batch)
            yield* Effect.yieldNow()
          }
          return seen
        })

      const readers = yield* Effect.all([
        tail((fromPosition) => store.loadEventsByType(aggregateType, fromPosition)),
        tail((fromPosition) => collect(store.streamEventsByType(aggregateType, { fromPosition, batchSize: 7 })))
      ], { concurrency: "unbounded" })

      const written = new Set((yield* Fiber.join(writers)).flat().flatMap((result) => idsOf(result.events)))
      for (const seen of readers) {
        expect(seen).toHaveLength(FIBERS * 5)
        expect(new Set(idsOf(seen))).toEqual(written)
        expectStrictlyIncreasing(seen.map((event) => event.position))
      }
    })
  )
}
