/**
 * @since 0.1.0
 */

/** Aggregates as pure folds: definitions, immutable roots, `apply`. @since 0.1.0 */
export * as Aggregate from "./Aggregate.js"

/** Checkpoints: where a subscription or projection resumes. @since 0.1.0 */
export * as Checkpoint from "./Checkpoint.js"

/** Event envelopes, metadata and the events an append takes. @since 0.1.0 */
export * as Event from "./Event.js"

/** The schema registry that decodes events by type, with aliases. @since 0.1.0 */
export * as EventRegistry from "./EventRegistry.js"

/** The persistence contract a backend implements. @since 0.1.0 */
export * as EventStorage from "./EventStorage.js"

/** The event store service tag, its operations and `make`. @since 0.1.0 */
export * as EventStore from "./EventStore.js"

/** The tagged errors of the store. @since 0.1.0 */
export * from "./Errors.js"

/** Optimistic concurrency expectations: any, noStream, streamExists, exact(n). @since 0.1.0 */
export * as ExpectedVersion from "./ExpectedVersion.js"

/** The metrics the store updates (events appended, saves, conflicts, latencies) and their switch. @since 0.1.0 */
export * as Metrics from "./Metrics.js"

/** Projections: read models folded from the log, resuming from stored checkpoints. @since 0.1.0 */
export * as Projection from "./Projection.js"

/** Retention policies applied by a background fiber on a schedule. @since 0.2.0 */
export * as Retention from "./Retention.js"

/** Inline projections: handlers in the append's transaction, a read model consistent on return. @since 0.1.0 */
export * as InlineProjection from "./InlineProjection.js"

/** Whether a store with read replicas reads on a replica or on the primary. @since 0.3.0 */
export * as ReadPreference from "./ReadPreference.js"

/** Where projections keep their checkpoints. @since 0.1.0 */
export * as ProjectionStore from "./ProjectionStore.js"

/** An in-memory store with the semantics of the SQL stores, for tests. @since 0.1.0 */
export * as InMemoryEventStore from "./InMemoryEventStore.js"

/** Command handling for deciders: load, decide, save, and decide again on conflict. @since 0.1.0 */
export * as CommandHandler from "./CommandHandler.js"

/** Correlation and causation ids carried by the fiber onto the events commands save. @since 0.1.0 */
export * as Causation from "./Causation.js"

/** Crypto-shredding of personal data: `Privacy.personal` fields, key stores, `Privacy.forget`. @since 0.2.0 */
export * as Privacy from "./Privacy.js"

/** Hiding passwords in connection strings shown in errors and logs. @since 0.1.0 */
export * as Redaction from "./Redaction.js"

/** Schema evolution: upcasters from older stored payloads to an event's current version. @since 0.1.0 */
export * as Upcaster from "./Upcaster.js"

/** Tenants: the event store of one tenant among many, opened on first use and closed when idle. @since 0.1.0 */
export * as Tenants from "./Tenants.js"
