/** Projections in production: partitions shared by instances, parked events, status, verify, and their bad input. */
import { expect } from "@effect/vitest"
import { EventStore, Projection, ProjectionStore } from "@eventuali/core"
import { Duration, Effect, Either, Exit, Option, Ref, Schedule, Scope } from "effect"
import { appendEach, type Test, unique } from "./fixtures.js"

const lease = Duration.millis(600)

/** Appends `count` events spread over `aggregates` aggregates of `type`, each with its aggregate-local sequence number. */
const appendSpread = (type: string, aggregates: number, count: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const ids = Array.from({ length: aggregates }, () => unique("account"))
    for (let i = 0; i < count; i++) {
      yield* store.append(type, ids[i % aggregates]!, [{ eventType: "Deposited", data: { sequence: Math.floor(i / aggregates) } }])
    }
  })

const sequenceOf = (data: unknown): number =>
  typeof data === "object" && data !== null && "sequence" in data && typeof data.sequence === "number" ? data.sequence : -1

/** Waits (polling, on the real clock) until `condition` holds. */
const eventually = <E, R>(condition: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function*() {
    for (let round = 0; round < 300; round++) {
      if (yield* condition) return
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
    }
    expect.fail("condition not reached within 6 s")
  })

const heldBy = (status: Projection.Status) => status.partitionStatus.map((partition) => partition.holder)

export const projectionOperations = (test: Test): void => {
  test("partitions: three instances share eight partitions, each event is handled once and in order per aggregate, a stopped instance's partitions are taken over", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const name = unique("partitioned")
      const handled = yield* Ref.make<ReadonlyArray<{ readonly eventId: string; readonly aggregateId: string; readonly sequence: number }>>([])
      const projection = Projection.make({
        name,
        aggregateTypes: [type],
        partitions: 8,
        batchSize: 10,
        leaseDuration: lease,
        handle: (event) => Ref.update(handled, (all) => [...all, { eventId: event.eventId, aggregateId: event.aggregateId, sequence: sequenceOf(event.data) }])
      })
      const scopes = yield* Effect.all([Scope.make(), Scope.make(), Scope.make()])
      const instances = yield* Effect.forEach(scopes, (scope) => Projection.run(projection).pipe(Scope.extend(scope)))
      yield* appendSpread(type, 20, 120)
      yield* Effect.forEach(instances, (instance) => instance.whenCaughtUp, { discard: true })
      // Every instance takes its share (8 over 3: at most 3 each), and every partition is held once.
      yield* eventually(Effect.map(Effect.forEach(instances, (instance) => instance.status), (statuses) =>
        statuses.every((status) => status.held.length >= 2 && status.held.length <= 3) &&
        statuses.reduce((sum, status) => sum + status.held.length, 0) === 8))
      const statuses = yield* Effect.forEach(instances, (instance) => instance.status)
      expect(new Set(statuses.flatMap((status) => status.held)).size).toBe(8)
      for (const status of statuses) for (const partition of status.held) expect(heldBy(status)[partition]).toBe(status.instance)
      // Outside a SQL transaction a batch cut short is handled again (at least once): the first
      // time each event was handled is what must be complete and in order per aggregate. The SQL
      // stores' exactly-once into a read model is tested with each driver.
      const firstTimes = (all: ReadonlyArray<{ readonly eventId: string; readonly aggregateId: string; readonly sequence: number }>) => {
        const seen = new Set<string>()
        return all.filter((event) => !seen.has(event.eventId) && seen.add(event.eventId) !== undefined)
      }
      const all = firstTimes(yield* Ref.get(handled))
      expect(all.length).toBe(120)
      const byAggregate = new Map<string, Array<number>>()
      for (const event of all) byAggregate.set(event.aggregateId, [...(byAggregate.get(event.aggregateId) ?? []), event.sequence])
      for (const sequences of byAggregate.values()) expect(sequences).toEqual(sequences.map((_, i) => i))
      // One instance stops: the two others take its partitions over, and handle what follows.
      yield* Scope.close(scopes[0]!, Exit.void)
      yield* eventually(Effect.map(instances[1]!.status, (status) => status.partitionStatus.every((partition) =>
        partition.holder === statuses[1]!.instance || partition.holder === statuses[2]!.instance)))
      yield* appendSpread(type, 20, 40)
      yield* Effect.forEach(instances.slice(1), (instance) => instance.whenCaughtUp, { discard: true })
      expect(firstTimes(yield* Ref.get(handled)).length).toBe(160)
      const verification = yield* Projection.verify(name)
      expect(verification.complete).toBe(true)
      expect(verification.partitions.reduce((sum, partition) => sum + partition.recorded, 0)).toBe(160)
      yield* Effect.forEach(scopes.slice(1), (scope) => Scope.close(scope, Exit.void), { discard: true })
    }))

  test("partitions: rebuild resets every partition and the read model at once, then replays each event once", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const ids = yield* appendEach(type, [1, 2, 3, 4, 5, 6])
      const running = yield* Projection.run(Projection.make({
        name: unique("partitioned"),
        aggregateTypes: [type],
        partitions: 3,
        leaseDuration: lease,
        handle: (event) => Ref.update(seen, (all) => [...all, event.eventId]),
        reset: Ref.set(seen, [])
      }))
      yield* running.whenCaughtUp
      yield* running.rebuild
      yield* running.whenCaughtUp
      expect([...(yield* Ref.get(seen))].sort()).toEqual([...ids].sort())
      expect((yield* running.verify).complete).toBe(true)
    }).pipe(Effect.scoped))

  test("park: an event the handler cannot apply is parked with its error and the projection goes on; a retry after the fix applies it once and removes it", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const fixed = yield* Ref.make(false)
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const [first] = yield* appendEach(type, [1])
      const [poison] = yield* appendEach(type, [2], "Poison")
      const [last] = yield* appendEach(type, [3])
      const running = yield* Projection.run(Projection.make({
        name: unique("parking"),
        aggregateTypes: [type],
        onFailure: "park",
        retry: Schedule.recurs(2),
        handle: (event) =>
          Effect.gen(function*() {
            if (event.eventType === "Poison" && !(yield* Ref.get(fixed))) {
              return yield* Effect.fail({ _tag: "PoisonError", message: `cannot apply ${event.eventId}` })
            }
            // Idempotent, as a handler must be outside a SQL transaction: the retried batches repeat the events before the poison one.
            yield* Ref.update(seen, (all) => all.includes(event.eventId) ? all : [...all, event.eventId])
          })
      }))
      yield* running.whenCaughtUp
      expect(yield* Ref.get(seen)).toEqual([first, last])
      const [parked, ...others] = yield* running.parked
      expect(others).toEqual([])
      expect(parked).toMatchObject({ eventId: poison, errorTag: "PoisonError", errorMessage: `cannot apply ${poison}`, attempts: 3, partition: 0 })
      expect((yield* running.status).parked).toBe(1)
      // Not fixed yet: the retry fails again and says so; the record counts the attempt.
      const [again] = yield* running.retryParked()
      expect(again).toMatchObject({ _tag: "Failed", eventId: poison })
      expect((yield* running.parked)[0]?.attempts).toBe(4)
      yield* Ref.set(fixed, true)
      expect(yield* running.retryParked({ position: parked!.position })).toEqual([{ _tag: "Applied", position: parked!.position, eventId: poison }])
      expect(yield* Ref.get(seen)).toEqual([first, last, poison])
      expect(yield* running.parked).toEqual([])
      expect(yield* running.retryParked()).toEqual([])
      const notParked = yield* Effect.either(running.retryParked({ position: parked!.position }))
      expect(Either.isLeft(notParked) && notParked.left._tag === "ProjectionError").toBe(true)
      expect((yield* running.verify).complete).toBe(true)
    }).pipe(Effect.scoped))

  test("park: a parked event can be discarded; discarding or retrying a position that is not parked is a ProjectionError and changes nothing", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      yield* appendEach(type, [1])
      yield* appendEach(type, [2], "Poison")
      const name = unique("parking")
      const running = yield* Projection.run(Projection.make({
        name,
        aggregateTypes: [type],
        onFailure: "park",
        retry: Schedule.stop,
        handle: (event) => event.eventType === "Poison" ? Effect.dieMessage("handler bug") : Effect.void
      }))
      yield* running.whenCaughtUp
      const [parked] = yield* running.parked
      expect(parked?.errorTag).toBe("Defect")
      const missing = yield* Effect.flip(Projection.discardParked(name, parked!.position + 1n))
      expect(missing._tag).toBe("ProjectionError")
      expect((yield* Effect.flip(Projection.requestRetry(name, { position: parked!.position + 1n })))._tag).toBe("ProjectionError")
      expect(yield* running.parked).toHaveLength(1)
      expect((yield* Projection.requestRetry(name)).map((event) => event.position)).toEqual([parked!.position])
      expect((yield* running.parked)[0]?.retryRequested).toBe(true)
      expect((yield* Projection.discardParked(name, parked!.position)).eventId).toBe(parked!.eventId)
      expect(yield* Projection.parked(name)).toEqual([])
      expect((yield* Effect.flip(running.discardParked(parked!.position)))._tag).toBe("ProjectionError")
    }).pipe(Effect.scoped))

  test("status: per partition the checkpoint, the holder, events handled and the lag in events and time", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const name = unique("status")
      yield* appendEach(type, [1, 2, 3, 4])
      const running = yield* Projection.run(Projection.make({
        name,
        aggregateTypes: [type],
        partitions: 2,
        leaseDuration: lease,
        handle: () => Effect.void
      }))
      yield* running.whenCaughtUp
      const status = yield* running.status
      expect(status).toMatchObject({ name, partitions: 2, aggregateTypes: [type], parked: 0, held: [0, 1], lagCapped: false })
      expect(status.partitionStatus.map((partition) => partition.holder)).toEqual([status.instance, status.instance])
      expect(status.partitionStatus.reduce((sum, partition) => sum + partition.handled, 0)).toBe(4)
      expect(status.partitionStatus.every((partition) => partition.lagEvents === 0 && partition.lagMillis === 0)).toBe(true)
      const byName = yield* Projection.status(name)
      expect(byName.partitionStatus.map((partition) => [partition.holder, partition.handled])).toEqual(
        status.partitionStatus.map((partition) => [partition.holder, partition.handled])
      )
    }).pipe(Effect.scoped))

  test("status: a projection that is not running shows its lag, and its partitions unheld", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const name = unique("status")
      yield* Effect.scoped(Effect.flatMap(
        Projection.run(Projection.make({ name, aggregateTypes: [type], partitions: 2, leaseDuration: lease, handle: () => Effect.void })),
        (running) => running.whenCaughtUp
      ))
      yield* appendEach(type, [1, 2, 3])
      const status = yield* Projection.status(name)
      expect(status.partitionStatus.map((partition) => partition.holder)).toEqual([undefined, undefined])
      expect(status.partitionStatus.reduce((sum, partition) => sum + partition.lagEvents, 0)).toBe(3)
      expect(status.partitionStatus.some((partition) => partition.lagMillis >= 0 && partition.lagEvents > 0)).toBe(true)
    }))

  test("verify: a checkpoint moved forward by hand names the positions skipped; moved back, the positions handled twice", () =>
    Effect.gen(function*() {
      const type = unique("Account")
      const store = yield* EventStore.EventStore
      const checkpoints = yield* ProjectionStore.ProjectionStore
      const runOnce = (name: string) =>
        Effect.scoped(Effect.flatMap(
          Projection.run(Projection.make({ name, aggregateTypes: [type], handle: () => Effect.void })),
          (running) => running.whenCaughtUp
        ))
      const positionsOf = (ids: ReadonlyArray<string>) =>
        Effect.map(store.readEvents({ aggregateTypes: [type], limit: 1000 }), (events) =>
          events.filter((event) => ids.includes(event.eventId)).map((event) => event.position))
      // Skipped: three events appended while the projection is stopped, then its checkpoint moved past them.
      const skipping = unique("verify")
      yield* appendEach(type, [1, 2])
      yield* runOnce(skipping)
      const skippedIds = yield* appendEach(type, [3, 4, 5])
      const skipped = yield* positionsOf(skippedIds)
      yield* checkpoints.withCheckpoint(skipping, () => Effect.succeed([undefined, Option.some(skipped[2]!)] as const))
      const gap = yield* Projection.verify(skipping)
      expect(gap.complete).toBe(false)
      expect(gap.partitions[0]).toMatchObject({ missing: skipped, missingCount: 3, doubled: [], expected: 5, recorded: 2 })
      // Doubled: the checkpoint set back before the last two events, and the projection run again.
      const doubling = unique("verify")
      yield* runOnce(doubling)
      const all = yield* positionsOf((yield* store.readEvents({ aggregateTypes: [type], limit: 1000 })).map((event) => event.eventId))
      yield* checkpoints.withCheckpoint(doubling, () => Effect.succeed([undefined, Option.some(all[all.length - 3]!)] as const))
      yield* runOnce(doubling)
      const twice = yield* Projection.verify(doubling)
      expect(twice.complete).toBe(false)
      expect(twice.partitions[0]).toMatchObject({ missing: [], doubled: all.slice(-2), doubledCount: 2 })
      // A projection left alone is complete.
      const untouched = unique("verify")
      yield* runOnce(untouched)
      expect((yield* Projection.verify(untouched)).complete).toBe(true)
    }))

  test("bad input: partitions of 0, -1, 1.5, NaN or beyond 1024, a name with '#', another partition count than stored: ProjectionError, nothing registered", () =>
    Effect.gen(function*() {
      const checkpoints = yield* ProjectionStore.ProjectionStore
      for (const partitions of [0, -1, 1.5, Number.NaN, 1025, 2 ** 40]) {
        const name = unique("bad")
        const error = yield* Effect.flip(Effect.scoped(Projection.run(Projection.make({ name, partitions, handle: () => Effect.void }))))
        expect(error._tag).toBe("ProjectionError")
        expect(error.message).toContain("partition count")
        expect((yield* checkpoints.projections).map((info) => info.name)).not.toContain(name)
      }
      for (const name of ["", "a#1", "x\u0000y", "totals@v2", "totals@v2.g1"]) {
        const error = yield* Effect.flip(Effect.scoped(Projection.run(Projection.make({ name, handle: () => Effect.void }))))
        expect(error._tag).toBe("ProjectionError")
      }
      // Options the run loop cannot use: a lease or status interval that is not a positive
      // duration (0 made the status loop spin), an onFailure that is neither "stop" nor "park".
      const options: ReadonlyArray<readonly [Partial<Projection.Projection<never, never>>, RegExp]> = [
        [{ leaseDuration: 0 }, /leaseDuration must be a positive duration, got 0/],
        [{ leaseDuration: -1 }, /leaseDuration must be a positive duration, got -1/],
        [{ statusInterval: 0 }, /statusInterval must be a positive duration, got 0/],
        [{ statusInterval: "forever" as Duration.DurationInput }, /statusInterval must be a positive duration, got forever/],
        [{ onFailure: "ignore" as "stop" }, /onFailure must be "stop" or "park", got "ignore"/],
        [{ aggregateTypes: [""] }, /aggregate type must not be empty/],
        [{ eventTypes: "Deposited" as unknown as Array<string> }, /event type filter must be an array/]
      ]
      for (const [option, message] of options) {
        const name = unique("bad")
        const error = yield* Effect.flip(Effect.scoped(Projection.run(Projection.make({ name, handle: () => Effect.void, ...option }))))
        expect(error._tag).toBe("ProjectionError")
        expect(error.message).toMatch(message)
        expect((yield* checkpoints.projections).map((info) => info.name)).not.toContain(name)
      }
      const name = unique("fixed")
      yield* Effect.scoped(Projection.run(Projection.make({ name, partitions: 2, leaseDuration: lease, handle: () => Effect.void })))
      const changed = yield* Effect.flip(Effect.scoped(Projection.run(Projection.make({ name, partitions: 3, handle: () => Effect.void }))))
      expect(changed._tag).toBe("ProjectionError")
      expect(changed.message).toContain("has 2 partition(s)")
      expect((yield* checkpoints.projections).find((info) => info.name === name)?.partitions).toBe(2)
      const unknown = unique("unknown")
      expect((yield* Effect.flip(Projection.verify(unknown)))._tag).toBe("ProjectionError")
      expect((yield* Effect.flip(Projection.status(unknown)))._tag).toBe("ProjectionError")
      expect((yield* Effect.flip(Projection.parked(unknown)))._tag).toBe("ProjectionError")
    }))
}
