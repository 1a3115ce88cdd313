/**
 * Makes a one-shot read see everything committed before it, without gaps: positions are taken
 * from transaction ids (see `packages/sql/src/internal/statements.ts`), and reads return only
 * the positions below the oldest transaction still running. A transaction that started before
 * the read and commits just after it would stay invisible to the read; so the read first waits
 * (briefly) until every transaction running at its start has ended.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Duration, Effect, Schedule } from "effect"

/** How long a one-shot read waits for transactions in flight at its start. */
const CATCH_UP_LIMIT = Duration.seconds(5)

const liveClock = Clock.make()

interface Running {
  readonly xmin: string
  readonly xmax: string
}

/** The wait, on the client: `EventStorage.catchUp`. */
export const make = (sql: SqlClient.SqlClient): Effect.Effect<void, SqlError> =>
  Effect.gen(function*() {
    /** The oldest transaction still running and the next to start (as text). */
    const runningTransactions = sql<Running>`SELECT pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax
      FROM pg_current_snapshot() s`
    const [start] = yield* runningTransactions
    if (start === undefined || BigInt(start.xmin) >= BigInt(start.xmax)) return
    const horizon = BigInt(start.xmax)
    yield* runningTransactions.pipe(
      Effect.repeat({
        schedule: Schedule.exponential("1 millis", 1.5).pipe(Schedule.union(Schedule.spaced("50 millis"))),
        until: ([now]) => now === undefined || BigInt(now.xmin) >= horizon
      }),
      Effect.timeoutOption(CATCH_UP_LIMIT),
      // Waiting on the database is real time, also in tests that run on a TestClock.
      Effect.withClock(liveClock)
    )
  })
