/**
 * @since 0.1.0
 */

/** The event store on an embedded SQLite database. @since 0.1.0 */
export * as SqliteEventStore from "./SqliteEventStore.js"
