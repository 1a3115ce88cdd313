/**
 * Moving a tenant's store from one server to another while it is written: copy, verify, switch.
 *
 * 1. Copy while writers run: the source's events in position order, in batches, below the source's
 *    gap-safe horizon (no transaction still in flight can commit below it, so nothing is skipped),
 *    each batch in one target transaction. Target positions are the target's own (its transaction
 *    id in the high bits, like any append there), in the same order: the log keeps its order and
 *    appends made on the target after the switch come after it.
 * 2. Switch, writes paused: `LOCK TABLE … IN EXCLUSIVE MODE` on the source waits for appends in
 *    flight and holds new ones (reads go on); the rest is copied, both logs are compared (count
 *    and a hash of the event ids in order), snapshots copied, checkpoints rebased or dropped, the
 *    directory switched, and triggers make the source's tables refuse every later write (a writer
 *    that waited on the lock, or a process that still has the tenant open there, gets an error
 *    and opens the tenant again, on its new server). The pause is the lock's duration.
 *
 * Checkpoints: a position means nothing on another server. `rebase` maps a checkpoint to the
 * target position of the last event at or below it (every event up to it was processed, and only
 * those), for read models that moved too; `drop` (the default) removes them, so projections
 * rebuild their read models on the new server, where the tenant's own tables were not copied.
 *
 * Cold path: `@effect/sql` templates throughout.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { DatabaseError } from "@eventuali/core/Errors"
import * as Migrations from "@eventuali/sql/Migrations"
import * as SqlBackend from "@eventuali/sql/SqlBackend"
import * as SqlErrors from "@eventuali/sql/SqlErrors"
import * as Tables from "@eventuali/sql/Tables"
import { Context, Duration, Effect, Predicate } from "effect"

/** How a move goes. */
export interface Options {
  readonly tenantId: string
  readonly schema: string
  readonly source: SqlClient.SqlClient
  readonly target: SqlClient.SqlClient
  readonly checkpoints: "rebase" | "drop"
  readonly batchSize: number
  /** Records the tenant's new server (the directory), while the source is locked. */
  readonly switchDirectory: Effect.Effect<void, DatabaseError>
}

/** What a move did. */
export interface Moved {
  readonly events: number
  readonly snapshots: number
  readonly checkpoints: number
  /** How long writes to the tenant waited: the source's lock, from taken to released. */
  readonly pause: Duration.Duration
}

interface EventRow {
  readonly position: string
  readonly event_id: string
  readonly aggregate_id: string
  readonly aggregate_type: string
  readonly aggregate_version: string
  readonly event_type: string
  readonly event_version: number
  readonly data: string
  readonly metadata: string
  readonly timestamp: Date
}

/** Statements on the target run outside the source's transaction (`@effect/sql` has one transaction tag for every client). */
const outsideTransaction = <A, E>(self: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.mapInputContext(self, Context.omit(SqlClient.TransactionConnection))

const shift = SqlBackend.POSITION_SHIFT

/** What a write to a moved tenant's old copy fails with (a literal in the trigger, hence no quotes). */
export const MOVED = "eventuali: this tenant has moved to another server (see the tenant directory); open it again"

/** Whether a failure is a write refused by a moved tenant's old copy. */
export const isMoved = (error: unknown): boolean =>
  Predicate.isTagged(error, "DatabaseError") && Predicate.hasProperty(error, "message") && typeof error.message === "string" &&
  error.message.includes(MOVED)

export const move = (options: Options): Effect.Effect<Moved, DatabaseError> => {
  const { source, target } = options
  const tables = Tables.identifiers(options.schema)
  const sourceEvents = source(tables.events)
  const targetEvents = target(tables.events)
  const fail = (message: string) => Effect.fail(new DatabaseError({ message: `Moving tenant ${JSON.stringify(options.tenantId)}: ${message}` }))
  /** Source position → target position, in order: for rebasing checkpoints. */
  const sourcePositions: Array<bigint> = []
  const targetPositions: Array<bigint> = []

  /** Up to a batch of source events after `after`; `horizon` keeps to the gap-safe part of the log. */
  const readBatch = (after: bigint, horizon: boolean) =>
    source<EventRow>`SELECT position, event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version,
        data::text AS data, metadata::text AS metadata, timestamp
      FROM ${sourceEvents}
      WHERE position > ${after.toString()} ${
      horizon ? source`AND position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ${shift})` : source``
    }
      ORDER BY position LIMIT ${options.batchSize}`

  /** Writes a batch in one target transaction, with target positions in the same order. */
  const writeBatch = (rows: ReadonlyArray<EventRow>) =>
    target.withTransaction(Effect.gen(function*() {
      const [row] = yield* target<{ readonly base: string }>`SELECT (pg_current_xact_id()::text::bigint << ${shift})::text AS base`
      const base = BigInt(row!.base)
      yield* target`INSERT INTO ${targetEvents} ${
        target.insert(rows.map((event, i) => ({
          position: (base + BigInt(i + 1)).toString(),
          event_id: event.event_id,
          aggregate_id: event.aggregate_id,
          aggregate_type: event.aggregate_type,
          aggregate_version: event.aggregate_version,
          event_type: event.event_type,
          event_version: event.event_version,
          data: event.data,
          metadata: event.metadata,
          timestamp: event.timestamp
        })))
      }`
      rows.forEach((event, i) => {
        sourcePositions.push(BigInt(event.position))
        targetPositions.push(base + BigInt(i + 1))
      })
    })).pipe(outsideTransaction)

  /** Copies batches until one comes back short; returns the last copied source position. */
  const copy = (after: bigint, horizon: boolean): Effect.Effect<bigint, SqlError> =>
    Effect.flatMap(readBatch(after, horizon), (rows) =>
      rows.length === 0
        ? Effect.succeed(after)
        : Effect.zipRight(
          writeBatch(rows),
          rows.length < options.batchSize ? Effect.succeed(BigInt(rows[rows.length - 1]!.position)) : copy(BigInt(rows[rows.length - 1]!.position), horizon)
        ))

  /** The target position of the last copied event at or below a source position (0 if none). */
  const rebase = (position: bigint): bigint => {
    let low = 0
    let high = sourcePositions.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if (sourcePositions[middle]! <= position) low = middle + 1
      else high = middle
    }
    return low === 0 ? 0n : targetPositions[low - 1]!
  }

  const fingerprint = (sql: SqlClient.SqlClient) =>
    Effect.map(
      sql<{ readonly events: string; readonly ids: string | null }>`SELECT count(*)::text AS events,
        md5(string_agg(event_id, ',' ORDER BY position)) AS ids FROM ${sql(tables.events)}`,
      ([row]) => ({ events: Number(row!.events), ids: row!.ids })
    )

  const copySnapshots = Effect.gen(function*() {
    const rows = yield* source<Record<string, unknown>>`SELECT aggregate_id, aggregate_type, aggregate_version, schema_version,
      state::text AS state, created_at FROM ${source(tables.snapshots)}`
    if (rows.length > 0) yield* outsideTransaction(target`INSERT INTO ${target(tables.snapshots)} ${target.insert(rows)}`)
    return rows.length
  })

  const copyCheckpoints = Effect.gen(function*() {
    if (options.checkpoints === "drop") return 0
    const rows = yield* source<{ readonly name: string; readonly position: string; readonly updated_at: Date }>`
      SELECT name, position::text AS position, updated_at FROM ${source(tables.checkpoints)}`
    if (rows.length > 0) {
      yield* outsideTransaction(target`INSERT INTO ${target(tables.checkpoints)} ${
        target.insert(rows.map((row) => ({ name: row.name, position: rebase(BigInt(row.position)).toString(), updated_at: row.updated_at })))
      }`)
    }
    return rows.length
  })

  /** Every later write to the source's tables fails, naming the move. */
  const refuseWrites = Effect.gen(function*() {
    const refuse = source(`${options.schema}.eventuali_moved`)
    yield* source`CREATE OR REPLACE FUNCTION ${refuse}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION '${source.literal(MOVED)}'
          USING ERRCODE = 'read_only_sql_transaction';
      END $$`
    for (const table of [tables.events, tables.snapshots, tables.checkpoints]) {
      yield* source`CREATE TRIGGER eventuali_moved BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${source(table)}
        FOR EACH STATEMENT EXECUTE FUNCTION ${refuse}()`
    }
  })

  return Effect.gen(function*() {
    yield* Effect.provideService(Migrations.run({ schema: options.schema }), SqlClient.SqlClient, target)
    const already = yield* fingerprint(target)
    if (already.events > 0) {
      return yield* fail(`the target server already holds ${already.events} events in schema ${options.schema} (a move that stopped half-way?): drop that schema there first`)
    }
    const copied = yield* copy(0n, true)
    const switched = yield* source.withTransaction(Effect.gen(function*() {
      yield* source`LOCK TABLE ${sourceEvents} IN EXCLUSIVE MODE`
      const locked = yield* Effect.clockWith((clock) => clock.currentTimeNanos)
      yield* copy(copied, false)
      const [from, to] = yield* Effect.all([fingerprint(source), outsideTransaction(fingerprint(target))])
      if (from.events !== to.events || from.ids !== to.ids) {
        return yield* fail(`the copy differs from the source (${from.events} events there, ${to.events} copied); nothing was switched`)
      }
      const snapshots = yield* copySnapshots
      const checkpoints = yield* copyCheckpoints
      yield* refuseWrites
      yield* options.switchDirectory
      return { events: from.events, snapshots, checkpoints, locked }
    }))
    const released = yield* Effect.clockWith((clock) => clock.currentTimeNanos)
    return {
      events: switched.events,
      snapshots: switched.snapshots,
      checkpoints: switched.checkpoints,
      pause: Duration.nanos(released - switched.locked)
    }
  }).pipe(
    Effect.catchIf(SqlErrors.isSqlError, (error) => fail(SqlErrors.messageOf(error))),
    Effect.withSpan("PgTenants.move", { attributes: { "eventuali.tenant": options.tenantId } })
  )
}
