/**
 * Reads on streaming replicas (`PgEventStoreConfig.replicas`): which reads may go to a replica,
 * read-your-writes, and falling back to the primary. The rules, and why (docs/guides/scaling.md,
 * "Read replicas"):
 *
 * - Only the store's reads of events and snapshots go to a replica (`Backend` names them), outside
 *   a caller's transaction, when the fiber's `ReadPreference` (else the store's `readFrom`) allows.
 *   Appends, the stream head a refused append is explained with, versions, key lookups and every
 *   write stay on the primary.
 * - Gap-safe on a replica as on the primary: reads return positions below the oldest transaction
 *   the replica's snapshot holds as running (`pg_snapshot_xmin`). On a hot standby that snapshot
 *   is the primary's transactions as replayed: an id that wrote WAL, and every lower id not yet
 *   seen to end (the standby counts them as running when a higher id appears), stay "running"
 *   until their commit or abort is replayed. `pg_visible_in_snapshot` is NOT usable there (a
 *   standby's snapshot keeps its running ids out of the `xip` list it exports), xmin is.
 * - Read-your-writes: the fiber's appends record their transaction id (the high bits of their
 *   positions) in a `FiberRef` of the store; a read on a replica first waits until the replica's
 *   xmin is past it — every transaction up to the fiber's own has ended there — for at most
 *   `replicaWaitTimeout`, then runs on the primary. No round trip is added to appends, and a
 *   fiber that has not written pays nothing. The data lifecycle's removals (delete, truncate,
 *   retention, archive) have no position to tell their transaction: each one that removed
 *   something asks the primary (one round trip, on a cold path) for its transaction id inside a
 *   caller's transaction, else for the next id to be assigned (the removal's is below it; waiting
 *   for every lower one to end may also wait for transactions that began meanwhile), and records
 *   it the same way.
 * - A replica that fails a read (stopped, restarting, a recovery conflict) is left alone for
 *   `RETRY_AFTER` and the read runs on the primary: positions are the same on both servers and
 *   each returns a gap-free prefix of the log, so a subscription may move between them.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { DatabaseError } from "@eventuali/core/Errors"
import * as Metrics from "@eventuali/core/Metrics"
import * as ReadPreference from "@eventuali/core/ReadPreference"
import * as Redaction from "@eventuali/core/Redaction"
import * as SqlBackend from "@eventuali/sql/SqlBackend"
import { Clock, Duration, Effect, FiberRef, Metric, Option, Schedule, type Scope, Stream } from "effect"
import * as CatchUp from "./catchUp.js"
import * as Connect from "./connect.js"
import * as Pool from "./pool.js"
import { retryOnClosedOrCancelled } from "./reconnect.js"
import * as Statements from "./statements.js"
import type { Run } from "./statements.js"

/** How long a replica that failed a read is left alone (its reads run on the primary). */
const RETRY_AFTER = Duration.seconds(1)

/** How long a wake-up waits for the replicas to replay what woke it. */
const WAKE_UP_WAIT = Duration.seconds(1)

const liveClock = Clock.make()

/** Why a replica read ran on the primary (`Metrics.fallbackReasonLabel`). */
type FallbackReason = "error" | "lag" | "unavailable"

const fallbacks = {
  error: Metrics.replicaFallbacks.pipe(Metric.tagged(Metrics.fallbackReasonLabel, "error")),
  lag: Metrics.replicaFallbacks.pipe(Metric.tagged(Metrics.fallbackReasonLabel, "lag")),
  unavailable: Metrics.replicaFallbacks.pipe(Metric.tagged(Metrics.fallbackReasonLabel, "unavailable"))
}

/** Counts a fallback to the primary, when the store's metrics are on. */
const countFallback = (reason: FallbackReason) =>
  Effect.flatMap(Metrics.Enabled, (enabled) => enabled ? Metric.increment(fallbacks[reason]) : Effect.void)

/** How the replicas are opened and used. */
export interface Options {
  readonly urls: ReadonlyArray<string>
  readonly settings: Connect.Settings
  /** The store's default: reads on a replica, or on the primary unless an effect asks otherwise. */
  readonly readFrom: "replica" | "primary"
  /** How long a read waits for a replica to catch up with the fiber's own appends. */
  readonly waitTimeout: Duration.Duration
  /** The primary's pool, for its WAL position (the wake-ups). */
  readonly primary: Run
}

/** One replica: its pool and its state. */
interface Replica {
  readonly shown: string
  readonly run: Run
  readonly catchUp: Effect.Effect<void, SqlError>
  /** Every transaction id below this has ended on the replica (its snapshot's xmin, as last seen). */
  ended: bigint
  /** Until when (ms) reads skip the replica, after a failure or a read-your-writes wait that timed out. */
  skipUntil: number
}

/** The replicas of a store. */
export interface Replicas {
  /** Runs a read on a replica when the fiber may read there, else `onPrimary`. */
  readonly read: <A>(onReplica: (replica: Target) => Effect.Effect<A, SqlError>, onPrimary: Effect.Effect<A, SqlError>) => Effect.Effect<A, SqlError>
  /** Records that the fiber appended at `position` (read-your-writes). */
  readonly wrote: (position: bigint) => Effect.Effect<void>
  /**
   * Records that the fiber has just removed events or a snapshot on the primary (read-your-writes),
   * in the caller's transaction when `inTransaction`.
   */
  readonly removed: (inTransaction: boolean) => Effect.Effect<void, SqlError>
  /** The primary's wake-ups, each passed on once the replicas replayed what it announced. */
  readonly wakeUps: (primary: Stream.Stream<void>) => Stream.Stream<void>
  /** Refuses every request waiting for a replica connection, and every later one (see `pool.ts`). */
  readonly refuseWaiters: () => void
}

/** What a read runs on a replica. */
export interface Target {
  readonly run: Run
  readonly catchUp: Effect.Effect<void, SqlError>
}

interface XminRow {
  readonly xmin: string
}

const XMIN = "SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin"

interface RemovalRow {
  /** The transaction's own id, if it has one (it wrote). */
  readonly own: string | null
  /** The next transaction id to be assigned. */
  readonly next: string
}

const REMOVAL = "SELECT pg_current_xact_id_if_assigned()::text AS own, pg_snapshot_xmax(pg_current_snapshot())::text AS next"

/** The replica settings of the public configurations (`PgEventStoreConfig`, `PgTenantsConfig`). */
export interface Settings extends Connect.Settings {
  readonly readFrom?: "replica" | "primary" | undefined
  readonly replicaWaitTimeout?: Duration.DurationInput | undefined
}

/**
 * The settings refused before anything is opened: the pool's (`Connect.checkSettings`), a
 * `readFrom` other than "replica" or "primary", a `replicaWaitTimeout` that is not a positive
 * duration.
 */
export const checkSettings = (settings: Settings): Effect.Effect<void, DatabaseError> =>
  Effect.zipRight(
    Connect.checkSettings(settings),
    settings.readFrom === undefined || settings.readFrom === "replica" || settings.readFrom === "primary"
      ? Connect.checkDuration("replicaWaitTimeout", settings.replicaWaitTimeout)
      : Effect.fail(new DatabaseError({ message: `Invalid readFrom ${JSON.stringify(settings.readFrom)}: it must be "replica" or "primary"` }))
  )

/**
 * The replicas of a primary (`sql` and `pool`) at `urls` (without `?schema=`), with the documented
 * defaults; none when `urls` is empty.
 */
export const open = (
  sql: SqlClient.SqlClient,
  pool: Pool.StorePool,
  urls: ReadonlyArray<string>,
  settings: Settings
): Effect.Effect<Replicas | undefined, never, Scope.Scope> =>
  urls.length === 0 ? Effect.succeed(undefined) : make(sql, {
    urls,
    settings,
    readFrom: settings.readFrom ?? "replica",
    waitTimeout: Duration.decode(settings.replicaWaitTimeout ?? Duration.millis(500)),
    primary: Statements.make(sql, pool, { prepared: settings.preparedStatements ?? true })
  })

/** Opens the replicas' pools (lazily: a replica down at start-up does not stop the store). */
export const make = (
  sql: SqlClient.SqlClient,
  options: Options
): Effect.Effect<Replicas, never, Scope.Scope> =>
  Effect.gen(function*() {
    const replicas: Array<Replica> = []
    const pools: Array<Pool.StorePool> = []
    for (const url of options.urls) {
      const settings = Connect.options(url, options.settings)
      const pool = yield* Pool.make({
        url,
        max: settings.maxConnections,
        applicationName: settings.applicationName,
        connectTimeoutMillis: Duration.toMillis(settings.connectTimeout),
        waitTimeoutMillis: Duration.toMillis(settings.connectionWaitTimeout)
      })
      pools.push(pool)
      const client = yield* Connect.clientOf(pool)
      replicas.push({
        shown: Redaction.redactUrl(url),
        // Replica reads never run in a caller's transaction (`read` sends those to the primary),
        // so the runner's in-transaction client is never this one's.
        run: Statements.make(sql, pool, { prepared: options.settings.preparedStatements ?? true }),
        catchUp: CatchUp.make(client),
        ended: 0n,
        skipUntil: 0
      })
    }
    /** The transaction id of the fiber's newest append on this store (0: none). */
    const lastWrite = FiberRef.unsafeMake(0n, { fork: (id) => id, join: (parent, child) => parent > child ? parent : child })
    let next = 0

    const now = Effect.withClock(Clock.currentTimeMillis, liveClock)

    const skip = (replica: Replica, why: string, cause?: unknown) =>
      Effect.flatMap(now, (at) => {
        replica.skipUntil = at + Duration.toMillis(RETRY_AFTER)
        return Effect.logWarning(`eventuali: reading on the primary for ${Duration.format(RETRY_AFTER)}: replica ${replica.shown} ${why}`).pipe(
          Effect.annotateLogs(cause === undefined ? {} : { cause: String(cause) })
        )
      })

    /** The next replica not skipped, round robin. */
    const pick = (at: number): Replica | undefined => {
      for (let i = 0; i < replicas.length; i++) {
        const replica = replicas[(next + i) % replicas.length]!
        if (replica.skipUntil <= at) {
          next = (next + i + 1) % replicas.length
          return replica
        }
      }
      return undefined
    }

    const xminOf = (replica: Replica) =>
      Effect.map(retryOnClosedOrCancelled(replica.run<XminRow>(XMIN, [])), ([row]) => {
        const xmin = BigInt(row?.xmin ?? 0)
        if (xmin > replica.ended) replica.ended = xmin
        return replica.ended
      })

    /** Whether the replica has ended the fiber's own transactions, waiting at most `waitTimeout`. */
    const caughtUp = (replica: Replica, written: bigint): Effect.Effect<boolean, SqlError> =>
      written < replica.ended ? Effect.succeed(true) : xminOf(replica).pipe(
        Effect.repeat({
          schedule: Schedule.exponential("1 millis", 1.5).pipe(Schedule.union(Schedule.spaced("20 millis"))),
          until: (ended) => written < ended
        }),
        Effect.timeoutOption(options.waitTimeout),
        Effect.map(Option.isSome),
        Effect.withClock(liveClock)
      )

    const read: Replicas["read"] = (onReplica, onPrimary) =>
      Effect.gen(function*() {
        const preference = yield* FiberRef.get(ReadPreference.current)
        const from = preference === "store" ? options.readFrom : preference
        if (from === "primary") return yield* onPrimary
        const replica = pick(yield* now)
        if (replica === undefined) {
          yield* countFallback("unavailable")
          return yield* onPrimary
        }
        const written = yield* FiberRef.get(lastWrite)
        const outcome = yield* Effect.either(
          Effect.flatMap(caughtUp(replica, written), (ready) => ready ? Effect.map(onReplica(replica), Option.some) : Effect.succeedNone)
        )
        if (outcome._tag === "Left") {
          yield* skip(replica, "failed a read", outcome.left.cause)
          yield* countFallback("error")
          return yield* onPrimary
        }
        if (Option.isNone(outcome.right)) {
          yield* skip(replica, `had not replayed this fiber's own writes within ${Duration.format(options.waitTimeout)}`)
          yield* countFallback("lag")
          return yield* onPrimary
        }
        return outcome.right.value
      })

    /** Waits (bounded) until every replica not skipped has replayed the primary's WAL as of now. */
    const replayed = Effect.gen(function*() {
      const [row] = yield* options.primary<{ readonly lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn", [])
      if (row === undefined) return
      const at = yield* now
      yield* Effect.forEach(
        replicas.filter((replica) => replica.skipUntil <= at),
        (replica) =>
          replica.run<{ readonly done: boolean }>("SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, true) AS done", [row.lsn]).pipe(
            Effect.repeat({
              schedule: Schedule.exponential("1 millis", 1.5).pipe(Schedule.union(Schedule.spaced("20 millis"))),
              until: ([done]) => done?.done !== false
            }),
            Effect.timeoutOption(WAKE_UP_WAIT)
          ),
        { concurrency: "unbounded", discard: true }
      )
    }).pipe(Effect.ignore, Effect.withClock(liveClock))

    const recordTransaction = (id: bigint) => FiberRef.update(lastWrite, (last) => id > last ? id : last)

    return {
      read,
      wrote: (position) => recordTransaction(position >> BigInt(SqlBackend.POSITION_SHIFT)),
      removed: (inTransaction) =>
        Effect.flatMap(retryOnClosedOrCancelled(options.primary<RemovalRow>(REMOVAL, [])), ([row]) => {
          if (row === undefined) return Effect.void
          // In a caller's transaction: its own id (none if it wrote nothing). Outside, the removal
          // has committed with an id below the next one, which is as far as the primary can say.
          if (inTransaction) return row.own === null ? Effect.void : recordTransaction(BigInt(row.own))
          return recordTransaction(BigInt(row.next) - 1n)
        }),
      // Replicas get no notifications (NOTIFY is not replayed on a standby): the primary's wake
      // them, once the replicas have what woke them, or a subscriber would re-read too early and
      // then wait for the poll interval.
      wakeUps: (primary) => Stream.mapEffect(primary, () => replayed),
      refuseWaiters: () => {
        for (const pool of pools) pool.refuseWaiters()
      }
    }
  })
