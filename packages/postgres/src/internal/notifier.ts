/**
 * Wakes other processes' live subscribers after appends (they LISTEN: `listen.ts`). Sent after
 * the commit, outside the append's transaction: PostgreSQL serialises the commits of notifying
 * transactions, which would undo its group commit for concurrent appends. One fiber sends them:
 * a burst of appends while a notification is on its way costs one more notification, not one
 * each. Inside a caller's transaction there is no "after" for the store to see, so the append
 * notifies in that transaction, and PostgreSQL delivers it when the caller commits.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Duration, Effect, Queue, type Scope } from "effect"
import { retryOnClosedConnection } from "./reconnect.js"

/** How long the notifier gathers appends before waking other processes' subscribers. */
const NOTIFY_WINDOW = Duration.millis(2)

const liveClock = Clock.make()

/** How an append wakes other processes' subscribers. */
export interface Notifier {
  /** After an append committed on its own: wakes subscribers soon (never fails). */
  readonly afterCommit: Effect.Effect<void>
  /** After an append in the caller's transaction: wakes subscribers when it commits. */
  readonly onCommit: Effect.Effect<void, SqlError>
}

/** Starts the notifier on the client, for as long as the scope lives. */
export const make = (sql: SqlClient.SqlClient, channel: string): Effect.Effect<Notifier, never, Scope.Scope> =>
  Effect.gen(function*() {
    const notify = sql`SELECT pg_notify(${channel}, '')`
    const pending = yield* Queue.sliding<void>(1)
    yield* Queue.take(pending).pipe(
      // A short pause gathers the appends of a burst (or of a busy sequential writer) into one.
      Effect.zipRight(Effect.withClock(Effect.sleep(NOTIFY_WINDOW), liveClock)),
      Effect.zipRight(Queue.takeAll(pending)),
      Effect.zipRight(retryOnClosedConnection(notify)),
      Effect.catchAll((error) => Effect.logDebug("eventuali: notifying subscribers failed", error)),
      Effect.forever,
      Effect.forkScoped
    )
    return { afterCommit: Effect.asVoid(Queue.offer(pending, undefined)), onCommit: Effect.asVoid(notify) }
  })
