import { Array as Arr, Cause, Clock, Context, Duration, Effect, Exit, type Fiber, FiberRef, type Metric, MetricLabel, Option } from "effect"
import * as Metrics from "../Metrics.js"

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

/** Counts a committed append of `eventCount` events. */
export const recordAppend = (aggregateType: string, eventCount: number): Effect.Effect<void> =>
  Effect.withFiberRuntime((fiber) => {
    if (enabledIn(fiber)) {
      update(fiber, Metrics.saves, 1, aggregateType)
      update(fiber, Metrics.eventsAppended, eventCount, aggregateType)
    }
    return Effect.void
  })

const isConflict = (cause: Cause.Cause<unknown>): boolean =>
  Option.exists(Cause.failureOption(cause), (error) =>
    typeof error === "object" && error !== null && "_tag" in error && error._tag === "OptimisticConcurrencyError")

/**
 * Records how long `effect` takes in `duration` (on success and failure), and counts an
 * `OptimisticConcurrencyError` it fails with.
 */
export const observe = <Type, Out>(
  duration: Metric.Metric<Type, Duration.Duration, Out>,
  aggregateType: string
) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.withFiberRuntime((fiber) => {
    if (!enabledIn(fiber)) return effect
    const clock = Context.get(fiber.currentDefaultServices, Clock.Clock)
    const start = clock.unsafeCurrentTimeNanos()
    return Effect.onExit(effect, (exit) => {
      update(fiber, duration, Duration.nanos(clock.unsafeCurrentTimeNanos() - start), aggregateType)
      if (Exit.isFailure(exit) && isConflict(exit.cause)) update(fiber, Metrics.conflicts, 1, aggregateType)
      return Effect.void
    })
  })
