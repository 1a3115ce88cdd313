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
 * A rebuild without downtime (`Running.rebuild`, `eventuali projections rebuild`) builds another
 * generation of the active version the same way: a rebuildable projection names its tables by
 * the build its events are applied to (`name(table, event.build)`: `balances_v2_g1`), creates
 * them in its `prepare` and re-points the views in its `activate` (`activate(tables, build)`).
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
import { type Build, isLater, ProjectionStore } from "@eventuali/core/ProjectionStore"
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

const buildOf = (version: number | Build): Build => typeof version === "number" ? { version, generation: 0 } : version

const checkVersion = (version: number | Build): Effect.Effect<Build, EventStoreError> => {
  const build = buildOf(version)
  return Number.isSafeInteger(build.version) && build.version >= 1 && Number.isSafeInteger(build.generation) && build.generation >= 0
    ? Effect.succeed(build)
    : Effect.fail(
      new EventStoreError({
        message: `A read model version must be a positive integer (and a generation a non-negative one), got ${JSON.stringify(version)}`
      })
    )
}

const describe = (build: Build) => build.generation === 0 ? `version ${build.version}` : `version ${build.version} generation ${build.generation}`

/**
 * The name of `table`'s version `version`: `${table}_v${version}`; of a build (`event.build`, a
 * version and rebuild generation): the same for generation 0, `${table}_v${version}_g${generation}`
 * for a rebuild.
 *
 * @since 0.1.0
 * @category names
 */
export const name = (table: string, version: number | Build): string => {
  const build = buildOf(version)
  return build.generation === 0 ? `${table}_v${build.version}` : `${table}_v${build.version}_g${build.generation}`
}

/**
 * Points the view `table` at `name(table, version)` for each of `tables` (dropping the view
 * first, so the new version may have other columns). Meant as a projection's `activate`, which
 * runs it in the transaction that records the version as active; outside a transaction it makes
 * one. Given a build (`activate: (build) => VersionedTables.activate(tables, build)`), the
 * projection is rebuildable without downtime.
 *
 * @since 0.1.0
 * @category activation
 */
export const activate = (
  tables: ReadonlyArray<string>,
  version: number | Build
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
 * Drops the tables of `version` (or of a build: a version and rebuild generation) of projection
 * `projection` — refused (`EventStoreError`, nothing dropped) unless a later build is active, so
 * the tables readers query are never dropped. Stop the old version's instances first: their
 * handlers would fail on the missing tables (after a rebuild, the instances stop the replaced
 * generation themselves within a heartbeat).
 *
 * @since 0.1.0
 * @category cleanup
 */
export const drop = (
  projection: string,
  tables: ReadonlyArray<string>,
  version: number | Build
): Effect.Effect<void, EventStoreError | DatabaseError, SqlClient.SqlClient | ProjectionStore> =>
  Effect.gen(function*() {
    const build = yield* checkVersion(version)
    yield* Effect.forEach(tables, checkName, { discard: true })
    const builds = yield* (yield* ProjectionStore).builds(projection)
    const active = Option.map(builds, (stored) => stored.active)
    if (Option.isNone(active) || !isLater(active.value, build)) {
      return yield* new EventStoreError({
        message: `Projection ${JSON.stringify(projection)}: ${describe(build)} cannot be dropped while ${
          Option.match(active, { onNone: () => "no version", onSome: describe })
        } is active; only builds older than the active one can`
      })
    }
    const sql = yield* SqlClient.SqlClient
    yield* sql.withTransaction(Effect.forEach(tables, (table) => sql`DROP TABLE IF EXISTS ${sql(name(table, build))}`, { discard: true }))
      .pipe(failedTransactionAsError, Effect.mapError(toDatabaseError("Dropping an old read model version")))
  })
