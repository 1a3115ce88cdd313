import { Array as Arr, Cause, Clock, Context, Effect, type Fiber, FiberRef, type Metric, MetricLabel, Option } from "effect"
import * as Metrics from "../Metrics.js"

/** Effect's built-in tracer, in place when no tracer is installed: its spans reach no one. */
const builtInTracer = Effect.runSync(Effect.tracer)

/** Whether a span would reach anyone: a tracer is installed and tracing is on. */
const isTracing = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean =>
  fiber.currentTracer !== builtInTracer && fiber.getFiberRef(FiberRef.currentTracerEnabled)

/**
 * `Effect.withSpan`, when a tracer is installed. With Effect's built-in tracer the span would go
 * nowhere, so none is made: the store costs next to nothing when nobody traces it.
 */
export const span = (name: string, attributes: Record<string, unknown>) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) =>
    isTracing(fiber) ? Effect.withSpan(effect, name, { captureStackTrace: false, attributes }) : effect
  )

/** `Effect.annotateCurrentSpan`, when {@link span} made the span (never on a caller's span). */
export const annotate = (attributes: Record<string, unknown>): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => isTracing(fiber) ? Effect.annotateCurrentSpan(attributes) : Effect.void)

/**
 * One label array per aggregate type, reused: a metric caches its hook by the label array's
 * identity, so an update with the same array is a lookup instead of hashing a new key.
 */
const labelsByType = new Map<string, ReadonlyArray<MetricLabel.MetricLabel>>()

const labelsOf = (aggregateType: string): ReadonlyArray<MetricLabel.MetricLabel> => {
  let labels = labelsByType.get(aggregateType)
  if (labels === undefined) {
    labels = [MetricLabel.make(Metrics.aggregateTypeLabel, aggregateType)]
    labelsByType.set(aggregateType, labels)
  }
  return labels
}

const enabledIn = (fiber: Fiber.RuntimeFiber<unknown, unknown>): boolean => Context.get(fiber.currentContext, Metrics.Enabled)

/** `Metric.update`, with the fiber's own metric labels (`Effect.tagMetrics`) as well. */
const update = <Type, In, Out>(
  fiber: Fiber.RuntimeFiber<unknown, unknown>,
  metric: Metric.Metric<Type, In, Out>,
  input: In,
  aggregateType: string
): void => {
  const fiberLabels = fiber.getFiberRef(FiberRef.currentMetricLabels)
  const labels = labelsOf(aggregateType)
  metric.unsafeUpdate(input, fiberLabels.length === 0 ? labels : Arr.union(labels, fiberLabels))
}

/**
 * Counts a committed append and puts the position of its last event on the span, in one step:
 * this is on every save's path.
 */
export const recordAppend = (aggregateType: string, events: ReadonlyArray<{ readonly position: bigint }>): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    if (enabledIn(fiber)) {
      update(fiber, Metrics.saves, 1, aggregateType)
      update(fiber, Metrics.eventsAppended, events.length, aggregateType)
    }
    return isTracing(fiber) ? Effect.annotateCurrentSpan({ "eventuali.position": events[events.length - 1]!.position }) : Effect.void
  })

/** Counts events a delete, truncate or retention pass removed. */
export const recordRemoval = (aggregateType: string, count: number): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    if (count > 0 && enabledIn(fiber)) update(fiber, Metrics.eventsRemoved, count, aggregateType)
    return Effect.void
  })

/** Puts the position of the last of `events` on the span {@link span} made. */
export const annotatePosition = (events: ReadonlyArray<{ readonly position: bigint }>): Effect.Effect<void> =>
  events.length === 0 ? Effect.void : annotate({ "eventuali.position": events[events.length - 1]!.position })

const isConflict = (cause: Cause.Cause<unknown>): boolean =>
  Option.exists(Cause.failureOption(cause), (error) =>
    typeof error === "object" && error !== null && "_tag" in error && error._tag === "OptimisticConcurrencyError")

/**
 * Records how long `effect` takes, in milliseconds, in `duration` (on success and failure), and
 * counts an `OptimisticConcurrencyError` it fails with.
 */
export const observe = (duration: Metric.Metric.Histogram<number>, aggregateType: string) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    if (!enabledIn(fiber)) return effect
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    const start = clock.unsafeCurrentTimeNanos()
    const record = () => update(fiber, duration, Number(clock.unsafeCurrentTimeNanos() - start) / 1e6, aggregateType)
    // Not `onExit`: recording is synchronous, so it needs no uninterruptible region (a third of the cost).
    return Effect.matchCauseEffect(effect, {
      onFailure: (cause) => {
        record()
        if (isConflict(cause)) update(fiber, Metrics.conflicts, 1, aggregateType)
        return Effect.failCause(cause)
      },
      onSuccess: (value) => {
        record()
        return Effect.succeed(value)
      }
    })
  })
