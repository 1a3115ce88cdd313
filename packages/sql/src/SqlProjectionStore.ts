/**
 * Projection progress in the event store's database: checkpoints (`eventuali_checkpoints`), the
 * ranges each checkpoint handled with their count and digest, parked events, partition leases
 * and live instances, and each projection's partition count (tables of migration 5).
 *
 * Each batch of a projection reads its checkpoint and the log outside any transaction, and runs
 * its handler in a transaction that begins at the handler's first statement (`LazyTransaction`),
 * or at the commit for a handler that writes nothing: so a handler waiting on another service
 * holds no connection (SQLite's one, a PostgreSQL pool's). Beginning takes the checkpoint's lock
 * (PostgreSQL: a transaction-level advisory lock; SQLite: the database's write lock, taken by
 * touching the checkpoint row) and checks that the checkpoint has not moved since it was read
 * (if it has, another holder ran the batch: it is rolled back and run again from there); the
 * commit stores the new checkpoint, its range and its parked events with the handler's writes.
 * Locks held per transaction need no heartbeat: a
 * crashed holder's transaction is rolled back and its lock released by the database, and
 * another instance continues from the last committed checkpoint. Leases (see `Projection`) only
 * decide which instance works on which partition; a heartbeat (`claim`) runs in one transaction
 * behind a per-projection lock, so two instances never divide the partitions from stale views.
 *
 * Everything here is a cold path (once per batch or heartbeat): `@effect/sql` templates.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type { Fragment } from "@effect/sql/Statement"
import type { DatabaseError } from "@eventuali/core/Errors"
import * as ProjectionStore from "@eventuali/core/ProjectionStore"
import { Effect, Exit, Layer, Option } from "effect"
import { failedTransactionAsError } from "./internal/errors.js"
import { conflictKey } from "./internal/statements.js"
import * as LazyTransaction from "./LazyTransaction.js"
import { isSqlError, isStrayCancel, toDatabaseError } from "./SqlErrors.js"
import * as Tables from "./Tables.js"

/** A fixed namespace for the advisory locks of projection checkpoints on PostgreSQL. */
const PROJECTION_LOCK_CLASS = 7_368_737

/** The namespace of the locks that serialise activating a projection's versions on PostgreSQL. */
const VERSION_LOCK_CLASS = 7_368_738
/** Another, for the heartbeats that divide a projection's partitions. */
const LEASE_LOCK_CLASS = 7_368_738

type Integer = number | string | bigint

interface Row {
  readonly name: string
  readonly position: Integer
  readonly updated_at: Integer
}

const toCheckpoint = (row: Row): ProjectionStore.ProjectionCheckpoint => ({
  name: row.name,
  position: BigInt(row.position),
  updatedAt: new Date(Number(row.updated_at))
})

interface ParkedRow {
  readonly name: string
  readonly position: Integer
  readonly partition_index: Integer
  readonly event_id: string
  readonly error_tag: string
  readonly error_message: string
  readonly attempts: Integer
  readonly parked_at: Integer
  readonly retry_requested: Integer
}

const toParked = (row: ParkedRow): ProjectionStore.ParkedEvent => ({
  name: row.name,
  position: BigInt(row.position),
  partition: Number(row.partition_index),
  eventId: row.event_id,
  errorTag: row.error_tag,
  errorMessage: row.error_message,
  attempts: Number(row.attempts),
  parkedAt: new Date(Number(row.parked_at)),
  retryRequested: Number(row.retry_requested) !== 0
})

interface RangeRow {
  readonly checkpoint: string
  readonly from_position: Integer
  readonly to_position: Integer
  readonly handled: Integer
  readonly digest: string
}

const toRange = (row: RangeRow): ProjectionStore.HandledRange => ({
  checkpoint: row.checkpoint,
  fromPosition: BigInt(row.from_position),
  toPosition: BigInt(row.to_position),
  handled: Number(row.handled),
  digest: BigInt(row.digest)
})

interface InfoRow {
  readonly name: string
  readonly partitions: Integer
  readonly aggregate_types: string
  readonly event_types: string
  readonly rebuildable: Integer
}

const parseNames = (json: string): ReadonlyArray<string> => {
  try {
    const value: unknown = JSON.parse(json)
    return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []
  } catch {
    return []
  }
}

const toInfo = (row: InfoRow): ProjectionStore.ProjectionInfo => ({
  name: row.name,
  partitions: Number(row.partitions),
  aggregateTypes: parseNames(row.aggregate_types),
  eventTypes: parseNames(row.event_types),
  rebuildable: Number(row.rebuildable) !== 0
})

/**
 * A batch whose statement was cancelled though nothing here asked (`SqlErrors.isStrayCancel`: an
 * operator's `pg_cancel_backend`, or a cancel meant for an earlier statement of the connection,
 * which the PostgreSQL driver's pools no longer let arrive late) runs again, as when its checkpoint
 * moved: its transaction was rolled back. A few times, not forever.
 */
const MAX_STRAY_CANCELS = 3

/**
 * The projection store on the current `SqlClient` (tables in `schema` on PostgreSQL; `conjoined`:
 * they are one tenant's views of tables shared by tenants, see `SqlBackend.statements`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: { readonly schema?: string | undefined; readonly conjoined?: boolean | undefined } = {}
): Effect.Effect<ProjectionStore.Service, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    /** An upsert's conflict target (see `SqlBackend.conflictKey`). */
    const key = (columns: string) => sql.literal(conflictKey(columns, options.conjoined))
    const tables = Tables.identifiers(options.schema)
    const checkpoints = sql(tables.checkpoints)
    const ranges = sql(tables.ranges)
    const parked = sql(tables.parked)
    const registry = sql(tables.projections)
    const leases = sql(tables.leases)
    const instances = sql(tables.instances)
    // Checkpoints store a timestamp on PostgreSQL and epoch milliseconds on SQLite (as 0.1.0
    // made them); the newer tables store epoch milliseconds on both.
    const checkpointNow = sql.onDialectOrElse({
      pg: () => sql`now()`,
      orElse: () => sql`CAST(unixepoch('subsec') * 1000 AS INTEGER)`
    })
    const nowMillis = sql.onDialectOrElse({
      pg: () => sql`(extract(epoch FROM clock_timestamp()) * 1000)::bigint`,
      orElse: () => sql`CAST(unixepoch('subsec') * 1000 AS INTEGER)`
    })
    const updatedAt = sql.onDialectOrElse({
      pg: () => sql`(extract(epoch FROM updated_at) * 1000)::bigint AS updated_at`,
      orElse: () => sql`updated_at`
    })
    const lock = (name: string) =>
      sql.onDialectOrElse({
        pg: () => sql`SELECT pg_advisory_xact_lock(${PROJECTION_LOCK_CLASS}, hashtext(${name}))`,
        orElse: () =>
          sql`INSERT INTO ${checkpoints} (name, position, updated_at) VALUES (${name}, 0, ${checkpointNow}) ON CONFLICT (${key("name")}) DO NOTHING`
      })
    const select = (clause: Fragment) =>
      sql<Row>`SELECT name, position, ${updatedAt} FROM ${checkpoints} ${clause}`
    const named = (name: string) => select(sql`WHERE name = ${name}`)
    const setPosition = (name: string, position: bigint) =>
      Effect.gen(function*() {
        yield* sql`INSERT INTO ${checkpoints} (name, position, updated_at) VALUES (${name}, ${position.toString()}, ${checkpointNow})
          ON CONFLICT (${key("name")}) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`
        // Back to the beginning: a replay starts a new record of what was handled.
        if (position === 0n) yield* sql`DELETE FROM ${ranges} WHERE checkpoint = ${name}`
      })
    const databaseError = toDatabaseError("Projection checkpoint")
    const asDatabaseError = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      effect.pipe(failedTransactionAsError, Effect.catchIf(isSqlError, (error) => Effect.fail(databaseError(error))))

    // Versions (`activate`): a row per versioned projection. On SQLite the lock is the write lock,
    // taken by touching the row (version 0 stands for none yet).
    const versions = sql(tables.projectionVersions)
    const versionLock = (name: string) =>
      sql.onDialectOrElse({
        pg: () => sql`SELECT pg_advisory_xact_lock(${VERSION_LOCK_CLASS}, hashtext(${name}))`,
        orElse: () => sql`INSERT INTO ${versions} (name, version, activated_at) VALUES (${name}, 0, ${nowMillis}) ON CONFLICT (${key("name")}) DO NOTHING`
      })
    interface VersionRow {
      readonly version: Integer
      readonly generation: Integer
      readonly requested_generation: Integer
    }
    /** The stored row (version 0 stands for none yet: SQLite's lock writes it). */
    const readBuilds = (name: string) =>
      Effect.map(
        sql<VersionRow>`SELECT version, generation, requested_generation FROM ${versions} WHERE name = ${name}`,
        ([row]) =>
          row === undefined || Number(row.version) === 0 ? Option.none() : Option.some({
            active: { version: Number(row.version), generation: Number(row.generation) },
            requested: Number(row.requested_generation)
          })
      )
    const writeBuilds = (name: string, active: ProjectionStore.Build, requested: number) =>
      sql`INSERT INTO ${versions} (name, version, generation, requested_generation, activated_at)
        VALUES (${name}, ${active.version}, ${active.generation}, ${requested}, ${nowMillis})
        ON CONFLICT (${key("name")}) DO UPDATE SET version = excluded.version, generation = excluded.generation,
          requested_generation = excluded.requested_generation, activated_at = excluded.activated_at`
    const activateBuild = <E, R>(
      name: string,
      build: ProjectionStore.Build,
      body: Effect.Effect<void, E, R>
    ): Effect.Effect<ProjectionStore.Build, E | DatabaseError, R> =>
      asDatabaseError(sql.withTransaction(Effect.gen(function*() {
        yield* versionLock(name)
        const stored = yield* readBuilds(name)
        if (Option.isSome(stored) && !ProjectionStore.isLater(build, stored.value.active)) return stored.value.active
        yield* body
        // A new version drops a rebuild asked for of the old one; a generation keeps a later one asked for.
        const requested = Option.isSome(stored) && stored.value.active.version === build.version
          ? Math.max(stored.value.requested, build.generation)
          : build.generation
        yield* writeBuilds(name, build, requested)
        return build
      })))
    const requestRebuild = (name: string) =>
      asDatabaseError(sql.withTransaction(Effect.gen(function*() {
        yield* versionLock(name)
        const stored = yield* readBuilds(name)
        if (Option.isNone(stored)) return Option.none()
        const { active, requested } = stored.value
        const alreadyRequested = requested > active.generation
        const generation = alreadyRequested ? requested : active.generation + 1
        if (!alreadyRequested) yield* sql`UPDATE ${versions} SET requested_generation = ${generation} WHERE name = ${name}`
        return Option.some({ build: { version: active.version, generation }, alreadyRequested })
      })))

    const locked = <A, B, E, R>(
      name: string,
      body: (position: bigint) => Effect.Effect<readonly [A, Option.Option<B>], E, R>,
      commit: (from: bigint, next: B) => Effect.Effect<void, SqlError>
    ): Effect.Effect<A, E | DatabaseError, R> =>
      sql.withTransaction(Effect.gen(function*() {
        yield* lock(name)
        const [row] = yield* named(name)
        const from = row === undefined ? 0n : BigInt(row.position)
        const [result, next] = yield* body(from)
        if (Option.isSome(next)) yield* commit(from, next.value)
        return result
      })).pipe(asDatabaseError)

    /** Extends the range that ends where this batch started, or starts one (after a checkpoint moved by hand). */
    const extendRange = (name: string, from: bigint, commit: ProjectionStore.BatchCommit) =>
      Effect.gen(function*() {
        const [previous] = yield* sql<RangeRow>`SELECT checkpoint, from_position, to_position, handled, digest FROM ${ranges}
          WHERE checkpoint = ${name} AND to_position = ${from.toString()}`
        if (previous === undefined) {
          yield* sql`INSERT INTO ${ranges} ${
            sql.insert({
              checkpoint: name,
              from_position: from.toString(),
              to_position: commit.position.toString(),
              handled: commit.handled,
              digest: commit.digest.toString()
            })
          }`
          return
        }
        const range = toRange(previous)
        yield* sql`UPDATE ${ranges} SET to_position = ${commit.position.toString()}, handled = ${range.handled + commit.handled},
          digest = ${BigInt.asUintN(64, range.digest + commit.digest).toString()}
          WHERE checkpoint = ${name} AND from_position = ${previous.from_position}`
      })

    const parkedRow = (event: ProjectionStore.ParkedEvent) => ({
      name: event.name,
      position: event.position.toString(),
      partition_index: event.partition,
      event_id: event.eventId,
      error_tag: event.errorTag,
      error_message: event.errorMessage,
      attempts: event.attempts,
      parked_at: event.parkedAt.getTime(),
      retry_requested: event.retryRequested ? 1 : 0
    })

    const upsertParked = (event: ProjectionStore.ParkedEvent) =>
      sql`INSERT INTO ${parked} ${sql.insert(parkedRow(event))}
        ON CONFLICT (${key("name, position")}) DO UPDATE SET partition_index = excluded.partition_index, event_id = excluded.event_id,
          error_tag = excluded.error_tag, error_message = excluded.error_message, attempts = excluded.attempts,
          parked_at = excluded.parked_at, retry_requested = excluded.retry_requested`

    const claim = (name: string, owner: string, partitions: number, leaseMillis: number) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql.onDialectOrElse({
          pg: () => sql`SELECT pg_advisory_xact_lock(${LEASE_LOCK_CLASS}, hashtext(${name}))`,
          orElse: () => Effect.void
        })
        // On SQLite this first write takes the write lock: the rest of the heartbeat is serialised too.
        yield* sql`INSERT INTO ${instances} (name, owner, expires_at) VALUES (${name}, ${owner}, ${nowMillis} + ${leaseMillis})
          ON CONFLICT (${key("name, owner")}) DO UPDATE SET expires_at = excluded.expires_at`
        yield* sql`DELETE FROM ${instances} WHERE name = ${name} AND expires_at <= ${nowMillis}`
        yield* sql`DELETE FROM ${leases} WHERE name = ${name} AND expires_at <= ${nowMillis}`
        const [live] = yield* sql<{ readonly live: Integer }>`SELECT count(*) AS live FROM ${instances} WHERE name = ${name}`
        const share = ProjectionStore.fairShare(partitions, Number(live?.live ?? 1))
        const rows = yield* sql<{ readonly partition_index: Integer; readonly owner: string }>`
          SELECT partition_index, owner FROM ${leases} WHERE name = ${name}`
        const taken = new Set(rows.map((row) => Number(row.partition_index)))
        const mine = rows.filter((row) => row.owner === owner).map((row) => Number(row.partition_index)).sort((a, b) => a - b)
        const surplus = mine.splice(share)
        if (surplus.length > 0) {
          yield* sql`DELETE FROM ${leases} WHERE name = ${name} AND owner = ${owner} AND ${sql.in("partition_index", surplus)}`
        }
        const fresh: Array<number> = []
        for (let partition = 0; partition < partitions && mine.length + fresh.length < share; partition++) {
          if (!taken.has(partition)) fresh.push(partition)
        }
        if (fresh.length > 0) {
          yield* sql`INSERT INTO ${leases} (name, partition_index, owner, expires_at)
            SELECT ${name}, p, ${owner}, ${nowMillis} + ${leaseMillis} FROM (${
            sql.unsafe(fresh.map((partition) => `SELECT ${partition} AS p`).join(" UNION ALL "))
          }) AS fresh`
        }
        if (mine.length > 0) {
          yield* sql`UPDATE ${leases} SET expires_at = ${nowMillis} + ${leaseMillis} WHERE name = ${name} AND owner = ${owner}`
        }
        return [...mine, ...fresh].sort((a, b) => a - b)
      })).pipe(asDatabaseError)

    const commitBatch = (name: string, from: bigint, commit: ProjectionStore.BatchCommit) =>
      Effect.gen(function*() {
        yield* setPosition(name, commit.position)
        if (commit.position > from) yield* extendRange(name, from, commit)
        for (const event of commit.parked) yield* upsertParked(event)
      })

    /**
     * One try of a batch in a lazy transaction (see `withBatch`): `None` when another holder
     * moved the checkpoint after `from` was read, so that the batch is rolled back and run again.
     */
    const tryBatch = <A, E, R>(
      name: string,
      body: (position: bigint, inTransaction: ProjectionStore.InTransaction) => Effect.Effect<readonly [A, Option.Option<ProjectionStore.BatchCommit>], E, R>
    ): Effect.Effect<Option.Option<A>, E | SqlError, R> =>
      Effect.gen(function*() {
        const from = yield* Effect.map(named(name), ([row]) => row === undefined ? 0n : BigInt(row.position))
        let moved = false
        const transaction = yield* LazyTransaction.make(
          sql,
          Effect.gen(function*() {
            yield* lock(name)
            const [row] = yield* named(name)
            if ((row === undefined ? 0n : BigInt(row.position)) === from) return
            moved = true
            return yield* new SqlError({ message: `The checkpoint ${JSON.stringify(name)} moved while its batch ran: the batch runs again` })
          })
        )
        const ran = yield* Effect.exit(body(from, transaction.provide))
        if (moved) return Option.none()
        if (Exit.isFailure(ran)) return yield* Effect.failCause(ran.cause)
        const [result, next] = ran.value
        if (Option.isNone(next)) return Option.some(result)
        const committed = yield* Effect.exit(Effect.zipRight(transaction.provide(commitBatch(name, from, next.value)), transaction.commit))
        if (moved) return Option.none()
        if (Exit.isFailure(committed)) return yield* Effect.failCause(committed.cause)
        return Option.some(result)
      }).pipe(Effect.scoped)

    const untilCommitted = <A, E, R>(
      name: string,
      body: (position: bigint, inTransaction: ProjectionStore.InTransaction) => Effect.Effect<readonly [A, Option.Option<ProjectionStore.BatchCommit>], E, R>,
      cancelled = 0
    ): Effect.Effect<A, E | SqlError, R> =>
      tryBatch(name, body).pipe(
        Effect.map((outcome) => ({ outcome, strayCancel: false })),
        Effect.catchIf(
          (error: E | SqlError) => cancelled < MAX_STRAY_CANCELS && isStrayCancel(error),
          () => Effect.succeed({ outcome: Option.none<A>(), strayCancel: true })
        ),
        Effect.flatMap(({ outcome, strayCancel }) =>
          Option.match(outcome, {
            onNone: () => untilCommitted(name, body, strayCancel ? cancelled + 1 : cancelled),
            onSome: Effect.succeed
          })
        )
      )

    const service: ProjectionStore.Service = {
      withCheckpoint: (name, body) => locked(name, body, (_, position) => setPosition(name, position)),
      withBatch: (name, body) => asDatabaseError(untilCommitted(name, body)),
      get: (name) =>
        named(name).pipe(
          Effect.map(([row]) => Option.map(Option.fromNullable(row), toCheckpoint)),
          Effect.mapError(databaseError)
        ),
      list: select(sql`ORDER BY name`).pipe(
        Effect.map((rows) => rows.map(toCheckpoint)),
        Effect.mapError(databaseError)
      ),
      register: (info) =>
        Effect.gen(function*() {
          const aggregateTypes = JSON.stringify(info.aggregateTypes)
          const eventTypes = JSON.stringify(info.eventTypes)
          const rebuildable = info.rebuildable === true ? 1 : 0
          yield* sql`INSERT INTO ${registry} (name, partitions, aggregate_types, event_types, rebuildable, created_at)
            VALUES (${info.name}, ${info.partitions}, ${aggregateTypes}, ${eventTypes}, ${rebuildable}, ${nowMillis})
            ON CONFLICT (${key("name")}) DO UPDATE SET aggregate_types = excluded.aggregate_types, event_types = excluded.event_types,
              rebuildable = excluded.rebuildable
            WHERE ${registry}.partitions = excluded.partitions`
          const [row] = yield* sql<InfoRow>`SELECT name, partitions, aggregate_types, event_types, rebuildable FROM ${registry} WHERE name = ${info.name}`
          return row === undefined ? info : toInfo(row)
        }).pipe(asDatabaseError),
      projections: sql<InfoRow>`SELECT name, partitions, aggregate_types, event_types, rebuildable FROM ${registry} ORDER BY name`.pipe(
        Effect.map((rows) => rows.map(toInfo)),
        Effect.mapError(databaseError)
      ),
      claim,
      release: (name, owner) =>
        sql.withTransaction(Effect.zipRight(
          sql`DELETE FROM ${instances} WHERE name = ${name} AND owner = ${owner}`,
          sql`DELETE FROM ${leases} WHERE name = ${name} AND owner = ${owner}`
        )).pipe(Effect.asVoid, asDatabaseError),
      leases: (name) =>
        sql<{ readonly partition_index: Integer; readonly owner: string; readonly expires_at: Integer }>`
          SELECT partition_index, owner, expires_at FROM ${leases} WHERE name = ${name} AND expires_at > ${nowMillis}
          ORDER BY partition_index`.pipe(
          Effect.map((rows) =>
            rows.map((row) => ({
              name,
              partition: Number(row.partition_index),
              owner: row.owner,
              expiresAt: new Date(Number(row.expires_at))
            }))
          ),
          Effect.mapError(databaseError)
        ),
      ranges: (checkpoint) =>
        sql<RangeRow>`SELECT checkpoint, from_position, to_position, handled, digest FROM ${ranges}
          WHERE checkpoint = ${checkpoint} ORDER BY from_position`.pipe(
          Effect.map((rows) => rows.map(toRange)),
          Effect.mapError(databaseError)
        ),
      parked: (name) =>
        sql<ParkedRow>`SELECT * FROM ${parked} WHERE name = ${name} ORDER BY position`.pipe(
          Effect.map((rows) => rows.map(toParked)),
          Effect.mapError(databaseError)
        ),
      updateParked: (event) =>
        sql`UPDATE ${parked} SET error_tag = ${event.errorTag}, error_message = ${event.errorMessage},
          attempts = ${event.attempts}, retry_requested = ${event.retryRequested ? 1 : 0}
          WHERE name = ${event.name} AND position = ${event.position.toString()}`.pipe(Effect.asVoid, asDatabaseError),
      deleteParked: (name, position) =>
        sql<{ readonly position: Integer }>`DELETE FROM ${parked} WHERE name = ${name} AND position = ${position.toString()} RETURNING position`
          .pipe(Effect.map((rows) => rows.length > 0), asDatabaseError),
      activeVersion: (name) => readBuilds(name).pipe(Effect.map(Option.map((row) => row.active.version)), asDatabaseError),
      activate: (name, version, body) => Effect.map(activateBuild(name, { version, generation: 0 }, body), (active) => active.version),
      builds: (name) => readBuilds(name).pipe(Effect.map(Option.map(ProjectionStore.toBuilds)), asDatabaseError),
      activateBuild,
      requestRebuild
    }
    return service
  })

/**
 * {@link make} as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: { readonly schema?: string | undefined } = {}
): Layer.Layer<ProjectionStore.ProjectionStore, DatabaseError, SqlClient.SqlClient> =>
  Layer.effect(ProjectionStore.ProjectionStore, make(options))
