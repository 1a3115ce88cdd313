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
import { retryOnClosedConnection } from "./reconnect.js"
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

/** Starts the notifier, for as long as the scope lives. */
export const make = (run: Run, channel: string): Effect.Effect<Notifier, never, Scope.Scope> =>
  Effect.gen(function*() {
    const notify = Effect.asVoid(run("SELECT pg_notify($1, '')", [channel]))
    // Holds at most one request: the appends that committed since the last notification was sent.
    const pending = yield* Queue.sliding<void>(1)
    yield* Queue.take(pending).pipe(
      Effect.zipRight(retryOnClosedConnection(notify)),
      Effect.catchAll((error) => Effect.logDebug("eventuali: notifying subscribers failed", error)),
      Effect.zipRight(Effect.withClock(Effect.sleep(NOTIFY_INTERVAL), liveClock)),
      Effect.forever,
      Effect.forkScoped
    )
    return { afterCommit: Effect.asVoid(Queue.offer(pending, undefined)), onCommit: notify }
  })
