/**
 * Read model tables per projection version, behind views that readers query: rebuilds without
 * downtime on SQLite and PostgreSQL.
 *
 * Version `n` of a projection writes its tables under their versioned names (`balances_v2`,
 * {@link name}); readers query the plain name (`balances`), a view. When the new version has
 * caught up, `Projection.run` activates it in one transaction that records the active version
 * and runs {@link activate}: each view is dropped and created again over the new version's
 * table. Both databases have transactional DDL, so a reader sees the old model or the new one,
 * never an empty or partial one (PostgreSQL makes a query that arrives during the switch wait
 * for its commit; SQLite's single writer does the same in-process). The old version's tables
 * stay until {@link drop} removes them.
 *
 * Why views rather than a schema per version or renaming tables: a view is one name readers
 * already use, re-pointed by two statements in the activation's transaction; a schema per
 * version does not exist on SQLite, and renaming tables would swap names under the old version
 * while it still writes.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { type DatabaseError, EventStoreError } from "@eventuali/core/Errors"
import { ProjectionStore } from "@eventuali/core/ProjectionStore"
import { Effect, Option } from "effect"
import { failedTransactionAsError } from "./internal/errors.js"
import { toDatabaseError } from "./SqlErrors.js"

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,50}$/

const checkName = (table: string): Effect.Effect<void, EventStoreError> =>
  IDENTIFIER.test(table)
    ? Effect.void
    : Effect.fail(
      new EventStoreError({
        message: `Invalid read model table name ${JSON.stringify(table)}: use letters, digits and _ (not starting with a digit), at most 51 characters`
      })
    )

const checkVersion = (version: number): Effect.Effect<void, EventStoreError> =>
  Number.isSafeInteger(version) && version >= 1
    ? Effect.void
    : Effect.fail(new EventStoreError({ message: `A read model version must be a positive integer, got ${String(version)}` }))

/**
 * The name of `table`'s version `version`: `${table}_v${version}`.
 *
 * @since 0.1.0
 * @category names
 */
export const name = (table: string, version: number): string => `${table}_v${version}`

/**
 * Points the view `table` at `name(table, version)` for each of `tables` (dropping the view
 * first, so the new version may have other columns). Meant as a projection's `activate`, which
 * runs it in the transaction that records the version as active; outside a transaction it makes
 * one.
 *
 * @since 0.1.0
 * @category activation
 */
export const activate = (
  tables: ReadonlyArray<string>,
  version: number
): Effect.Effect<void, EventStoreError | DatabaseError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    yield* checkVersion(version)
    yield* Effect.forEach(tables, checkName, { discard: true })
    const sql = yield* SqlClient.SqlClient
    yield* sql.withTransaction(Effect.forEach(tables, (table) =>
      Effect.zipRight(
        sql`DROP VIEW IF EXISTS ${sql(table)}`,
        sql`CREATE VIEW ${sql(table)} AS SELECT * FROM ${sql(name(table, version))}`
      ), { discard: true })).pipe(failedTransactionAsError, Effect.mapError(toDatabaseError("Switching read model views")))
  })

/**
 * Drops the tables of `version` of projection `projection` — refused (`EventStoreError`,
 * nothing dropped) unless a later version is active, so the tables readers query are never
 * dropped. Stop the old version's instances first: their handlers would fail on the missing
 * tables.
 *
 * @since 0.1.0
 * @category cleanup
 */
export const drop = (
  projection: string,
  tables: ReadonlyArray<string>,
  version: number
): Effect.Effect<void, EventStoreError | DatabaseError, SqlClient.SqlClient | ProjectionStore> =>
  Effect.gen(function*() {
    yield* checkVersion(version)
    yield* Effect.forEach(tables, checkName, { discard: true })
    const active = Option.getOrElse(yield* (yield* ProjectionStore).activeVersion(projection), () => 0)
    if (active <= version) {
      return yield* new EventStoreError({
        message: `Projection ${JSON.stringify(projection)}: version ${version} cannot be dropped while version ${
          active === 0 ? "none" : active
        } is active; only versions older than the active one can`
      })
    }
    const sql = yield* SqlClient.SqlClient
    yield* sql.withTransaction(Effect.forEach(tables, (table) => sql`DROP TABLE IF EXISTS ${sql(name(table, version))}`, { discard: true }))
      .pipe(failedTransactionAsError, Effect.mapError(toDatabaseError("Dropping an old read model version")))
  })
