/**
 * Writers that keep saving through a server restart, for the tests that stop and start
 * PostgreSQL under load (`Failures.test.ts`, `FaultInjection.test.ts`): each saves its own
 * counter, one event per save, with fixed event ids, and retries a failed save until it is
 * acknowledged, so a save whose commit succeeded but whose answer was lost is an idempotent retry.
 */
import { expect } from "@effect/vitest"
import { Aggregate, type EventStore } from "@eventuali/core"
import { type Cause, Duration, Effect, Exit, Fiber, Ref, Schedule, Schema, type Scope } from "effect"

export class Ticked extends Schema.TaggedClass<Ticked>()("Ticked", { n: Schema.Number }) {}

export const Counter = Aggregate.make({
  type: "Counter",
  events: [Ticked],
  initialState: 0,
  evolve: (count: number) => count + 1
})

/** Fails with a plain Error (so a test expecting `DatabaseError` fails) instead of waiting longer. */
export const within = (duration: Duration.DurationInput, what: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  // `disconnect`: a timed-out effect that cannot be interrupted is left running, not waited for.
  Effect.disconnect(self).pipe(
    Effect.timeoutFail({ duration, onTimeout: () => new Error(`${what}: no answer within ${Duration.format(duration)}`) })
  )

/** Polls `condition` until it holds; dies after `duration`. */
export const waitUntil = <E, R>(condition: Effect.Effect<boolean, E, R>, duration: Duration.DurationInput, what: string) =>
  Effect.repeat(condition, { until: (holds) => holds, schedule: Schedule.spaced("20 millis") }).pipe(
    within(duration, `waiting for ${what}`),
    Effect.orDie,
    Effect.asVoid
  )

/** Writers started by {@link startWriters}. */
export interface Writers {
  /** How many saves the writers have acknowledged so far. */
  readonly total: Effect.Effect<number>
  /** The cause of every failed save attempt so far. */
  readonly failures: Effect.Effect<ReadonlyArray<Cause.Cause<unknown>>>
  /** Lets each writer finish its current save, then waits for them all. */
  readonly stop: Effect.Effect<void>
  /** The event ids each writer's saves were acknowledged with, in order (writer `w` at index `w`). */
  readonly acknowledged: Effect.Effect<ReadonlyArray<ReadonlyArray<string>>>
}

/**
 * Forks `count` writers, `writer-0` … on aggregates of the same names, each waiting `retryAfter`
 * after a failed save before trying it again.
 */
export const startWriters = (
  store: EventStore.Service,
  count: number,
  retryAfter: Duration.DurationInput
): Effect.Effect<Writers, never, Scope.Scope> =>
  Effect.gen(function*() {
    const acknowledged = yield* Ref.make<ReadonlyArray<ReadonlyArray<string>>>(Array.from({ length: count }, () => []))
    const failures = yield* Ref.make<ReadonlyArray<Cause.Cause<unknown>>>([])
    const stopping = yield* Ref.make(false)
    const writer = (w: number) =>
      Effect.gen(function*() {
        let counter = Aggregate.empty(Counter, `writer-${w}`)
        while (!(yield* Ref.get(stopping))) {
          const pending = Aggregate.apply(counter, new Ticked({ n: counter.version + 1 }))
          const eventIds = [crypto.randomUUID()]
          while (true) {
            const exit = yield* Effect.exit(store.save(pending, { eventIds }).pipe(within("10 seconds", "a save")))
            if (Exit.isSuccess(exit)) {
              counter = exit.value
              yield* Ref.update(acknowledged, (acks) => acks.map((ids, i) => i === w ? [...ids, eventIds[0]!] : ids))
              break
            }
            yield* Ref.update(failures, (causes) => [...causes, exit.cause])
            yield* Effect.sleep(retryAfter)
          }
        }
      })
    const running = yield* Effect.forkScoped(
      Effect.all(Array.from({ length: count }, (_, w) => writer(w)), { concurrency: "unbounded" })
    )
    return {
      total: Effect.map(Ref.get(acknowledged), (acks) => acks.reduce((sum, ids) => sum + ids.length, 0)),
      failures: Ref.get(failures),
      stop: Effect.zipRight(
        Ref.set(stopping, true),
        Fiber.join(running).pipe(within("30 seconds", "the writers to finish"), Effect.orDie)
      ),
      acknowledged: Ref.get(acknowledged)
    }
  })

/**
 * Checks that every acknowledged save is stored exactly once, in order per writer, and nothing
 * else; returns the event ids of the whole log of counters, in log order.
 */
export const expectAcknowledgedStoredOnce = (store: EventStore.Service, acknowledged: ReadonlyArray<ReadonlyArray<string>>) =>
  Effect.gen(function*() {
    for (let w = 0; w < acknowledged.length; w++) {
      const events = yield* store.loadEvents(`writer-${w}`)
      expect(events.map((e) => e.eventId)).toEqual(acknowledged[w])
      expect(events.map((e) => e.aggregateVersion)).toEqual(acknowledged[w]!.map((_, i) => i + 1))
    }
    const log = (yield* store.loadEventsByType(Counter.type)).map((event) => event.eventId)
    expect(log.length).toBe(acknowledged.reduce((sum, ids) => sum + ids.length, 0))
    return log
  })
