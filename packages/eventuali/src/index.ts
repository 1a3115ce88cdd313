/**
 * Eventuali: event sourcing for Effect. Import everything from here.
 *
 * @since 0.1.0
 */

/** Aggregates as pure folds: definitions, immutable roots, `apply`. @since 0.1.0 */
export * as Aggregate from "@eventuali/core/Aggregate"

/** Event envelopes, metadata and the events an append takes. @since 0.1.0 */
export * as Event from "@eventuali/core/Event"

/** The schema registry that decodes events by type, with aliases. @since 0.1.0 */
export * as EventRegistry from "@eventuali/core/EventRegistry"

/** The persistence contract a backend implements. @since 0.1.0 */
export * as EventStorage from "@eventuali/core/EventStorage"

/** The event store service, with `EventStore.layer(url)` and `EventStore.create(url)`. @since 0.1.0 */
export { EventStore } from "./EventStore.js"

/** The tagged errors of the store. @since 0.1.0 */
export * from "@eventuali/core/Errors"

/** Optimistic concurrency expectations: any, noStream, streamExists, exact(n). @since 0.1.0 */
export * as ExpectedVersion from "@eventuali/core/ExpectedVersion"

/** Checkpoints: where a subscription or projection resumes. @since 0.1.0 */
export * as Checkpoint from "@eventuali/core/Checkpoint"

/** The metrics the store updates (events appended, saves, conflicts, latencies) and their switch. @since 0.1.0 */
export * as Metrics from "@eventuali/core/Metrics"

/** Projections: read models folded from the log, resuming from stored checkpoints. @since 0.1.0 */
export * as Projection from "@eventuali/core/Projection"

/** Retention policies applied by a background fiber on a schedule. @since 0.2.0 */
export * as Retention from "@eventuali/core/Retention"

/** Inline projections: handlers in the append's transaction, a read model consistent on return. @since 0.1.0 */
export * as InlineProjection from "@eventuali/core/InlineProjection"

/** Read model tables per projection version behind views: rebuilds without downtime (SQL stores). @since 0.1.0 */
export * as VersionedTables from "@eventuali/sql/VersionedTables"

/** Where projections keep their checkpoints. @since 0.1.0 */
export * as ProjectionStore from "@eventuali/core/ProjectionStore"

/** An in-memory store with the semantics of the SQL stores, for tests. @since 0.1.0 */
export * as InMemoryEventStore from "@eventuali/core/InMemoryEventStore"

/** Command handling for deciders: load, decide, save, and decide again on conflict. @since 0.1.0 */
export * as CommandHandler from "@eventuali/core/CommandHandler"

/** Whether a store with read replicas reads on a replica or on the primary. @since 0.3.0 */
export * as ReadPreference from "@eventuali/core/ReadPreference"

/** Correlation and causation ids carried by the fiber onto the events commands save. @since 0.1.0 */
export * as Causation from "@eventuali/core/Causation"

/** Tenants: the event store of one tenant among many, opened on first use and closed when idle. @since 0.1.0 */
export * as Tenants from "@eventuali/core/Tenants"

/** Crypto-shredding of personal data: `Privacy.personal` fields, `Privacy.forget`, `Privacy.rotate`, key stores. @since 0.2.0 */
export * as Privacy from "@eventuali/core/Privacy"

/** AES-256-GCM from `node:crypto`: the cipher of personal data (`Privacy.Cipher`). @since 0.2.0 */
export * as NodeCipher from "@eventuali/core/NodeCipher"

/** Schema evolution: upcasters from older stored payloads to an event's current version. @since 0.1.0 */
export * as Upcaster from "@eventuali/core/Upcaster"

/** Connection strings: parsing and redaction. @since 0.1.0 */
export * as ConnectionString from "./ConnectionString.js"
