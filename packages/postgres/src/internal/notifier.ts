/**
 * Wakes other processes' live subscribers after appends (they LISTEN: `listen.ts`). Sent after
 * the commit, outside the append's transaction: PostgreSQL serialises the commits of notifying
 * transactions, which would undo its group commit for concurrent appends. One fiber sends them,
 * at most one per `NOTIFY_INTERVAL`: the first append after a quiet spell is notified at once,
 * and the appends that commit while a notification is on its way or within the interval after it
 * share the next one. A busy writer so pays one notification per interval rather than one per
 * few saves (a notification is a round trip and a lock on the server: measured at 10–18% of a
 * sequential save's cost when sent every other save). Inside a caller's transaction there is no
 * "after" for the store to see, so the append notifies in that transaction, and PostgreSQL
 * delivers it when the caller commits.
 */
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Duration, Effect, Queue, type Scope } from "effect"
import { retryOnClosedOrCancelled } from "./reconnect.js"
import type { Run } from "./statements.js"

/** The least time between two notifications of a busy store. */
const NOTIFY_INTERVAL = Duration.millis(5)

const liveClock = Clock.make()

/** How an append wakes other processes' subscribers. */
export interface Notifier {
  /** After an append committed on its own: wakes subscribers soon (never fails). */
  readonly afterCommit: Effect.Effect<void>
  /** After an append in the caller's transaction: wakes subscribers when it commits. */
  readonly onCommit: Effect.Effect<void, SqlError>
}

/**
 * Sends the notifications of the stores on one server: each store's channel is marked pending,
 * and one fiber sends every pending channel in one statement, at most once per
 * `NOTIFY_INTERVAL`. A tenant is a store of its own (a channel per schema): with a sender per
 * store, a server's tenants sent a notification each, so round-robin writers over 8 tenants paid
 * about one per save instead of one per interval. `PgTenants` shares one per server.
 */
export interface Sender {
  /** Marks the channel pending and wakes the sender (never fails). */
  readonly request: (channel: string) => Effect.Effect<void>
}

const notifyOne = "SELECT pg_notify($1, '')"
const notifyMany = "SELECT pg_notify(channel, '') FROM unnest($1::text[]) AS channel"

/** Starts a sender, for as long as the scope lives. */
export const sender = (run: Run): Effect.Effect<Sender, never, Scope.Scope> =>
  Effect.gen(function*() {
    const channels = new Set<string>()
    // Holds at most one request: some channel was marked since the last statement was sent.
    const pending = yield* Queue.sliding<void>(1)
    const send = Effect.suspend(() => {
      const batch = Array.from(channels)
      channels.clear()
      if (batch.length === 0) return Effect.void
      return Effect.asVoid(retryOnClosedOrCancelled(batch.length === 1 ? run(notifyOne, batch) : run(notifyMany, [batch])))
    })
    yield* Queue.take(pending).pipe(
      Effect.zipRight(send),
      Effect.catchAll((error) => Effect.logDebug("eventuali: notifying subscribers failed", error)),
      Effect.zipRight(Effect.withClock(Effect.sleep(NOTIFY_INTERVAL), liveClock)),
      Effect.forever,
      Effect.forkScoped
    )
    return {
      request: (channel) =>
        Effect.suspend(() => {
          channels.add(channel)
          return Effect.asVoid(Queue.offer(pending, undefined))
        })
    }
  })

/**
 * The notifier of a store: after a commit through `shared` (a server's sender) or a sender of its
 * own, for as long as the scope lives.
 */
export const make = (run: Run, channel: string, shared?: Sender): Effect.Effect<Notifier, never, Scope.Scope> =>
  Effect.gen(function*() {
    const own = shared ?? (yield* sender(run))
    return { afterCommit: own.request(channel), onCommit: Effect.asVoid(run(notifyOne, [channel])) }
  })
