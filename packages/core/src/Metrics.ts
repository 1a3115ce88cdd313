/**
 * The metrics every store updates, labelled by aggregate type (`eventuali.aggregate.type`). They
 * are ordinary Effect `Metric`s: read them with `Metric.value`, take a snapshot of all of them
 * with `Metric.snapshot`, or export them with `@effect/opentelemetry` (see the observability
 * guide). Turn them off for a program with `Effect.provideService(Metrics.Enabled, false)`; spans
 * are turned off by Effect itself, with `Effect.withTracerEnabled(false)`.
 *
 * @example
 * ```ts
 * import { Effect, Metric } from "effect"
 * import { Metrics } from "eventuali"
 *
 * // events appended to "Account" aggregates since the process started
 * const appended = Metric.value(Metrics.eventsAppended.pipe(Metric.tagged(Metrics.aggregateTypeLabel, "Account")))
 * ```
 *
 * @since 0.1.0
 */
import { Context, Metric, MetricBoundaries } from "effect"

/**
 * The label (tag) every store metric carries: the aggregate type of the operation. The same key
 * as the spans' attribute.
 *
 * @since 0.1.0
 * @category labels
 */
export const aggregateTypeLabel = "eventuali.aggregate.type"

/**
 * Events written by `save` and `append` (an idempotent retry, which writes nothing, adds none).
 *
 * @since 0.1.0
 * @category metrics
 */
export const eventsAppended: Metric.Metric.Counter<number> = Metric.counter("eventuali.events.appended", {
  description: "Events written by save and append",
  incremental: true
})

/**
 * Writes committed by `save` and `append`: one per atomic append, however many events it holds.
 *
 * @since 0.1.0
 * @category metrics
 */
export const saves: Metric.Metric.Counter<number> = Metric.counter("eventuali.saves", {
  description: "Atomic writes committed by save and append",
  incremental: true
})

/**
 * Events removed from the store by hard deletes, truncates and retention (by aggregate type).
 *
 * @since 0.2.0
 * @category metrics
 */
export const eventsRemoved: Metric.Metric.Counter<number> = Metric.counter("eventuali.events.removed", {
  description: "Events removed by hard deletes, truncates and retention",
  incremental: true
})

/**
 * Writes refused with `OptimisticConcurrencyError` (each retry that conflicts again counts again).
 *
 * @since 0.1.0
 * @category metrics
 */
export const conflicts: Metric.Metric.Counter<number> = Metric.counter("eventuali.conflicts", {
  description: "Writes refused with OptimisticConcurrencyError",
  incremental: true
})

/**
 * Milliseconds: a SQLite load takes tens of microseconds, a remote PostgreSQL one milliseconds.
 * (Plain histograms of milliseconds rather than `Metric.timer`s: a timer adds a `time_unit` tag
 * on every update, which costs more than the rest of the store's metrics together.)
 */
const latencyBoundaries = MetricBoundaries.fromIterable([0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000])

/**
 * How long `load` (and `loadOrFail`) takes, read and fold, successful or not: a histogram in
 * milliseconds.
 *
 * @since 0.1.0
 * @category metrics
 */
export const loadDuration: Metric.Metric.Histogram<number> = Metric.histogram(
  "eventuali.load.duration",
  latencyBoundaries,
  "Milliseconds a load takes: reading an aggregate's events and folding them"
)

/**
 * How long `save` and `append` take, successful or not: a histogram in milliseconds.
 *
 * @since 0.1.0
 * @category metrics
 */
export const saveDuration: Metric.Metric.Histogram<number> = Metric.histogram(
  "eventuali.save.duration",
  latencyBoundaries,
  "Milliseconds a save or append takes: encoding and the atomic append"
)

/**
 * How long one-shot reads (`currentCheckpoint`, `loadEventsByType`, `streamAll`,
 * `streamEventsByType`) that found transactions in flight at their start waited for them, so as
 * to see every commit before them: a histogram in milliseconds, unlabelled. On PostgreSQL any transaction of
 * the server that holds a transaction id counts, also one that never touches the store (see the
 * PostgreSQL guide); elsewhere reads never wait.
 *
 * @since 0.1.0
 * @category metrics
 */
export const catchUpWait: Metric.Metric.Histogram<number> = Metric.histogram(
  "eventuali.read.catch_up_wait",
  latencyBoundaries,
  "Milliseconds a one-shot read waited for transactions in flight at its start"
)

/**
 * One-shot reads that stopped waiting for a transaction still open after the limit (5 seconds)
 * and read without what it may still commit: a long transaction on the server holds readers back.
 *
 * @since 0.1.0
 * @category metrics
 */
export const catchUpTimeouts: Metric.Metric.Counter<number> = Metric.counter("eventuali.read.catch_up_timeouts", {
  description: "One-shot reads that stopped waiting for a transaction still open after the limit",
  incremental: true
})

/**
 * The label (tag) of {@link replicaFallbacks}: why a read meant for a replica ran on the primary.
 *
 * - `"error"`: the replica failed the read (stopped, restarting, a recovery conflict);
 * - `"lag"`: it had not replayed the reading fiber's own writes within `replicaWaitTimeout`;
 * - `"unavailable"`: every replica was set aside (for a second) after one of those.
 *
 * @since 0.2.0
 * @category labels
 */
export const fallbackReasonLabel = "eventuali.replica.fallback_reason"

/**
 * Reads meant for a read replica (PostgreSQL `replicas`) that ran on the primary instead,
 * labelled with {@link fallbackReasonLabel}. A steady count means the replicas do not keep up
 * (or are down) and the primary carries their reads.
 *
 * @since 0.2.0
 * @category metrics
 */
export const replicaFallbacks: Metric.Metric.Counter<number> = Metric.counter("eventuali.read.replica_fallbacks", {
  description: "Reads meant for a replica that ran on the primary, by reason",
  incremental: true
})

/**
 * The labels (tags) of the projection metrics: the projection's name and the partition (0 for a
 * projection without partitions).
 *
 * @since 0.2.0
 * @category labels
 */
export const projectionLabel = "eventuali.projection"

/**
 * @since 0.2.0
 * @category labels
 */
export const partitionLabel = "eventuali.partition"

/**
 * Events a projection's handler applied (committed with the checkpoint; a batch rolled back and
 * retried counts once, when it commits).
 *
 * @since 0.2.0
 * @category metrics
 */
export const projectionEventsHandled: Metric.Metric.Counter<number> = Metric.counter("eventuali.projection.events_handled", {
  description: "Events a projection applied, per projection and partition",
  incremental: true
})

/**
 * Events a projection parked after its handler failed them through the retry schedule.
 *
 * @since 0.2.0
 * @category metrics
 */
export const projectionEventsParked: Metric.Metric.Counter<number> = Metric.counter("eventuali.projection.events_parked", {
  description: "Events a projection parked, per projection and partition",
  incremental: true
})

/**
 * Events parked now (refreshed with the lag, every `statusInterval`).
 *
 * @since 0.2.0
 * @category metrics
 */
export const projectionParked: Metric.Metric.Gauge<number> = Metric.gauge("eventuali.projection.parked", {
  description: "Events of a projection parked now, per partition"
})

/**
 * Matching events committed after a partition's checkpoint (refreshed every `statusInterval` by
 * the instance holding the partition).
 *
 * @since 0.2.0
 * @category metrics
 */
export const projectionLagEvents: Metric.Metric.Gauge<number> = Metric.gauge("eventuali.projection.lag_events", {
  description: "Matching events after a projection partition's checkpoint"
})

/**
 * Milliseconds since the oldest event a partition has not handled yet was committed (0 when it
 * is caught up).
 *
 * @since 0.2.0
 * @category metrics
 */
export const projectionLagMillis: Metric.Metric.Gauge<number> = Metric.gauge("eventuali.projection.lag_ms", {
  description: "Age in milliseconds of the oldest event a projection partition has not handled"
})

/**
 * Whether the store updates its metrics (default `true`). Provide `false` to turn them off:
 * `Effect.provideService(program, Metrics.Enabled, false)`.
 *
 * @since 0.1.0
 * @category switches
 */
export class Enabled extends Context.Reference<Enabled>()("eventuali/Metrics/Enabled", {
  defaultValue: (): boolean => true
}) {}
