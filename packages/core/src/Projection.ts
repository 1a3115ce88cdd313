/**
 * Projections: a handler folded over the log into a read model, resuming from a checkpoint kept
 * in the event store's database.
 *
 * On the SQL stores each batch runs in one transaction with its checkpoint: when the handler
 * writes its read model through the same database (the `SqlClient` the store layer provides),
 * every event is applied exactly once, also across a crash. Other side effects are at least
 * once: use the event's `eventId` as an idempotency key. Instances of the same projection in
 * several processes take turns batch by batch (each batch holds the projection's lock and
 * re-reads the checkpoint), so no event is processed by two of them.
 *
 * @since 0.1.0
 */
import { Deferred, Duration, Effect, Option, Queue, Ref, Schedule, type Scope, Stream, SubscriptionRef } from "effect"
import * as Checkpoint from "./Checkpoint.js"
import type { DatabaseError } from "./Errors.js"
import { EventStore, type ReadError, type SubscriptionEvent } from "./EventStore.js"
import * as Observability from "./internal/observability.js"
import { ProjectionStore } from "./ProjectionStore.js"

/**
 * An event as a projection's handler receives it.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProjectionEvent<A = unknown> extends SubscriptionEvent<A> {
  /**
   * Whether the event is replayed rather than live: true while a version of the projection that
   * is not (yet) the active one builds its read model from the log, false once it serves (and
   * always for a projection without a `version`, and for inline projections). Side effects that
   * must happen once, such as e-mails, are skipped when it is true.
   */
  readonly replaying: boolean
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Projection<E = never, R = never> {
  /** Identifies the projection's checkpoint: keep it stable. */
  readonly name: string
  /** Only events of these aggregate types (filtered in the database). */
  readonly aggregateTypes?: ReadonlyArray<string> | undefined
  /** Only events of these event types (filtered in the database). */
  readonly eventTypes?: ReadonlyArray<string> | undefined
  /** Applies one event to the read model. */
  readonly handle: (event: ProjectionEvent) => Effect.Effect<void, E, R>
  /** Clears the read model; `rebuild` runs it with the checkpoint reset, atomically. */
  readonly reset?: Effect.Effect<void, E, R> | undefined
  /** Events per batch (and per transaction). Default 100. */
  readonly batchSize?: number | undefined
  /**
   * How a failing batch is retried (it is rolled back each time) before the projection stops.
   * Default: 5 retries, exponential from 100 ms.
   */
  readonly retry?: Schedule.Schedule<unknown, E | ReadError | DatabaseError> | undefined
}

/**
 * Defines a projection (the identity, typed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E = never, R = never>(projection: Projection<E, R>): Projection<E, R> => projection

/**
 * A projection running in the background of a scope.
 *
 * @since 0.1.0
 * @category models
 */
export interface Running<E> {
  readonly name: string
  /** Waits until every event committed before the call has been processed. */
  readonly whenCaughtUp: Effect.Effect<void, E | ReadError | DatabaseError>
  /** Runs `reset` and sets the checkpoint back to the beginning (atomically); the projection replays. */
  readonly rebuild: Effect.Effect<void, E | ReadError | DatabaseError>
  /** The position processed so far by this process (-1 before the first batch). */
  readonly position: Effect.Effect<bigint>
  /** Fails when the projection stops on an error (after its retries); never succeeds. */
  readonly await: Effect.Effect<never, E | ReadError | DatabaseError>
}

const DEFAULT_BATCH_SIZE = 100
const defaultRetry = Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(5)))

/**
 * Starts a projection in the current scope: it catches up from its checkpoint, then follows new
 * events until the scope closes.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <E, R>(
  projection: Projection<E, R>
): Effect.Effect<Running<E>, never, EventStore | ProjectionStore | R | Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const checkpoints = yield* ProjectionStore
    const batchSize = projection.batchSize ?? DEFAULT_BATCH_SIZE
    const filters = { aggregateTypes: projection.aggregateTypes, eventTypes: projection.eventTypes }
    const progress = yield* SubscriptionRef.make(-1n)
    /** Bumped by `rebuild`, so a batch that committed before it cannot report stale progress. */
    const epoch = yield* Ref.make(0)
    const poke = yield* Queue.sliding<void>(1)
    const stopped = yield* Deferred.make<never, E | ReadError | DatabaseError>()
    const context = yield* Effect.context<R>()

    /** One batch in one transaction with the checkpoint; succeeds with how many events it read. */
    const batch = checkpoints.withCheckpoint(projection.name, (from) =>
      Effect.gen(function*() {
        const startedIn = yield* Ref.get(epoch)
        const head = yield* Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition)
        const events = yield* store.readEvents({ ...filters, fromPosition: from, limit: batchSize })
        for (const event of events) {
          yield* projection.handle({ ...event, checkpoint: Checkpoint.fromPosition(event.position), replaying: false })
        }
        const last = events.length > 0 ? events[events.length - 1]!.position : from
        // A short page means every matching event up to the head was read: the rest was skipped
        // by the filters, and the checkpoint may move past it.
        const reached = events.length < batchSize && head > last ? head : last
        yield* Observability.annotate({ "eventuali.position.from": from, "eventuali.event.count": events.length, "eventuali.position": reached })
        return [{ read: events.length, reached, startedIn }, reached > from ? Option.some(reached) : Option.none()] as const
      })).pipe(Observability.span("Projection.batch", { "eventuali.projection": projection.name }))

    const waitForMore = (position: bigint) =>
      Effect.raceFirst(
        Stream.runDrain(store.subscribe({ ...filters, from: Checkpoint.fromPosition(position), batchSize: 1 }).pipe(Stream.take(1))),
        Queue.take(poke)
      )

    const retry = projection.retry ?? defaultRetry
    const loop = Effect.gen(function*() {
      while (true) {
        const { read, reached, startedIn } = yield* Effect.retry(batch, retry)
        if ((yield* Ref.get(epoch)) === startedIn) yield* SubscriptionRef.set(progress, reached)
        // Waiting reads the database too (a server restart fails it): it retries like a batch.
        if (read < batchSize) yield* Effect.retry(waitForMore(reached), retry)
      }
    })

    yield* loop.pipe(
      // Failures and defects alike stop the projection and are reported to its waiters.
      Effect.catchAllCause((cause) => Deferred.failCause(stopped, cause)),
      Effect.withSpan("Projection.run", { attributes: { "eventuali.projection": projection.name } }),
      Effect.forkScoped
    )

    const whenCaughtUp = Effect.gen(function*() {
      const target = yield* Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition)
      yield* Queue.offer(poke, undefined)
      yield* Effect.raceFirst(
        Stream.runDrain(progress.changes.pipe(Stream.filter((position) => position >= target), Stream.take(1))),
        Deferred.await(stopped)
      )
    })

    const rebuild = Effect.gen(function*() {
      yield* checkpoints.withCheckpoint(projection.name, () =>
        Effect.as(
          Effect.zipRight(Ref.update(epoch, (n) => n + 1), projection.reset ?? Effect.void),
          [undefined, Option.some(0n)] as const
        ))
      yield* SubscriptionRef.set(progress, 0n)
      yield* Queue.offer(poke, undefined)
    }).pipe(Effect.provide(context))

    return {
      name: projection.name,
      whenCaughtUp,
      rebuild,
      position: SubscriptionRef.get(progress),
      await: Deferred.await(stopped)
    }
  })
