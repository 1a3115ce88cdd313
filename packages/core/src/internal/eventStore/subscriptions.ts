/**
 * Subscriptions: catch-up then live. The subscription loop reads the log page after page from its
 * cursor; when it is caught up it waits for a wake-up (this store's own appends, or the backend's
 * notifications from other processes) or the poll interval, whichever comes first, and reads again.
 */
import { Chunk, Clock, Duration, Effect, PubSub, Queue, RcRef, type Scope, Stream } from "effect"
import * as Checkpoint from "../../Checkpoint.js"
import type * as EventRegistry from "../../EventRegistry.js"
import type { EventStorage, ReadAllOptions } from "../../EventStorage.js"
import type { ReadError, Service, SubscriptionEvent } from "../../EventStore.js"
import * as Observability from "../observability.js"
import * as Validate from "../validate.js"
import { annotateEventCount, decodeEnvelopes } from "./envelopes.js"
import { readAttributes, validateFilters } from "./logReads.js"

/** Events a subscription reads per query, unless told (`SubscribeOptions.batchSize`). */
const DEFAULT_SUBSCRIPTION_PAGE_SIZE = 500

/** How often a caught-up subscription looks for events nobody signalled, unless told (`StoreOptions.pollInterval`). */
export const DEFAULT_POLL_INTERVAL = Duration.millis(250)

const liveClock = Clock.make()

/** How long the backend's notifications are still listened to after the last subscriber left. */
const LISTEN_AFTER_LAST_SUBSCRIBER = Duration.seconds(30)

/**
 * The wake-ups of live subscribers: this store's appends publish to `wakeUps`, and so does every
 * notification the backend sends about other processes' appends while `listening` is held (for
 * as long as its scope is open, and a while after, so that a projection waiting batch after batch
 * does not start and stop listening each time). A subscriber only needs to know that something
 * happened since it last read, so one pending signal per subscriber is enough.
 *
 * Listened to only while someone subscribes: a process that only writes and loads receives no
 * notifications, not even of its own appends (PostgreSQL: no `LISTEN`, so every notification
 * would otherwise reach it too — a measured cost on every sequential save).
 */
export const makeWakeUps = (
  storage: EventStorage
): Effect.Effect<{ readonly wakeUps: PubSub.PubSub<void>; readonly listening: Effect.Effect<void, never, Scope.Scope> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const wakeUps = yield* PubSub.sliding<void>(1)
    const notifications = storage.notifications
    if (notifications === undefined) return { wakeUps, listening: Effect.void }
    const listener = yield* RcRef.make({
      acquire: Effect.forkScoped(Stream.runForEach(notifications, () => PubSub.publish(wakeUps, undefined))),
      idleTimeToLive: LISTEN_AFTER_LAST_SUBSCRIBER
    })
    return { wakeUps, listening: Effect.asVoid(RcRef.get(listener)) }
  })

export const subscribe = (
  storage: EventStorage,
  registry: EventRegistry.EventRegistry,
  wakeUps: PubSub.PubSub<void>,
  listening: Effect.Effect<void, never, Scope.Scope>,
  pollInterval: Duration.Duration
): Service["subscribe"] =>
(options = {}) =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const batchSize = options.batchSize ?? DEFAULT_SUBSCRIPTION_PAGE_SIZE
    yield* Validate.positiveInt("batch size", batchSize)
    yield* validateFilters(options)
    // Subscribe to wake-ups before the first read, so none can fall between a read and the wait.
    const subscription = yield* PubSub.subscribe(wakeUps)
    // The backend wakes this store once it listens, for what was appended before.
    yield* listening
    const from = options.from ?? "beginning"
    const start = from === "beginning"
      ? 0n
      : from === "end"
      ? yield* storage.head
      : yield* Effect.flatMap(Checkpoint.toPosition(from), Validate.position)
    const filter = { aggregateTypes: options.aggregateTypes, eventTypes: options.eventTypes, limit: batchSize }
    return Stream.repeatEffectChunk(nextPage(storage, registry, subscription, pollInterval, filter, start))
  }))

/**
 * The subscription loop: each run returns the next non-empty page after the cursor, waiting for
 * a wake-up or the poll interval while there is none, and moves the cursor past it.
 */
const nextPage = (
  storage: EventStorage,
  registry: EventRegistry.EventRegistry,
  subscription: Queue.Dequeue<void>,
  pollInterval: Duration.Duration,
  filter: Omit<ReadAllOptions, "fromPosition">,
  start: bigint
): Effect.Effect<Chunk.Chunk<SubscriptionEvent>, ReadError> => {
  let cursor = start
  return Effect.gen(function*() {
    while (true) {
      // Whatever was signalled before this read is covered by it.
      yield* Queue.takeAll(subscription)
      const page = yield* storage.readAll({ ...filter, fromPosition: cursor }).pipe(
        Effect.flatMap((events) => decodeEnvelopes(registry, events)),
        Effect.tap(annotateEventCount),
        Observability.span("EventStore.subscribe.page", readAttributes(cursor, filter))
      )
      if (page.length > 0) {
        cursor = page[page.length - 1]!.position
        return Chunk.unsafeFromArray(page.map((event) => ({ ...event, checkpoint: Checkpoint.fromPosition(event.position) })))
      }
      // Polling other processes is real time, also in tests that run on a TestClock.
      yield* Effect.raceFirst(Queue.take(subscription), Effect.withClock(Effect.sleep(pollInterval), liveClock))
    }
  })
}
