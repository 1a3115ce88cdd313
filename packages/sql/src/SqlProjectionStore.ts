/**
 * Projection checkpoints in the event store's database (`eventuali_checkpoints`). Each batch of a
 * projection runs in one transaction that first takes the projection's lock (PostgreSQL: a
 * transaction-level advisory lock; SQLite: the database's write lock, taken by touching the
 * checkpoint row), re-reads the checkpoint, runs the handler and stores the new checkpoint.
 * Locks held per transaction need no lease and no heartbeat: a crashed holder's transaction is
 * rolled back and its lock released by the database, and another instance continues from the
 * last committed checkpoint.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { Fragment } from "@effect/sql/Statement"
import type { DatabaseError } from "@eventuali/core/Errors"
import * as ProjectionStore from "@eventuali/core/ProjectionStore"
import { Effect, Layer, Option } from "effect"
import { failedTransactionAsError } from "./internal/errors.js"
import { isSqlError, toDatabaseError } from "./SqlErrors.js"
import * as Tables from "./Tables.js"

/** A fixed namespace for the advisory locks of projections on PostgreSQL. */
const PROJECTION_LOCK_CLASS = 7_368_737

interface Row {
  readonly name: string
  readonly position: number | string | bigint
  readonly updated_at: number | string
}

const toCheckpoint = (row: Row): ProjectionStore.ProjectionCheckpoint => ({
  name: row.name,
  position: BigInt(row.position),
  updatedAt: new Date(Number(row.updated_at))
})

/**
 * The projection store on the current `SqlClient` (tables in `schema` on PostgreSQL).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: { readonly schema?: string | undefined } = {}
): Effect.Effect<ProjectionStore.Service, never, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const checkpoints = sql(Tables.identifiers(options.schema).checkpoints)
    // Stored as a timestamp on PostgreSQL, as epoch milliseconds on SQLite; read as milliseconds.
    const now = sql.onDialectOrElse({
      pg: () => sql`now()`,
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
          sql`INSERT INTO ${checkpoints} (name, position, updated_at) VALUES (${name}, 0, ${now}) ON CONFLICT (name) DO NOTHING`
      })
    const select = (clause: Fragment) =>
      sql<Row>`SELECT name, position, ${updatedAt} FROM ${checkpoints} ${clause}`
    const named = (name: string) => select(sql`WHERE name = ${name}`)
    const upsert = (name: string, position: bigint) =>
      sql`INSERT INTO ${checkpoints} (name, position, updated_at) VALUES (${name}, ${position.toString()}, ${now})
        ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at`
    const databaseError = toDatabaseError("Projection checkpoint")

    const withCheckpoint = <A, E, R>(
      name: string,
      body: (position: bigint) => Effect.Effect<readonly [A, Option.Option<bigint>], E, R>
    ): Effect.Effect<A, E | DatabaseError, R> =>
      sql.withTransaction(Effect.gen(function*() {
        yield* lock(name)
        const [row] = yield* named(name)
        const [result, next] = yield* body(row === undefined ? 0n : BigInt(row.position))
        if (Option.isSome(next)) yield* upsert(name, next.value)
        return result
      })).pipe(failedTransactionAsError, Effect.catchIf(isSqlError, (error) => Effect.fail(databaseError(error))))

    const service: ProjectionStore.Service = {
      withCheckpoint,
      get: (name) =>
        named(name).pipe(
          Effect.map(([row]) => Option.map(Option.fromNullable(row), toCheckpoint)),
          Effect.mapError(databaseError)
        ),
      list: select(sql`ORDER BY name`).pipe(
        Effect.map((rows) => rows.map(toCheckpoint)),
        Effect.mapError(databaseError)
      )
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
