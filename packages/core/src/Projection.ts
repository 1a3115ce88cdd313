/**
 * Projections: a handler folded over the log into a read model, resuming from checkpoints kept
 * in the event store's database.
 *
 * On the SQL stores each batch runs in one transaction with its checkpoint: when the handler
 * writes its read model through the same database (the `SqlClient` the store layer provides),
 * every event is applied exactly once, also across a crash. Other side effects are at least
 * once: use the event's `eventId` as an idempotency key.
 *
 * **Partitions.** With `partitions: N` the events are split by a stable hash of the aggregate id
 * (FNV-1a over the id, modulo N), each partition with its own checkpoint, so one aggregate's
 * events are always handled in order by one consumer while the partitions run in parallel.
 * Instances (fibers, or processes against the same database) share the partitions through a
 * lease table: each instance renews its presence and its leases every third of
 * `leaseDuration`, gives up what exceeds its fair share (N divided by the live instances, rounded
 * up) and takes free partitions up to it. So a joining instance gets its share within two
 * heartbeats, a stopping instance hands its partitions over at once, and a crashed one's are
 * taken over when its leases expire (within `leaseDuration` plus one heartbeat).
 *
 * Why leases and not PostgreSQL's session advisory locks: a lock held by a session needs a
 * dedicated connection per instance for as long as it runs, outside the pool (a pooled
 * connection may be handed to another fiber, or re-opened by the driver, which would silently
 * drop the lock); it exists on PostgreSQL only, and it cannot say "give this partition to the
 * newcomer". A lease row is the same on SQLite (several processes on one file) and PostgreSQL
 * and its expiry is read from the database's clock only. Leases only spread the work: exactly
 * once does not depend on them. Every batch's transaction takes the partition's checkpoint lock
 * as it begins (PostgreSQL: a transaction-level advisory lock; SQLite: the write lock) and checks
 * that the checkpoint has not moved since the batch read it, so an instance paused past its
 * lease's expiry that wakes up mid-batch is serialised with the new holder, rolled back, and
 * cannot apply an event twice.
 *
 * **Lazy transactions.** That transaction begins at the handler's first statement (or at the
 * commit), not with the batch: a handler that waits on another service holds no connection
 * meanwhile, so partitions overlap their waits even on SQLite's one connection.
 *
 * Partitions filter in the process: every partition reads the (type-filtered) log and keeps
 * the events whose aggregate hashes to it. That costs N reads of each event, which is small
 * beside applying it, and keeps the storage contract and its indexes unchanged.
 *
 * **Parking.** With `onFailure: "park"`, an event whose handler still fails after the retry
 * schedule is stored in the parked table with its error, in the transaction that moves the
 * checkpoint past it, and the projection goes on. `retryParked` applies it later (once, in its
 * own transaction with the read model) and removes it; `discardParked` drops it.
 *
 * **Completeness.** Each batch records, with its checkpoint, how many events it handled and the
 * sum of a 64-bit hash of their ids over the range of positions it covered (consecutive batches
 * extend one range). `verify` recomputes the same over the log and names the positions no range
 * covers (missing: e.g. a checkpoint moved forward by hand), the positions two ranges cover
 * (handled twice: a checkpoint moved back), and the ranges whose count or digest differs.
 *
 * @since 0.1.0
 */
import {
  Cause,
  Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  FiberMap,
  Metric,
  Option,
  Predicate,
  Queue,
  Ref,
  Schedule,
  type Scope,
  Stream,
  SubscriptionRef
} from "effect"
import * as Checkpoint from "./Checkpoint.js"
import { type DatabaseError, ProjectionError } from "./Errors.js"
import { EventStore, type ReadError, type SubscriptionEvent } from "./EventStore.js"
import * as Metrics from "./Metrics.js"
import { addDigests, eventIdHash, partitionOf } from "./internal/projection/hashing.js"
import * as Inspection from "./internal/projection/inspection.js"
import * as Observability from "./internal/observability.js"
import * as Generations from "./internal/projection/generations.js"
import * as ProjectionVersion from "./internal/projectionVersion.js"
import * as validate from "./internal/validate.js"
import * as ProjectionStore from "./ProjectionStore.js"

type ParkedEvent = ProjectionStore.ParkedEvent
type ProjectionInfo = ProjectionStore.ProjectionInfo
const ProjectionStoreTag = ProjectionStore.ProjectionStore

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
  /**
   * The build of the read model this event is applied to: the projection's version (1 without
   * one) and the rebuild generation (0 until the first rebuild without downtime). A projection
   * that can be rebuilt writes to the build's own tables (`VersionedTables.name(table, event.build)`).
   *
   * @since 0.2.0
   */
  readonly build: Build
}

/**
 * One copy of a projection's read model: a version and a rebuild generation of it.
 *
 * @since 0.2.0
 * @category models
 */
export type Build = ProjectionStore.Build

/**
 * @since 0.1.0
 * @category models
 */
export interface Projection<E = never, R = never> {
  /** Identifies the projection's checkpoints: keep it stable. Any name the store accepts, without `#`. */
  readonly name: string
  /** Only events of these aggregate types (filtered in the database). */
  readonly aggregateTypes?: ReadonlyArray<string> | undefined
  /** Only events of these event types (filtered in the database). */
  readonly eventTypes?: ReadonlyArray<string> | undefined
  /** Applies one event to the read model. */
  readonly handle: (event: ProjectionEvent) => Effect.Effect<void, E, R>
  /** Clears the read model; `rebuild` runs it with the checkpoints reset, atomically. */
  readonly reset?: Effect.Effect<void, E, R> | undefined
  /**
   * The version of the read model (a positive integer), for rebuilds without downtime: a new
   * version builds its own read model from the beginning of the log (its own checkpoints, named
   * `name@vN`; version 1 keeps the unversioned projection's) while the previous one keeps
   * serving, and once every partition has caught up it becomes the active version in one
   * transaction with `activate`. Absent: an unversioned projection (no activation, never
   * `replaying`).
   *
   * @since 0.2.0
   */
  readonly version?: number | undefined
  /**
   * Switches readers to this version's read model (e.g. `VersionedTables.activate` re-points
   * views), in the transaction that records the version as active. Runs once per build.
   *
   * As a function of the build, it makes the projection **rebuildable without downtime**
   * (`Running.rebuild`, `eventuali projections rebuild`): a rebuild builds the next generation
   * of the active version beside it, into the build's own tables, and this switches readers to
   * them once it has caught up. The handler must then write to `event.build`'s tables, and
   * `prepare` create them. An unversioned projection with it counts as version 1.
   *
   * @since 0.2.0
   */
  readonly activate?:
    | Effect.Effect<void, E | ReadError | DatabaseError, R>
    | ((build: Build) => Effect.Effect<void, E | ReadError | DatabaseError, R>)
    | undefined
  /**
   * Creates a build's read model (its tables: `CREATE TABLE IF NOT EXISTS`), before the build's
   * first batch, whenever an instance starts running a build (each instance, one at a time).
   *
   * @since 0.2.0
   */
  readonly prepare?: ((build: Build) => Effect.Effect<void, E | ReadError | DatabaseError, R>) | undefined
  /** Events handled per batch (and per transaction), about as many with partitions. Default 100. */
  readonly batchSize?: number | undefined
  /**
   * How a failing batch is retried (it is rolled back each time) before `onFailure` applies.
   * Default: 5 retries, exponential from 100 ms.
   */
  readonly retry?: Schedule.Schedule<unknown, E | ReadError | DatabaseError> | undefined
  /**
   * What happens when the handler still fails on an event after the retry schedule: `"stop"`
   * (the default) stops the projection with the error; `"park"` stores the event in the parked
   * table with its error and goes on (see {@link Running.retryParked}). Database and read errors
   * always stop it: they are not the event's fault.
   *
   * @since 0.2.0
   */
  readonly onFailure?: "stop" | "park" | undefined
  /**
   * Split the events into this many partitions by aggregate id, run in parallel and shared
   * between instances (1 to 1024; default 1). Fixed for the projection's lifetime: another
   * count is refused, rebuild under a new name to change it.
   *
   * @since 0.2.0
   */
  readonly partitions?: number | undefined
  /**
   * How long a partition stays held by an instance that stopped renewing it (crashed). Renewed
   * every third of it. Default 10 seconds.
   *
   * @since 0.2.0
   */
  readonly leaseDuration?: Duration.DurationInput | undefined
  /**
   * How often the lag and parked metrics are refreshed, and retries asked for by the CLI are
   * run. Default 5 seconds.
   *
   * @since 0.2.0
   */
  readonly statusInterval?: Duration.DurationInput | undefined
}

/**
 * Defines a projection (the identity, typed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <E = never, R = never>(projection: Projection<E, R>): Projection<E, R> => projection

/**
 * A projection's status: per partition its checkpoint, holder, lag in events and time, events
 * handled and parked.
 *
 * @since 0.2.0
 * @category models
 */
export type Status = Inspection.Status

/**
 * One partition's status.
 *
 * @since 0.2.0
 * @category models
 */
export type PartitionStatus = Inspection.PartitionStatus

/**
 * Which build of a versioned or rebuildable projection a status is of: serving, building or
 * replaced, and for the serving one the rebuild of it in progress.
 *
 * @since 0.2.0
 * @category models
 */
export type BuildStatus = Inspection.BuildStatus

/**
 * What {@link verify} found.
 *
 * @since 0.2.0
 * @category models
 */
export type Verification = Inspection.Verification

/**
 * What {@link verify} found for one partition.
 *
 * @since 0.2.0
 * @category models
 */
export type PartitionVerification = Inspection.PartitionVerification

/**
 * The status of a running instance: the projection's, with this instance's id and the
 * partitions it holds.
 *
 * @since 0.2.0
 * @category models
 */
export interface RunningStatus extends Status {
  readonly instance: string
  readonly held: ReadonlyArray<number>
  /** A rebuild without downtime in progress in this instance: the status of the build it builds. @since 0.2.0 */
  readonly rebuilding?: RunningStatus | undefined
}

/**
 * What retrying one parked event did: applied (and removed from the parked table), or failed
 * again (its record updated with the new error and attempt count).
 *
 * @since 0.2.0
 * @category models
 */
export type RetryOutcome =
  | { readonly _tag: "Applied"; readonly position: bigint; readonly eventId: string }
  | { readonly _tag: "Failed"; readonly position: bigint; readonly eventId: string; readonly error: string }

/**
 * A projection running in the background of a scope.
 *
 * @since 0.1.0
 * @category models
 */
export interface Running<E> {
  readonly name: string
  /** Waits until every event committed before the call has been processed (by whichever instance holds each partition). */
  readonly whenCaughtUp: Effect.Effect<void, E | ReadError | DatabaseError>
  /**
   * Rebuilds the read model from the beginning of the log.
   *
   * A rebuildable projection (its `activate` takes the build) is rebuilt **without downtime**:
   * the next generation of the active build is asked for (as `eventuali projections rebuild`
   * does; idempotent while one is in progress) and built beside it by every running instance,
   * then activated in one transaction; the old generation keeps serving and following live
   * events until then. `whenCaughtUp` waits for the switch. A build that does not serve yet is
   * started over in place.
   *
   * Any other projection is rebuilt **in place**: `reset` runs and every checkpoint is set back
   * to the beginning, atomically; queries see the model empty, then half built, until it has
   * caught up. Parked events are dropped.
   */
  readonly rebuild: Effect.Effect<void, E | ReadError | DatabaseError>
  /** The lowest checkpoint over the partitions, as this instance last saw them (-1 before it has seen each). */
  readonly position: Effect.Effect<bigint>
  /** Fails when the projection stops on an error (after its retries); never succeeds. */
  readonly await: Effect.Effect<never, E | ReadError | DatabaseError>
  /**
   * A versioned projection's active version as this instance last saw it (`None` before one was
   * activated, and for an unversioned projection): its own once it has caught up and switched.
   *
   * @since 0.2.0
   */
  readonly activeVersion: Effect.Effect<Option.Option<number>>
  /** The projection's status, with the partitions this instance holds. @since 0.2.0 */
  readonly status: Effect.Effect<RunningStatus, ReadError | DatabaseError>
  /** The parked events, by position. @since 0.2.0 */
  readonly parked: Effect.Effect<ReadonlyArray<ParkedEvent>, DatabaseError>
  /**
   * Runs the handler again on the parked events (all, or the one at `position`), each in its
   * own transaction with the read model, oldest first; an event applied leaves the parked
   * table. A position that is not parked fails with `ProjectionError`.
   *
   * @since 0.2.0
   */
  readonly retryParked: (
    options?: { readonly position?: bigint | undefined }
  ) => Effect.Effect<ReadonlyArray<RetryOutcome>, ProjectionError | ReadError | DatabaseError>
  /** Removes a parked event without applying it; a position that is not parked fails with `ProjectionError`. @since 0.2.0 */
  readonly discardParked: (position: bigint) => Effect.Effect<ParkedEvent, ProjectionError | DatabaseError>
  /** {@link verify} for this projection. @since 0.2.0 */
  readonly verify: Effect.Effect<Verification, ProjectionError | ReadError | DatabaseError>
}

const DEFAULT_BATCH_SIZE = 100
const defaultRetry = Schedule.exponential(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(5)))
const DEFAULT_LEASE = Duration.seconds(10)
const DEFAULT_STATUS_INTERVAL = Duration.seconds(5)

/** The most events a partition's batch reads in one page. */
const MAX_PAGE = 5000

/** The largest partition count: each partition reads the log, so more would cost more than it gives. */
export const MAX_PARTITIONS = 1024

/** A retried parked event's handler failed (kept apart from the store's own errors). */
class HandlerFailure {
  readonly _tag = "HandlerFailure"
  constructor(readonly cause: Cause.Cause<unknown>, readonly position: bigint) {}
}

const isHandlerFailure = (error: unknown): error is HandlerFailure => error instanceof HandlerFailure

/** The tag and message a parked event is stored with. */
const describeFailure = (cause: Cause.Cause<unknown>): { readonly errorTag: string; readonly errorMessage: string } => {
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return { errorTag: "Defect", errorMessage: Cause.pretty(cause).split("\n")[0] ?? "defect" }
  const error = failure.value
  const errorTag = Predicate.hasProperty(error, "_tag") && typeof error._tag === "string" ? error._tag : "Unknown"
  const errorMessage = Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message.length > 0
    ? error.message
    : typeof error === "string"
    ? error
    : JSON.stringify(error) ?? String(error)
  return { errorTag, errorMessage }
}

/** Refuses what no store could keep (a name) or the run loop cannot use (a partition count). */
const validateOptions = (
  projection: Pick<
    Projection<unknown, unknown>,
    "name" | "partitions" | "batchSize" | "version" | "leaseDuration" | "statusInterval" | "onFailure" | "aggregateTypes" | "eventTypes"
  >
): Effect.Effect<number, ProjectionError> => {
  const refuse = (message: string) => Effect.fail(new ProjectionError({ projection: String(projection.name), message }))
  const name = validate.name("projection name", projection.name)
  if (name._tag === "Left") return refuse(name.left.message)
  if (projection.name.includes("#")) return refuse(`The projection name ${JSON.stringify(projection.name)} contains "#", which names partitions`)
  // "NAME@vN" and "NAME@vN.gG" are the checkpoint names of version N of NAME and of its rebuilds:
  // a projection of that name would share them.
  if (/@v\d+(\.g\d+)?$/.test(projection.name)) {
    return refuse(
      `The projection name ${JSON.stringify(projection.name)} ends in "@v" and a number (and ".g" and a number), which names a projection's versions and rebuilds`
    )
  }
  for (const option of ["leaseDuration", "statusInterval"] as const) {
    if (projection[option] !== undefined && Option.isNone(validate.positiveDuration(projection[option]))) {
      return refuse(`The ${option} must be a positive duration, got ${String(projection[option])}`)
    }
  }
  if (projection.onFailure !== undefined && projection.onFailure !== "stop" && projection.onFailure !== "park") {
    return refuse(`The onFailure must be "stop" or "park", got ${JSON.stringify(projection.onFailure)}`)
  }
  // Refused here as ProjectionError, the error `run` declares, not by the reads as EventStoreError.
  for (const [kind, filter] of [["aggregate type", projection.aggregateTypes], ["event type", projection.eventTypes]] as const) {
    const problem = validate.filter(kind, filter)
    if (problem._tag === "Left") return refuse(problem.left.message)
  }
  const partitions = projection.partitions ?? 1
  if (typeof partitions !== "number" || !Number.isInteger(partitions) || partitions < 1 || partitions > MAX_PARTITIONS) {
    return refuse(`The partition count must be a whole number from 1 to ${MAX_PARTITIONS}, got ${String(partitions)}`)
  }
  const batchSize = projection.batchSize ?? DEFAULT_BATCH_SIZE
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) {
    return refuse(`The batch size must be a positive integer, got ${String(batchSize)}`)
  }
  const version = ProjectionVersion.invalid(projection.version)
  if (version !== undefined) return refuse(version)
  return Effect.succeed(partitions)
}

/** Records the projection; another partition count than the stored one is refused. */
const registerPartitions = (info: ProjectionInfo) =>
  Effect.gen(function*() {
    const stored = yield* (yield* ProjectionStoreTag).register(info)
    if (stored.partitions !== info.partitions) {
      return yield* new ProjectionError({
        projection: info.name,
        message: `Projection ${JSON.stringify(info.name)} has ${stored.partitions} partition(s) in this store; it cannot run with ${info.partitions}. ` +
          `To change the count, run it under a new name (it builds its read model from the beginning) and retire the old one.`
      })
    }
  })

const partitionLabels = (name: string, partition: number) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>) =>
    Effect.tagMetrics(effect, { [Metrics.projectionLabel]: name, [Metrics.partitionLabel]: String(partition) })

/**
 * The run loop's own timers (heartbeats, polls) run on the real clock: leases expire by the
 * database's clock, and a test's `TestClock` must not stop instances from sharing partitions.
 */
const liveClock = Clock.make()
const liveSleep = (duration: Duration.Duration) => Effect.withClock(Effect.sleep(duration), liveClock)

const whenMetricsEnabled = (effect: Effect.Effect<void>) => Effect.whenEffect(effect, Metrics.Enabled).pipe(Effect.asVoid)

const leaseMillisOf = (projection: Pick<Projection<unknown, unknown>, "leaseDuration">) =>
  Math.max(1, Duration.toMillis(projection.leaseDuration ?? DEFAULT_LEASE))

/** How often an instance renews its leases (and looks for rebuilds asked for): a third of the lease. */
const heartbeatOf = (projection: Pick<Projection<unknown, unknown>, "leaseDuration">) =>
  Duration.millis(Math.max(1, Math.floor(leaseMillisOf(projection) / 3)))

/** Whether the projection can be rebuilt without downtime: its `activate` takes the build. */
const isRebuildable = (projection: Pick<Projection<unknown, unknown>, "activate">): boolean =>
  projection.activate !== undefined && !Effect.isEffect(projection.activate)

const activateOf = <E, R>(projection: Projection<E, R>, build: Build): Effect.Effect<void, E | ReadError | DatabaseError, R> =>
  projection.activate === undefined ? Effect.void : Effect.isEffect(projection.activate) ? projection.activate : projection.activate(build)

/**
 * Starts a projection in the current scope: it takes its share of the partitions, catches each
 * up from its checkpoint, then follows new events until the scope closes (and gives its
 * partitions up). A rebuildable projection (see `activate`) also builds the rebuilds asked for.
 *
 * Fails with `ProjectionError` for invalid options or a partition count other than the one
 * stored for the projection.
 *
 * @since 0.1.0
 * @category running
 */
export const run = <E, R>(
  projection: Projection<E, R>
): Effect.Effect<Running<E>, ProjectionError | DatabaseError, EventStore | ProjectionStore.ProjectionStore | R | Scope.Scope> =>
  Effect.gen(function*() {
    yield* validateOptions(projection)
    if (isRebuildable(projection)) return yield* Generations.run(projection, runBuild, heartbeatOf(projection))
    return yield* runBuild(projection, projection.version === undefined ? undefined : { version: projection.version, generation: 0 })
  })

/**
 * Runs one build of a projection (`undefined`: an unversioned, not rebuildable projection, with
 * the projection's own name and no activation).
 */
const runBuild = <E, R>(
  projection: Projection<E, R>,
  build: Build | undefined
): Effect.Effect<Running<E>, ProjectionError | DatabaseError, EventStore | ProjectionStore.ProjectionStore | R | Scope.Scope> =>
  Effect.gen(function*() {
    const partitions = yield* validateOptions(projection)
    const store = yield* EventStore
    const checkpoints = yield* ProjectionStoreTag
    // Each build of a versioned projection keeps its own checkpoints, partitions and parked events.
    const name = build === undefined ? projection.name : ProjectionVersion.buildName(projection.name, build)
    const version = yield* ProjectionVersion.make(checkpoints, projection.name, build)
    const eventBuild: Build = build ?? { version: 1, generation: 0 }
    /** A new build is caught up once every partition has read the log as it was at the start. */
    const startHead = build === undefined ? 0n : yield* Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition).pipe(
      Effect.mapError((error) => error._tag === "DatabaseError" ? error : new ProjectionError({ projection: name, message: error.message }))
    )
    const info: ProjectionInfo = {
      name,
      partitions,
      aggregateTypes: projection.aggregateTypes ?? [],
      eventTypes: projection.eventTypes ?? [],
      rebuildable: isRebuildable(projection)
    }
    yield* registerPartitions(info)
    const batchSize = projection.batchSize ?? DEFAULT_BATCH_SIZE
    // A partition keeps about one event in `partitions` of what it reads: it reads that many
    // more, so that a batch (one transaction) still handles about `batchSize` events.
    const pageSize = Math.min(batchSize * partitions, Math.max(batchSize, MAX_PAGE))
    const retry = projection.retry ?? defaultRetry
    const park = projection.onFailure === "park"
    const leaseMillis = leaseMillisOf(projection)
    const heartbeat = heartbeatOf(projection)
    const statusInterval = Duration.decode(projection.statusInterval ?? DEFAULT_STATUS_INTERVAL)
    const filters = { aggregateTypes: projection.aggregateTypes, eventTypes: projection.eventTypes }
    const keyOf = (partition: number) => Inspection.checkpointName(name, partition, partitions)
    const instance = crypto.randomUUID()
    /** The last checkpoint seen per partition; `position` is their minimum. */
    const seen = yield* SubscriptionRef.make<ReadonlyMap<number, bigint>>(new Map())
    const see = (partition: number, position: bigint) =>
      SubscriptionRef.update(seen, (positions) => positions.get(partition) === position ? positions : new Map(positions).set(partition, position))
    /** Bumped by `rebuild`, so a batch that committed before it cannot report stale progress. */
    const epoch = yield* Ref.make(0)
    const held = yield* Ref.make<ReadonlyArray<number>>([])
    const pokes = new Map<number, Queue.Queue<void>>()
    for (let partition = 0; partition < partitions; partition++) pokes.set(partition, yield* Queue.sliding<void>(1))
    const stopped = yield* Deferred.make<never, E | ReadError | DatabaseError>()
    const context = yield* Effect.context<R>()
    /** Where the handler failed in the current attempt: only the handler's failures are parked. */
    type HandlerFailed = { readonly position: bigint; readonly cause: Cause.Cause<unknown> }
    type Parking = Pick<ParkedEvent, "position" | "attempts" | "errorTag" | "errorMessage">
    type BatchResult = { readonly more: boolean; readonly reached: bigint; readonly startedIn: number; readonly handled: number; readonly parked: number }
    /**
     * A page of the log after `from`, and when it is short (caught up), the head it reached.
     * The head is only asked for then, and before the handler writes: on PostgreSQL asking waits
     * for the transactions in flight, so a batch asking while it holds writes of its own would
     * wait for, and be waited for by, the other partitions' batches. The page is read again
     * after the head, so that every event at or below the head is in it.
     */
    const readPage = (from: bigint) =>
      Effect.gen(function*() {
        const first = yield* store.readEvents({ ...filters, fromPosition: from, limit: pageSize })
        if (first.length === pageSize) return { events: first, head: undefined }
        const head = yield* Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition)
        const events = yield* store.readEvents({ ...filters, fromPosition: from, limit: pageSize })
        return { events, head: events.length === pageSize ? undefined : head }
      })

    /**
     * One batch of one partition in one transaction with its checkpoint. With `parkAt`, the
     * event at that position is parked instead of handled, and the batch ends there.
     */
    const batch = (partition: number, parkAt: Option.Option<Parking>, failedAt: Ref.Ref<Option.Option<HandlerFailed>>) =>
      checkpoints.withBatch(keyOf(partition), (from, inTransaction) =>
        Effect.gen(function*() {
          // The store runs the body again when another instance moved the checkpoint meanwhile.
          yield* Ref.set(failedAt, Option.none())
          const startedIn = yield* Ref.get(epoch)
          const replaying = yield* version.replaying
          const { events, head } = yield* readPage(from)
          let handled = 0
          let digest = 0n
          let last = from
          let more = events.length === pageSize
          const parked: Array<ParkedEvent> = []
          for (const event of events) {
            if (partitionOf(event.aggregateId, partitions) === partition) {
              if (Option.isSome(parkAt) && parkAt.value.position === event.position) {
                parked.push({
                  ...parkAt.value,
                  name,
                  partition,
                  eventId: event.eventId,
                  parkedAt: new Date(),
                  retryRequested: false
                })
                more = true
              } else {
                yield* inTransaction(projection.handle({ ...event, checkpoint: Checkpoint.fromPosition(event.position), replaying, build: eventBuild })).pipe(
                  Effect.tapErrorCause((cause) => Ref.set(failedAt, Option.some({ position: event.position, cause })))
                )
              }
              handled++
              digest = addDigests(digest, eventIdHash(event.eventId))
            }
            last = event.position
            if (parked.length > 0) break
          }
          // A short page means every matching event up to the head was read: the rest was skipped
          // by the filters, and the checkpoint may move past it.
          const reached = !more && head !== undefined && head > last ? head : last
          yield* Observability.annotate({ "eventuali.position.from": from, "eventuali.event.count": events.length, "eventuali.position": reached })
          return [
            { more, reached, startedIn, handled, parked: parked.length },
            reached > from ? Option.some({ position: reached, handled, digest, parked }) : Option.none()
          ] as const
        })).pipe(Observability.span("Projection.batch", { "eventuali.projection": name, "eventuali.partition": partition }))

    /**
     * A batch with its retries. With `park`, when the handler still fails on an event after
     * them, the next batch parks that event (and one that failed before it, next time round).
     * A handler's defect is not retried by the schedule (Effect retries failures only), but parked.
     */
    const step = (partition: number): Effect.Effect<BatchResult, E | ReadError | DatabaseError, R> =>
      Effect.gen(function*() {
        const failedAt = yield* Ref.make(Option.none<HandlerFailed>())
        const attempts = yield* Ref.make(0)
        let parkAt = Option.none<Parking>()
        while (true) {
          yield* Ref.set(attempts, 0)
          const attempt = Effect.zipRight(
            Ref.update(attempts, (n) => n + 1),
            batch(partition, parkAt, failedAt)
          )
          const exit = yield* Effect.exit(Effect.retry(attempt, retry))
          if (Exit.isSuccess(exit)) return exit.value
          const failed = yield* Ref.get(failedAt)
          const parkable = park && Option.isSome(failed) && !Cause.isInterruptedOnly(exit.cause) &&
            (Option.isNone(parkAt) || failed.value.position < parkAt.value.position)
          if (!parkable) return yield* Effect.failCause(exit.cause)
          parkAt = Option.some({ position: failed.value.position, attempts: yield* Ref.get(attempts), ...describeFailure(failed.value.cause) })
        }
      })

    const waitForMore = (partition: number, position: bigint) =>
      Effect.raceFirst(
        Stream.runDrain(store.subscribe({ ...filters, from: Checkpoint.fromPosition(position), batchSize: 1 }).pipe(Stream.take(1))),
        Queue.take(pokes.get(partition)!)
      )

    /**
     * Whether every partition's stored checkpoint is at `target` or beyond. A partition without one
     * is at 0: a batch that found nothing to read commits nothing (its transaction never began).
     */
    const everyPartitionAt = (target: bigint) =>
      Effect.map(
        Effect.forEach(Array.from({ length: partitions }, (_, partition) => keyOf(partition)), (key) => checkpoints.get(key)),
        (stored) => stored.every((checkpoint) => Option.match(checkpoint, { onNone: () => 0n, onSome: (found) => found.position }) >= target)
      )

    /**
     * For a rebuild (a later generation of the serving build's version): whether the serving
     * build has handled every event this one handled (both split the log alike). Only then is it
     * activated, so that no event this build replayed is left for the serving build to meet
     * after the switch, as replayed too: its live side effects would be lost. An event the
     * serving build handled beyond this one's checkpoint is handled live again after the switch
     * (side effects are at least once). Both run in the same instances, so the serving one gets
     * there.
     */
    const servingHandedOver = Effect.gen(function*() {
      if (build === undefined || build.generation === 0) return true
      const builds = yield* checkpoints.builds(projection.name)
      if (Option.isNone(builds)) return true
      const active = builds.value.active
      if (active.version !== build.version || active.generation >= build.generation) return true
      const servingName = ProjectionVersion.buildName(projection.name, active)
      const positionOf = (key: string) => Effect.map(checkpoints.get(key), Option.match({ onNone: () => 0n, onSome: (found) => found.position }))
      const mine = yield* Effect.forEach(Array.from({ length: partitions }, (_, partition) => keyOf(partition)), positionOf)
      const theirs = yield* Effect.forEach(
        Array.from({ length: partitions }, (_, partition) => Inspection.checkpointName(servingName, partition, partitions)),
        positionOf
      )
      const behind = theirs.map((position, partition) => position < mine[partition]!)
      if (!behind.some(Boolean)) return true
      // A partition without events of its own between the two checkpoints is not behind.
      const high = mine.reduce((highest, position) => position > highest ? position : highest, 0n)
      const low = theirs.reduce((lowest, position, partition) => behind[partition] && position < lowest ? position : lowest, high)
      let handedOver = true
      yield* Inspection.scanLog(info, low, high, (event, partition) => {
        if (event.position > theirs[partition]! && event.position <= mine[partition]!) handedOver = false
      }).pipe(Effect.provideService(EventStore, store))
      return handedOver
    })

    const partitionLoop = (partition: number) =>
      Effect.gen(function*() {
        // A partition given up (to a joining instance) ends after its batch: no batch is cut short.
        while ((yield* Ref.get(held)).includes(partition)) {
          const { handled, more, parked, reached, startedIn } = yield* step(partition)
          // Counted before anyone is told the partition caught up, who may read the counters next.
          yield* whenMetricsEnabled(Effect.zipRight(
            Metric.incrementBy(Metrics.projectionEventsHandled, handled - parked),
            Metric.incrementBy(Metrics.projectionEventsParked, parked)
          ))
          // Caught up: a new version becomes the active one before anyone is told it caught up.
          if (!more) yield* Effect.retry(version.caughtUp(
            Effect.flatMap(everyPartitionAt(startHead), (caughtUp) => caughtUp ? servingHandedOver : Effect.succeed(false)),
            activateOf(projection, eventBuild)
          ), retry)
          if ((yield* Ref.get(epoch)) === startedIn) yield* see(partition, reached)
          // Waiting reads the database too (a server restart fails it): it retries like a batch.
          if (!more) yield* Effect.retry(waitForMore(partition, reached), retry)
          // A replay of a long log must not hold up the process's other fibers (readers of the
          // read model among them): on SQLite a batch never waits for I/O, so it never yields.
          else yield* Effect.yieldNow()
        }
      }).pipe(
        partitionLabels(name, partition),
        Effect.catchAllCause((cause) => Cause.isInterruptedOnly(cause) ? Effect.void : Deferred.failCause(stopped, cause)),
        Effect.withSpan("Projection.partition", { attributes: { "eventuali.projection": name, "eventuali.partition": partition } })
      )

    const retryParked = (
      options: { readonly position?: bigint | undefined; readonly requestedIn?: ReadonlyArray<number> } = {}
    ) =>
      Effect.gen(function*() {
        const all = yield* checkpoints.parked(name)
        const chosen = all.filter((event) =>
          (options.position === undefined || event.position === options.position) &&
          (options.requestedIn === undefined || (event.retryRequested && options.requestedIn.includes(event.partition)))
        )
        if (options.position !== undefined && chosen.length === 0) return yield* notParked(name, options.position, all)
        return (yield* Effect.forEach(chosen, retryOne)).flat()
      }).pipe(Effect.provide(context))

    const retryOne = (event: ParkedEvent) =>
      checkpoints.withCheckpoint(keyOf(event.partition), () =>
        Effect.gen(function*() {
          // Under the partition's lock: another instance may have retried or discarded it meanwhile.
          const still = (yield* checkpoints.parked(name)).some((parked) => parked.position === event.position)
          if (!still) return [Option.none<RetryOutcome>(), Option.none()] as const
          const [stored] = yield* store.readEvents({ fromPosition: event.position - 1n, limit: 1 })
          if (stored === undefined || stored.position !== event.position || stored.eventId !== event.eventId) {
            return yield* new ProjectionError({ projection: name, message: `The parked event at position ${event.position} (${event.eventId}) is no longer in the log` })
          }
          const replaying = yield* version.replaying
          yield* projection.handle({ ...stored, checkpoint: Checkpoint.fromPosition(stored.position), replaying, build: eventBuild }).pipe(
            Effect.catchAllCause((cause) => Effect.fail(new HandlerFailure(cause, event.position)))
          )
          yield* checkpoints.deleteParked(name, event.position)
          return [Option.some<RetryOutcome>({ _tag: "Applied", position: event.position, eventId: event.eventId }), Option.none()] as const
        })).pipe(
          Effect.catchIf(isHandlerFailure, (failure) =>
            Effect.gen(function*() {
              const described = describeFailure(failure.cause)
              yield* checkpoints.updateParked({ ...event, ...described, attempts: event.attempts + 1, retryRequested: false })
              return Option.some<RetryOutcome>({ _tag: "Failed", position: event.position, eventId: event.eventId, error: described.errorMessage })
            })),
          Effect.map(Option.toArray)
        )

    const refreshMetrics = Effect.gen(function*() {
      const mine = yield* Ref.get(held)
      if (mine.length === 0) return
      const status = yield* Inspection.status(info).pipe(
        Effect.provideService(EventStore, store),
        Effect.provideService(ProjectionStoreTag, checkpoints)
      )
      for (const partition of status.partitionStatus) {
        if (!mine.includes(partition.partition)) continue
        yield* Effect.all([
          Metric.set(Metrics.projectionLagEvents, partition.lagEvents),
          Metric.set(Metrics.projectionLagMillis, partition.lagMillis),
          Metric.set(Metrics.projectionParked, partition.parked)
        ]).pipe(partitionLabels(name, partition.partition))
      }
    })

    /** Takes this instance's share of the partitions and runs one fiber per partition held. */
    const coordinate = Effect.gen(function*() {
      const workers = yield* FiberMap.make<number>()
      while (true) {
        const mine = yield* Effect.retry(checkpoints.claim(name, instance, partitions, leaseMillis), retry)
        yield* Ref.set(held, mine)
        for (const [partition] of workers) if (!mine.includes(partition)) yield* Queue.offer(pokes.get(partition)!, undefined)
        for (const partition of mine) yield* FiberMap.run(workers, partition, partitionLoop(partition), { onlyIfMissing: true })
        yield* liveSleep(heartbeat)
      }
    }).pipe(Effect.scoped)

    const housekeeping = Effect.gen(function*() {
      while (true) {
        yield* liveSleep(statusInterval)
        yield* whenMetricsEnabled(refreshMetrics.pipe(Effect.ignoreLogged))
        // Retries asked for by the CLI: those of the partitions this instance holds.
        yield* Effect.flatMap(Ref.get(held), (mine) => retryParked({ requestedIn: mine })).pipe(
          Effect.flatMap((outcomes) =>
            outcomes.length === 0 ? Effect.void : Effect.logInfo("Retried parked events asked for").pipe(
              Effect.annotateLogs({
                projection: name,
                applied: outcomes.filter((outcome) => outcome._tag === "Applied").map((outcome) => String(outcome.position)).join(","),
                failed: outcomes.filter((outcome) => outcome._tag === "Failed").map((outcome) => `${outcome.position}: ${outcome.error}`).join("; ")
              })
            )
          ),
          Effect.ignoreLogged
        )
      }
    })

    // The build's tables, one instance at a time (under partition 0's checkpoint lock: concurrent
    // `CREATE TABLE IF NOT EXISTS` can fail on PostgreSQL), before any batch writes to them.
    const prepare = projection.prepare === undefined ? Effect.void : Effect.retry(
      checkpoints.withCheckpoint(keyOf(0), () => Effect.as(projection.prepare!(eventBuild), [undefined, Option.none<bigint>()] as const)),
      retry
    )

    yield* Effect.raceFirst(Effect.zipRight(Effect.zipRight(prepare, coordinate), Effect.never), Deferred.await(stopped)).pipe(
      Effect.raceFirst(Effect.zipRight(housekeeping, Effect.never)),
      // Failures and defects alike stop the projection and are reported to its waiters.
      Effect.catchAllCause((cause) => Deferred.failCause(stopped, cause)),
      Effect.ensuring(checkpoints.release(name, instance).pipe(Effect.ignoreLogged)),
      Effect.withSpan("Projection.run", { attributes: { "eventuali.projection": name } }),
      Effect.forkScoped
    )

    /**
     * Reads every partition's stored checkpoint into `seen`; succeeds with whether each reached
     * `target`, or, for a partition another instance holds, has no event of its own up to it (a
     * partition idle since its last batch keeps a checkpoint below the head until an event of
     * its own arrives; only its holder could wake it).
     */
    const caughtUpTo = (target: bigint) =>
      Effect.gen(function*() {
        const positions: Array<bigint> = []
        for (let partition = 0; partition < partitions; partition++) {
          const stored = yield* checkpoints.get(keyOf(partition))
          const position = Option.match(stored, { onNone: () => 0n, onSome: (checkpoint) => checkpoint.position })
          if (Option.isSome(stored)) yield* see(partition, position)
          positions.push(position)
        }
        const lowest = positions.reduce((low, position) => position < low ? position : low, target)
        if (lowest >= target) return true
        // The partitions held here were poked: they move to the target themselves.
        const mine = yield* Ref.get(held)
        let behind = mine.some((partition) => positions[partition]! < target)
        yield* Inspection.scanLog(info, lowest, target, (event, partition) => {
          if (event.position > positions[partition]!) behind = true
        }).pipe(Effect.provideService(EventStore, store))
        return !behind
      })

    const whenCaughtUp = Effect.gen(function*() {
      const target = yield* Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition)
      for (const poke of pokes.values()) yield* Queue.offer(poke, undefined)
      while (true) {
        const before = yield* SubscriptionRef.get(seen)
        // A new version has caught up once it is also the active one (or replaced).
        if ((yield* caughtUpTo(target)) && (yield* version.settled)) return
        for (const partition of yield* Ref.get(held)) yield* Queue.offer(pokes.get(partition)!, undefined)
        // A local batch wakes the wait at once; partitions other instances hold are polled.
        const localChange = Stream.runDrain(seen.changes.pipe(Stream.filter((positions) => positions !== before), Stream.take(1)))
        yield* Effect.raceFirst(Effect.raceFirst(localChange, liveSleep(Duration.millis(50))), Deferred.await(stopped))
      }
    })

    const rebuild = Effect.gen(function*() {
      const keys = Array.from({ length: partitions }, (_, partition) => keyOf(partition))
      // Every partition's lock, in order (as no batch holds two, no deadlock), then reset and move all to 0 at once.
      const resetAll = Effect.gen(function*() {
        yield* Ref.update(epoch, (n) => n + 1)
        if (projection.reset !== undefined) yield* projection.reset
        for (const event of yield* checkpoints.parked(name)) yield* checkpoints.deleteParked(name, event.position)
      })
      yield* keys.reduceRight<Effect.Effect<void, E | DatabaseError, R>>(
        (inner, key) => checkpoints.withCheckpoint(key, () => Effect.as(inner, [undefined, Option.some(0n)] as const)),
        resetAll
      )
      yield* SubscriptionRef.set(seen, new Map(keys.map((_, partition) => [partition, 0n])))
      for (const poke of pokes.values()) yield* Queue.offer(poke, undefined)
    }).pipe(Effect.provide(context))

    const running: Running<E> = {
      name,
      whenCaughtUp,
      rebuild,
      position: Effect.map(SubscriptionRef.get(seen), (positions) => {
        if (positions.size < partitions) return -1n
        let lowest: bigint | undefined
        for (const position of positions.values()) if (lowest === undefined || position < lowest) lowest = position
        return lowest ?? -1n
      }),
      await: Deferred.await(stopped),
      activeVersion: Effect.map(version.active, Option.map((active) => active.version)),
      status: Effect.map(
        Effect.zip(Inspection.status(info), Ref.get(held)),
        ([status, mine]): RunningStatus => ({ ...status, instance, held: mine })
      ).pipe(Effect.provideService(EventStore, store), Effect.provideService(ProjectionStoreTag, checkpoints)),
      parked: checkpoints.parked(name),
      retryParked: (options) => retryParked({ position: options?.position }),
      discardParked: (position) => Effect.provideService(discardParked(name, position), ProjectionStoreTag, checkpoints),
      verify: Effect.flatMap(Inspection.registered(name), Inspection.verify).pipe(
        Effect.provideService(EventStore, store),
        Effect.provideService(ProjectionStoreTag, checkpoints)
      )
    }
    return running
  })

const notParked = (name: string, position: bigint, parked: ReadonlyArray<ParkedEvent>) =>
  Effect.fail(
    new ProjectionError({
      projection: name,
      message: `Nothing is parked at position ${position} for projection ${JSON.stringify(name)} (${
        parked.length === 0 ? "nothing is parked" : `parked: ${parked.map((event) => event.position).join(", ")}`
      })`
    })
  )

/**
 * The status of a projection by name (as any instance that ran it registered it).
 *
 * @since 0.2.0
 * @category inspecting
 */
export const status = (name: string): Effect.Effect<Status, ProjectionError | ReadError | DatabaseError, EventStore | ProjectionStore.ProjectionStore> =>
  Effect.flatMap(Inspection.registered(name), Inspection.status)

/**
 * Which build of a versioned or rebuildable projection the registered name `name` (a build's
 * checkpoint name, `balances@v2.g1`) is, and its part; `undefined` for any other projection.
 *
 * @since 0.2.0
 * @category inspecting
 */
export const buildStatus = (name: string): Effect.Effect<BuildStatus | undefined, DatabaseError, ProjectionStore.ProjectionStore> =>
  Inspection.buildStatus(name)

/**
 * Recomputes, from the log, how many events each partition of a projection should have handled
 * up to its checkpoint and the digest of their ids, and compares with what its batches
 * recorded: `complete`, or the positions missing or handled twice. A checkpoint stored by a
 * version before 0.2.0 has no record: rebuild such a projection before verifying it.
 *
 * @since 0.2.0
 * @category inspecting
 */
export const verify = (name: string): Effect.Effect<Verification, ProjectionError | ReadError | DatabaseError, EventStore | ProjectionStore.ProjectionStore> =>
  Effect.flatMap(Inspection.registered(name), Inspection.verify)

/**
 * The parked events of a projection, by position.
 *
 * @since 0.2.0
 * @category parking
 */
export const parked = (name: string): Effect.Effect<ReadonlyArray<ParkedEvent>, ProjectionError | DatabaseError, ProjectionStore.ProjectionStore> =>
  Effect.zipRight(Inspection.registered(name), Effect.flatMap(ProjectionStoreTag, (store) => store.parked(name)))

/**
 * Asks the instance holding each partition to retry its parked events (all, or the one at
 * `position`) at its next status interval: for tools that cannot run the handler, like the CLI.
 * In the application, {@link Running.retryParked} retries at once. Succeeds with the events
 * marked; a position that is not parked fails with `ProjectionError`.
 *
 * @since 0.2.0
 * @category parking
 */
export const requestRetry = (
  name: string,
  options: { readonly position?: bigint | undefined } = {}
): Effect.Effect<ReadonlyArray<ParkedEvent>, ProjectionError | DatabaseError, ProjectionStore.ProjectionStore> =>
  Effect.gen(function*() {
    yield* Inspection.registered(name)
    const store = yield* ProjectionStoreTag
    const all = yield* store.parked(name)
    const chosen = all.filter((event) => options.position === undefined || event.position === options.position)
    if (options.position !== undefined && chosen.length === 0) return yield* notParked(name, options.position, all)
    for (const event of chosen) yield* store.updateParked({ ...event, retryRequested: true })
    return chosen
  })

/**
 * Removes a parked event without applying it (under its partition's lock, so a retry running
 * at the same time either applied it first or finds it gone). A position that is not parked
 * fails with `ProjectionError`.
 *
 * @since 0.2.0
 * @category parking
 */
export const discardParked = (
  name: string,
  position: bigint
): Effect.Effect<ParkedEvent, ProjectionError | DatabaseError, ProjectionStore.ProjectionStore> =>
  Effect.gen(function*() {
    const info = yield* Inspection.registered(name)
    const store = yield* ProjectionStoreTag
    const all = yield* store.parked(name)
    const event = all.find((parked) => parked.position === position)
    if (event === undefined) return yield* notParked(name, position, all)
    const removed = yield* store.withCheckpoint(
      Inspection.checkpointName(name, event.partition, info.partitions),
      () => Effect.map(store.deleteParked(name, position), (deleted) => [deleted, Option.none()] as const)
    )
    if (!removed) return yield* notParked(name, position, yield* store.parked(name))
    return event
  })

/**
 * What {@link requestRebuild} asked for: the build the running instances build beside the
 * active one (`name` is its checkpoint name, as `eventuali projections` lists it).
 *
 * @since 0.2.0
 * @category rebuilding
 */
export interface RebuildRequest {
  readonly projection: string
  readonly name: string
  readonly active: Build
  readonly build: Build
  /** A rebuild was in progress already: this is that one (nothing new was asked for). */
  readonly alreadyRequested: boolean
}

/**
 * Asks the running instances of a rebuildable projection (its `activate` takes the build) to
 * rebuild its read model without downtime: they build the next generation of the active build
 * beside it from the beginning of the log (noticing within a heartbeat, a third of
 * `leaseDuration`), and activate it once caught up; the active one serves until then. For
 * tools that cannot run the handler, like the CLI; {@link Running.rebuild} does the same.
 *
 * `name` is the projection's name or a build's checkpoint name (`balances@v2`). Idempotent
 * while a rebuild is in progress (`alreadyRequested`). Fails with `ProjectionError`, changing
 * nothing, for a projection that never ran here, one that is not rebuildable (rebuild it in
 * place, or deploy its next version), and one whose first build has not been activated yet.
 *
 * @since 0.2.0
 * @category rebuilding
 */
export const requestRebuild = (
  name: string
): Effect.Effect<RebuildRequest, ProjectionError | DatabaseError, ProjectionStore.ProjectionStore> =>
  Effect.gen(function*() {
    const store = yield* ProjectionStoreTag
    const { projection } = ProjectionVersion.parseName(name)
    const registered = yield* store.projections
    const refuse = (message: string) => Effect.fail(new ProjectionError({ projection, message: `${message} Nothing was changed.` }))
    const own = registered.filter((info) => ProjectionVersion.parseName(info.name).projection === projection)
    if (own.length === 0) yield* Inspection.registered(name)
    const builds = yield* store.builds(projection)
    if (Option.isNone(builds)) {
      return yield* refuse(
        `Projection ${JSON.stringify(projection)} has no active build: it is ${
          own.some((info) => info.rebuildable === true) ? "still building its first one (nothing serves queries yet)" : "not versioned"
        }, so there is nothing to rebuild beside. Rebuild it in place (Running.rebuild, or eventuali projections rebuild --in-place).`
      )
    }
    const active = builds.value.active
    const activeName = ProjectionVersion.buildName(projection, active)
    const serving = own.find((info) => info.name === activeName)
    if (serving?.rebuildable !== true) {
      return yield* refuse(
        `Projection ${JSON.stringify(projection)} cannot be rebuilt without downtime: the code that runs its active build (${activeName}) ` +
          `does not say how to build a copy beside it (its activate does not take the build). Make it rebuildable ` +
          `(activate: (build) => VersionedTables.activate(tables, build), writing to VersionedTables.name(table, event.build)), ` +
          `or deploy version ${active.version + 1}, which builds beside this one.`
      )
    }
    const requested = yield* store.requestRebuild(projection)
    if (Option.isNone(requested)) return yield* refuse(`Projection ${JSON.stringify(projection)} has no active build.`)
    return {
      projection,
      name: ProjectionVersion.buildName(projection, requested.value.build),
      active,
      build: requested.value.build,
      alreadyRequested: requested.value.alreadyRequested
    }
  })
