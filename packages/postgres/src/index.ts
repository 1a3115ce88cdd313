/**
 * @since 0.1.0
 */

/** The event store on PostgreSQL. @since 0.1.0 */
export * as PgEventStore from "./PgEventStore.js"
