/**
 * Makes a one-shot read see everything committed before it, without gaps: positions are taken
 * from transaction ids (see `packages/sql/src/internal/statements.ts`), and reads return only
 * the positions below the oldest transaction still running. A transaction that started before
 * the read and commits just after it would stay invisible to the read; so the read first waits
 * (briefly) until every transaction running at its start has ended.
 *
 * "Every transaction" is every transaction of the server holding a transaction id, also one that
 * never touches the store's tables (another schema, another database): nothing tells a
 * transaction that will append later (it got its id writing elsewhere, and appends at the end,
 * with a position from that id) from one that never will, so no reader may pass it. The wait is
 * bounded, measured (`Metrics.catchUpWait`, `Metrics.catchUpTimeouts`), and a read that gives up
 * names the transaction holding it back; the server settings that bound such transactions are in
 * docs/guides/postgresql.md.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Metrics from "@eventuali/core/Metrics"
import { Clock, Duration, Effect, Metric, Option, Schedule } from "effect"

/** How long a one-shot read waits for transactions in flight at its start. */
const CATCH_UP_LIMIT = Duration.seconds(5)

const liveClock = Clock.make()

interface Running {
  readonly xmin: string
  readonly xmax: string
}

interface Holder {
  readonly pid: number
  readonly datname: string | null
  readonly application_name: string | null
  readonly state: string | null
  readonly seconds: number | null
}

/** The wait, on the client: `EventStorage.catchUp`. */
export const make = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> => {
  /** The oldest transaction still running and the next to start (as text). */
  const runningTransactions = sql<Running>`SELECT pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax
    FROM pg_current_snapshot() s`
  /** The oldest transaction holding an id: the one readers wait for (when this role may see it). */
  const oldestTransaction = sql<Holder>`SELECT pid, datname, application_name, state,
      extract(epoch FROM now() - xact_start)::float8 AS seconds
    FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()
    ORDER BY age(backend_xid) DESC LIMIT 1`

  const reportHolder = Effect.flatMap(oldestTransaction, ([holder]) =>
    Effect.logWarning(
      `eventuali: a read stopped waiting after ${Duration.format(CATCH_UP_LIMIT)} for a transaction still open; ` +
        "until it ends, readers of the store do not see events committed after it began " +
        "(bound it with idle_in_transaction_session_timeout or transaction_timeout: see the PostgreSQL guide)"
    ).pipe(Effect.annotateLogs(holder === undefined ? {} : { ...holder }))).pipe(Effect.ignore)

  return Effect.gen(function*() {
    const [start] = yield* runningTransactions
    if (start === undefined || BigInt(start.xmin) >= BigInt(start.xmax)) return
    const horizon = BigInt(start.xmax)
    const startedAt = yield* Clock.currentTimeMillis
    const caughtUp = yield* runningTransactions.pipe(
      Effect.repeat({
        schedule: Schedule.exponential("1 millis", 1.5).pipe(Schedule.union(Schedule.spaced("50 millis"))),
        until: ([now]) => now === undefined || BigInt(now.xmin) >= horizon
      }),
      Effect.timeoutOption(CATCH_UP_LIMIT)
    )
    if (yield* Metrics.Enabled) {
      yield* Metric.update(Metrics.catchUpWait, (yield* Clock.currentTimeMillis) - startedAt)
      if (Option.isNone(caughtUp)) yield* Metric.increment(Metrics.catchUpTimeouts)
    }
    if (Option.isNone(caughtUp)) yield* reportHolder
  }).pipe(
    // Waiting on the database is real time, also in tests that run on a TestClock.
    Effect.withClock(liveClock)
  )
}
