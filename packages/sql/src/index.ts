/**
 * @since 0.1.0
 */

/** The event store schema and its migrations. @since 0.1.0 */
export * as Migrations from "./Migrations.js"

/** The event store over an `@effect/sql` client. @since 0.1.0 */
export * as SqlEventStore from "./SqlEventStore.js"

/** Projection checkpoints in the event store's database. @since 0.1.0 */
export * as SqlProjectionStore from "./SqlProjectionStore.js"

/** How an `@effect/sql` failure becomes the store's `DatabaseError`. @since 0.1.0 */
export * as SqlErrors from "./SqlErrors.js"

/** Synchronous access to a driver's connection, for the store's own statements. @since 0.1.0 */
export * as SyncConnection from "./SyncConnection.js"

/** The names of the store's tables and notification channel. @since 0.1.0 */
export * as Tables from "./Tables.js"
