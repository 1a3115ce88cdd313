/**
 * @since 0.1.0
 */

/** The conformance suite every event store layer must pass: `EventStoreConformance.run(name, layer)`. @since 0.1.0 */
export * as EventStoreConformance from "./EventStoreConformance.js"

/** Exactly-once read models for SQL-backed stores: `SqlReadModelConformance.run(name, layer)`. @since 0.1.0 */
export * as SqlReadModelConformance from "./SqlReadModelConformance.js"
