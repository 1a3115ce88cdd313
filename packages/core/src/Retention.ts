/**
 * Retention policies enforced in the background: `Retention.run(policies)` forks a fiber, for as
 * long as its scope lives, that applies every policy (`EventStore.applyRetention`) on a schedule.
 * Each pass removes old events in bounded batches, one short statement each, so writers never
 * wait on it for long; what it removed is logged and counted in `Metrics.eventsRemoved`.
 *
 * @since 0.2.0
 */
import { Effect, Schedule, type Scope } from "effect"
import type { DatabaseError, EventStoreError, SerializationError } from "./Errors.js"
import { EventStore, type RetentionOptions, type RetentionPolicy, type RetentionReport } from "./EventStore.js"
import { validPolicy } from "./internal/eventStore/lifecycle.js"
import * as Validate from "./internal/validate.js"

/**
 * How and when {@link run} applies its policies.
 *
 * @since 0.2.0
 * @category models
 */
export interface RunOptions extends RetentionOptions {
  /** When to run a pass after the first, which runs at once. Default: every hour. */
  readonly schedule?: Schedule.Schedule<unknown> | undefined
}

/**
 * One pass of every policy, in order: a report per policy.
 *
 * @since 0.2.0
 * @category running
 */
export const runOnce = (
  policies: ReadonlyArray<RetentionPolicy>,
  options: RetentionOptions = {}
): Effect.Effect<ReadonlyArray<RetentionReport>, EventStoreError | DatabaseError | SerializationError, EventStore> =>
  Effect.flatMap(EventStore, (store) => Effect.forEach(policies, (policy) => store.applyRetention(policy, options)))

/**
 * Checks the policies and the batch size (failing at once with `EventStoreError` on a bad one), then forks a fiber
 * in the current scope that runs {@link runOnce} now and then on `options.schedule`. A pass that
 * fails (the database is away) is logged and the next one runs on schedule; closing the scope
 * interrupts it between two statements, and the next run carries on where it stopped: removals
 * only ever take the oldest events of a stream, so nothing is removed twice.
 *
 * @since 0.2.0
 * @category running
 */
export const run = (
  policies: ReadonlyArray<RetentionPolicy>,
  options: RunOptions = {}
): Effect.Effect<void, EventStoreError, EventStore | Scope.Scope> =>
  Effect.gen(function*() {
    for (const policy of policies) yield* validPolicy(policy)
    if (options.batchSize !== undefined) yield* Validate.positiveInt("retention batch size", options.batchSize)
    const pass = runOnce(policies, options).pipe(
      Effect.tap((reports) =>
        Effect.forEach(reports, (report) =>
          report.removedEvents === 0 ? Effect.void : Effect.logInfo("Retention pass").pipe(
            Effect.annotateLogs({
              "eventuali.aggregate.type": report.aggregateType,
              "eventuali.retention.streams": report.streams,
              "eventuali.retention.removed": report.removedEvents
            })
          ), { discard: true })
      ),
      Effect.catchAll((error) => Effect.logWarning("Retention pass failed; the next one runs on schedule", error)),
      Effect.withSpan("Retention.pass")
    )
    yield* Effect.forkScoped(Effect.repeat(pass, options.schedule ?? Schedule.spaced("1 hour")))
  })
