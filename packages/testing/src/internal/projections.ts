/** Projections: catch-up and follow, resume from the stored checkpoint, filters, rebuild, failures, several instances. */
import { expect } from "@effect/vitest"
import { EventStore, Projection } from "@eventuali/core"
import { Cause, Effect, Exit, Ref, Schedule, Scope } from "effect"
import { appendEach, type Test, unique } from "./fixtures.js"

/** A projection that records the ids of the events it handles. */
const recording = (name: string, aggregateType: string, seen: Ref.Ref<ReadonlyArray<string>>, extra: Partial<Projection.Projection> = {}) =>
  Projection.make({
    name,
    aggregateTypes: [aggregateType],
    batchSize: 2,
    handle: (event) => Ref.update(seen, (ids) => [...ids, event.eventId]),
    reset: Ref.set(seen, []),
    ...extra
  })

export const projections = (test: Test): void => {
  test("processes every stored matching event once and in order, then follows new ones", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const stored = yield* appendEach(type, [1, 2, 3])
      yield* appendEach(unique("Other"), [9])
      const running = yield* Projection.run(recording(unique("projection"), type, seen))
      yield* running.whenCaughtUp
      expect(yield* Ref.get(seen)).toEqual(stored)
      const live = yield* appendEach(type, [4, 5, 6])
      yield* running.whenCaughtUp
      expect(yield* Ref.get(seen)).toEqual([...stored, ...live])
    }).pipe(Effect.scoped))

  test("a restarted projection resumes after its stored checkpoint", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const name = unique("projection")
      const first = yield* Ref.make<ReadonlyArray<string>>([])
      const before = yield* appendEach(type, [1, 2, 3])
      yield* Effect.scoped(Effect.flatMap(Projection.run(recording(name, type, first)), (running) => running.whenCaughtUp))
      expect(yield* Ref.get(first)).toEqual(before)
      const after = yield* appendEach(type, [4, 5])
      const second = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.scoped(Effect.flatMap(Projection.run(recording(name, type, second)), (running) => running.whenCaughtUp))
      expect(yield* Ref.get(second)).toEqual(after)
    }))

  test("event type filters deliver only matching events, and the checkpoint moves past the others", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const withdrawn = yield* appendEach(type, [1], "Withdrawn")
      yield* appendEach(type, [2, 3], "Deposited")
      const running = yield* Projection.run(recording(unique("projection"), type, seen, { eventTypes: ["Withdrawn"] }))
      yield* running.whenCaughtUp
      expect(yield* Ref.get(seen)).toEqual(withdrawn)
      yield* appendEach(type, [4, 5, 6], "Deposited")
      const head = yield* (yield* EventStore.EventStore).currentCheckpoint
      yield* running.whenCaughtUp // returns although nothing after the last Withdrawn matches
      expect(yield* Ref.get(seen)).toEqual(withdrawn)
      expect((yield* running.position) >= BigInt(head)).toBe(true)
    }).pipe(Effect.scoped))

  test("rebuild resets the read model and replays every event once", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const ids = yield* appendEach(type, [1, 2, 3])
      const running = yield* Projection.run(recording(unique("projection"), type, seen))
      yield* running.whenCaughtUp
      yield* running.rebuild
      yield* running.whenCaughtUp
      expect(yield* Ref.get(seen)).toEqual(ids)
      const more = yield* appendEach(type, [4])
      yield* running.whenCaughtUp
      expect(yield* Ref.get(seen)).toEqual([...ids, ...more])
    }).pipe(Effect.scoped))

  test("a failing handler stops the projection, whenCaughtUp fails with its error, and a fixed handler resumes at the failed batch", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const name = unique("projection")
      const ids = yield* appendEach(type, [1, 2, 3, 4])
      const poisoned = ids[2]!
      const failing = Projection.make({
        name,
        aggregateTypes: [type],
        batchSize: 2,
        retry: Schedule.stop,
        handle: (event) => event.eventId === poisoned ? Effect.fail(`cannot handle ${event.eventId}`) : Effect.void
      })
      const exit = yield* Effect.scoped(Effect.flatMap(Projection.run(failing), (running) => running.whenCaughtUp)).pipe(Effect.exit)
      expect(exit).toEqual(Exit.fail(`cannot handle ${poisoned}`))
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      yield* Effect.scoped(Effect.flatMap(Projection.run(recording(name, type, seen)), (running) => running.whenCaughtUp))
      expect(yield* Ref.get(seen)).toEqual(ids.slice(2))
    }))

  test("a handler that dies stops the projection and whenCaughtUp fails with the defect instead of waiting forever", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      yield* appendEach(type, [1])
      const exit = yield* Effect.scoped(Effect.flatMap(
        Projection.run(Projection.make({
          name: unique("projection"),
          aggregateTypes: [type],
          retry: Schedule.stop,
          handle: () => Effect.dieMessage("handler bug")
        })),
        (running) => running.whenCaughtUp
      )).pipe(Effect.exit)
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
    }))

  test("two instances of one projection never handle the same event", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const name = unique("projection")
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const ids = yield* appendEach(type, Array.from({ length: 12 }, (_, i) => i + 1))
      const scope = yield* Effect.scope
      const [a, b] = yield* Effect.all([
        Projection.run(recording(name, type, seen)).pipe(Scope.extend(scope)),
        Projection.run(recording(name, type, seen)).pipe(Scope.extend(scope))
      ], { concurrency: "unbounded" })
      const more = yield* appendEach(type, [13, 14, 15])
      yield* Effect.all([a.whenCaughtUp, b.whenCaughtUp], { concurrency: "unbounded" })
      const handled = yield* Ref.get(seen)
      expect([...handled].sort()).toEqual([...ids, ...more].sort())
    }).pipe(Effect.scoped))
}
