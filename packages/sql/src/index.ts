/**
 * @since 0.1.0
 */

/** The event store schema and its migrations. @since 0.1.0 */
export * as Migrations from "./Migrations.js"

/** What a driver hands the shared SQL store: its database's append, reads and waits. @since 0.1.0 */
export * as SqlBackend from "./SqlBackend.js"

/** The event store on a SQL database, built from a driver's client and backend. @since 0.1.0 */
export * as SqlEventStore from "./SqlEventStore.js"

/** Projection checkpoints in the event store's database. @since 0.1.0 */
export * as SqlProjectionStore from "./SqlProjectionStore.js"

/** How an `@effect/sql` failure becomes the store's `DatabaseError`. @since 0.1.0 */
export * as SqlErrors from "./SqlErrors.js"

/** The names of the store's tables and notification channel. @since 0.1.0 */
export * as Tables from "./Tables.js"

/** The data subjects' keys of personal data (`Privacy`) in the store's database. @since 0.2.0 */
export * as SqlKeyStore from "./SqlKeyStore.js"

/** Read model tables per projection version behind views: rebuilds without downtime. @since 0.1.0 */
export * as VersionedTables from "./VersionedTables.js"

/** A transaction that begins at its first statement (a projection batch's). @since 0.2.0 */
export * as LazyTransaction from "./LazyTransaction.js"
