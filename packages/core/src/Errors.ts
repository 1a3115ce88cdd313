/**
 * The tagged failures of the event store. Every store operation fails with one of these in its
 * error channel; none is ever thrown.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import * as ExpectedVersion from "./ExpectedVersion.js"

/**
 * A store operation could not be carried out: invalid input (an empty id, an aggregate id that
 * belongs to another aggregate type, a registration that is not a Schema) or an inconsistency
 * found in stored data.
 *
 * @since 0.1.0
 * @category errors
 */
export class EventStoreError extends Schema.TaggedError<EventStoreError>()("EventStoreError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * An append or save expected the aggregate at one version, but the store holds another.
 * `actualVersion` is read from the store (0 when the aggregate does not exist).
 *
 * @since 0.1.0
 * @category errors
 */
export class OptimisticConcurrencyError extends Schema.TaggedError<OptimisticConcurrencyError>()(
  "OptimisticConcurrencyError",
  {
    aggregateId: Schema.String,
    expectedVersion: ExpectedVersion.ExpectedVersion,
    actualVersion: Schema.Number
  }
) {
  override get message(): string {
    return `Aggregate ${JSON.stringify(this.aggregateId)}: expected ${
      ExpectedVersion.format(this.expectedVersion)
    }, but its version is ${this.actualVersion}`
  }
}

/**
 * The database could not be reached or failed: a bad connection string, a missing file, a
 * server that went away, a full disk. Never contains a password.
 *
 * @since 0.1.0
 * @category errors
 */
export class DatabaseError extends Schema.TaggedError<DatabaseError>()("DatabaseError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * An event could not be encoded for storage (its payload is not representable as JSON, or does
 * not match its schema), or a stored payload no longer decodes with the registered schema.
 *
 * @since 0.1.0
 * @category errors
 */
export class SerializationError extends Schema.TaggedError<SerializationError>()("SerializationError", {
  eventType: Schema.String,
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * `loadOrFail` found no events for the aggregate.
 *
 * @since 0.1.0
 * @category errors
 */
export class AggregateNotFoundError extends Schema.TaggedError<AggregateNotFoundError>()(
  "AggregateNotFoundError",
  {
    aggregateType: Schema.String,
    aggregateId: Schema.String
  }
) {
  override get message(): string {
    return `${this.aggregateType} ${JSON.stringify(this.aggregateId)} not found`
  }
}

/**
 * An inline projection's handler failed on an event of a save (see `InlineProjection`): the save
 * was rolled back, so neither its events nor what the handlers wrote are stored.
 *
 * @since 0.1.0
 * @category errors
 */
export class InlineProjectionError extends Schema.TaggedError<InlineProjectionError>()("InlineProjectionError", {
  /** The inline projection whose handler failed. */
  projection: Schema.String,
  /** The event it failed on (not stored). */
  eventId: Schema.String,
  eventType: Schema.String,
  message: Schema.String,
  /** What the handler failed with. */
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * Any failure of the event store.
 *
 * @since 0.1.0
 * @category errors
 */
export type EventualiError =
  | EventStoreError
  | OptimisticConcurrencyError
  | DatabaseError
  | SerializationError
  | AggregateNotFoundError
  | InlineProjectionError

/**
 * The schema of {@link EventualiError}, e.g. for HTTP error bodies.
 *
 * @since 0.1.0
 * @category errors
 */
export const EventualiError = Schema.Union(
  EventStoreError,
  OptimisticConcurrencyError,
  DatabaseError,
  SerializationError,
  AggregateNotFoundError,
  InlineProjectionError
)
