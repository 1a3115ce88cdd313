/**
 * Command handling for deciders: load the aggregate, decide, save with optimistic concurrency,
 * and when another writer got there first, load again and decide again on the fresh state. What
 * the original Eventuali (the reference API, docs/api/commands.md) left to a hand-written
 * `safe_save_with_retry` loop.
 *
 * - A domain error (what `decide` fails with) is returned as is, typed, and never retried: the
 *   command was refused, trying again would not change that.
 * - An `OptimisticConcurrencyError` is retried along a `Schedule` (by default a few jittered
 *   exponential retries); when the schedule gives up, the last one is returned.
 * - The events saved carry the correlation, causation, user and headers of the current
 *   {@link Causation} context, overridden by `options.metadata`.
 *
 * @example
 * ```ts
 * import { Effect, Schedule } from "effect"
 * import { CommandHandler } from "eventuali"
 *
 * // const { root, events } = yield* CommandHandler.handle(Account, "acc-1", new Withdraw({ amount: 30 }))
 * // with a schedule of your own:
 * // CommandHandler.handle(Account, "acc-1", command, { retry: Schedule.recurs(10) })
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Either, Option, Schedule } from "effect"
import * as Aggregate from "./Aggregate.js"
import * as Causation from "./Causation.js"
import type { OptimisticConcurrencyError, StreamTruncatedError } from "./Errors.js"
import * as Event from "./Event.js"
import { EventStore, type ReadError, type WriteError } from "./EventStore.js"
import * as ReadPreference from "./ReadPreference.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface HandleOptions {
  /**
   * When to try again after an `OptimisticConcurrencyError` (each try loads and decides again).
   * Default: {@link defaultRetry}. `Schedule.stop` never retries.
   */
  readonly retry?: Schedule.Schedule<unknown, OptimisticConcurrencyError> | undefined
  /** Metadata for the saved events, merged over the {@link Causation} context. */
  readonly metadata?: Event.EventMetadataInput | undefined
}

/**
 * What a handled command did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Result<State, Event extends { readonly _tag: string }> {
  /** The aggregate as committed, with the new events applied (as loaded when none were). */
  readonly root: Aggregate.Root<State, Event>
  /** The events `decide` returned and the store appended, in order (empty: nothing saved). */
  readonly events: ReadonlyArray<Event>
}

/**
 * Everything handling a command may fail with: the decider's domain errors, or the store's.
 *
 * @since 0.1.0
 * @category models
 */
export type HandleError<DomainError> = DomainError | WriteError | ReadError | StreamTruncatedError

/**
 * Five retries, exponential from 10 ms with jitter (about 10, 20, 40, 80, 160 ms), so that
 * writers that collided do not collide again in lockstep.
 *
 * @since 0.1.0
 * @category schedules
 */
export const defaultRetry: Schedule.Schedule<unknown> = Schedule.jittered(Schedule.exponential("10 millis")).pipe(
  Schedule.intersect(Schedule.recurs(5)),
  Schedule.asVoid
)

/**
 * Handles `command` for the aggregate `aggregateId`: loads it (the initial state if it has no
 * events), runs `decide` on its state and saves the events decided, expecting the version it
 * loaded. Deciding no events saves nothing. On a conflict it loads and decides again, as
 * `options.retry` allows.
 *
 * @since 0.1.0
 * @category handling
 */
export const handle = <State, Ev extends { readonly _tag: string }, Command, DomainError>(
  decider: Aggregate.Decider<State, Ev, Command, DomainError>,
  aggregateId: string,
  command: Command,
  options?: HandleOptions
): Effect.Effect<Result<State, Ev>, HandleError<DomainError>, EventStore> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const metadata = Event.metadata(yield* Causation.current, options?.metadata)

    /** One try. A refusal is a success here (Left), so that only conflicts reach the retry. */
    const attempt = Effect.gen(function*() {
      const loaded = yield* store.load(decider, aggregateId)
      const current = Option.getOrElse(loaded, () => Aggregate.empty(decider, aggregateId))
      const decision = yield* Effect.either(decider.decide(command, current.state))
      if (Either.isLeft(decision)) return Either.left(decision.left)
      const events = decision.right
      if (events.length === 0) return Either.right({ root: current, events })
      const root = yield* store.save(Aggregate.applyAll(current, events), metadata)
      return Either.right({ root, events })
    })

    const result = yield* attempt.pipe(
      Effect.catchAll((error) =>
        error._tag === "OptimisticConcurrencyError"
          ? Effect.zipRight(
            Effect.logDebug(`${decider.type} ${aggregateId}: conflict at version ${error.actualVersion}, deciding again`),
            Effect.fail(error)
          )
          : Effect.succeed(Either.left(error))
      ),
      Effect.retry(options?.retry ?? defaultRetry),
      // The decision is checked against the primary's version when it is saved: load from there
      // too, or a replica's lag would turn into conflicts (see ReadPreference).
      ReadPreference.primary
    )
    return yield* result
  }).pipe(
    Effect.withSpan("CommandHandler.handle", {
      attributes: { "eventuali.aggregate.type": decider.type, "eventuali.aggregate.id": aggregateId }
    })
  )

/**
 * A handler for one decider, with its options set once: `make(Account)(id, command)` is
 * `handle(Account, id, command)`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <State, Ev extends { readonly _tag: string }, Command, DomainError>(
  decider: Aggregate.Decider<State, Ev, Command, DomainError>,
  options?: HandleOptions
) =>
(aggregateId: string, command: Command): Effect.Effect<Result<State, Ev>, HandleError<DomainError>, EventStore> =>
  handle(decider, aggregateId, command, options)
