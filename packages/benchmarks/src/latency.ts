/** Live delivery latency: from an append's acknowledgement until a subscriber has the event. */
import type * as EventStore from "@eventuali/core/EventStore"
import { Effect, Fiber, Queue, Stream } from "effect"
import { median, type Row } from "./harness.js"

export interface Latency {
  readonly p50: number
  readonly p99: number
  readonly max: number
}

/** Appends `samples` events with `writer`, one at a time, and times their arrival at `reader`'s subscription. */
export const measureLatency = (
  reader: EventStore.Service,
  writer: EventStore.Service,
  samples: number
): Effect.Effect<Latency, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const arrivals = yield* Queue.unbounded<{ readonly id: string; readonly at: number }>()
    const type = `Latency${Math.random().toString(36).slice(2, 8)}`
    const subscriber = yield* reader.subscribe({ from: "end", aggregateTypes: [type] }).pipe(
      Stream.runForEach((event) => Queue.offer(arrivals, { id: event.aggregateId, at: performance.now() })),
      Effect.forkScoped
    )
    yield* Effect.sleep("200 millis")
    const latencies: Array<number> = []
    for (let i = 0; i < samples; i++) {
      const id = `l-${i}`
      yield* writer.append(type, id, [{ eventType: "Pinged", data: { i } }])
      const sent = performance.now()
      const arrival = yield* Queue.take(arrivals).pipe(Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("no delivery in 5 s") }))
      if (arrival.id !== id) return yield* Effect.fail(new Error(`expected ${id}, got ${arrival.id}`))
      latencies.push(Math.max(0, arrival.at - sent))
      yield* Effect.sleep("5 millis")
    }
    yield* Fiber.interrupt(subscriber)
    const sorted = [...latencies].sort((a, b) => a - b)
    return { p50: median(sorted), p99: sorted[Math.floor(sorted.length * 0.99)]!, max: sorted[sorted.length - 1]! }
  }))

/** A latency's row: p50 in the table, p99 in the workload's name, target p99 under 50 ms. */
export const latencyRow = (backend: string, what: string, latency: Latency): Row => ({
  backend,
  workload: `live delivery latency, ${what} (p50; p99 ${latency.p99.toFixed(1)} ms)`,
  unit: "ms",
  ours: latency.p50,
  raw: undefined,
  ratio: undefined,
  target: "< 50 ms",
  met: latency.p99 < 50
})
