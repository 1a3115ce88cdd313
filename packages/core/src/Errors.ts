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
 * A delete, restore or truncate named an aggregate id with no stored events.
 *
 * @since 0.2.0
 * @category errors
 */
export class StreamNotFoundError extends Schema.TaggedError<StreamNotFoundError>()("StreamNotFoundError", {
  aggregateId: Schema.String
}) {
  override get message(): string {
    return `No aggregate ${JSON.stringify(this.aggregateId)} is stored`
  }
}

/**
 * The aggregate was deleted (`EventStore.delete`): appends, saves and truncates of its id are
 * refused. `version` is the version of its tombstone. A soft delete can be undone with
 * `EventStore.restore`.
 *
 * @since 0.2.0
 * @category errors
 */
export class StreamDeletedError extends Schema.TaggedError<StreamDeletedError>()("StreamDeletedError", {
  aggregateId: Schema.String,
  version: Schema.Number
}) {
  override get message(): string {
    return `Aggregate ${JSON.stringify(this.aggregateId)} was deleted (tombstone at version ${this.version})`
  }
}

/**
 * `load` found the aggregate's events before `firstVersion` removed (`EventStore.truncate`,
 * retention) and no snapshot it can start from at version `firstVersion - 1` or later.
 *
 * @since 0.2.0
 * @category errors
 */
export class StreamTruncatedError extends Schema.TaggedError<StreamTruncatedError>()("StreamTruncatedError", {
  aggregateId: Schema.String,
  firstVersion: Schema.Number,
  snapshotVersion: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `Aggregate ${JSON.stringify(this.aggregateId)}: its events before version ${this.firstVersion} were truncated, and ${
      this.snapshotVersion === undefined
        ? "it has no usable snapshot"
        : `its newest usable snapshot (version ${this.snapshotVersion}) is older`
    }: it cannot be loaded (loadEvents still reads what is left)`
  }
}

/**
 * The key store of personal data (see `Privacy`) failed: unreachable, misconfigured, or refusing.
 * Nothing was written by the operation that met it.
 *
 * @since 0.2.0
 * @category errors
 */
export class KeyStoreError extends Schema.TaggedError<KeyStoreError>()("KeyStoreError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {}

/**
 * A read met personal data of a forgotten subject (`Privacy.forget`) in fields whose schema
 * declares no replacement (`Privacy.personal({ subject, replacement })`).
 *
 * @since 0.2.0
 * @category errors
 */
export class PersonalDataErasedError extends Schema.TaggedError<PersonalDataErasedError>()(
  "PersonalDataErasedError",
  {
    subjectId: Schema.String,
    eventType: Schema.String,
    fields: Schema.Array(Schema.String)
  }
) {
  override get message(): string {
    return `${this.eventType}: the personal data of subject ${JSON.stringify(this.subjectId)} was erased, and its schema declares no replacement for ${
      this.fields.map((field) => JSON.stringify(field)).join(", ")
    }`
  }
}

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
  | StreamNotFoundError
  | StreamDeletedError
  | StreamTruncatedError
  | KeyStoreError
  | PersonalDataErasedError

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
  InlineProjectionError,
  StreamNotFoundError,
  StreamDeletedError,
  StreamTruncatedError,
  KeyStoreError,
  PersonalDataErasedError
)

/**
 * A projection could not be run or managed as asked: invalid options (a partition count that is
 * not a whole number from 1 to 1024, an invalid name), a partition count that differs from the
 * one the projection's checkpoints were made with, an unknown projection name, or a position that
 * is not parked.
 *
 * @since 0.2.0
 * @category errors
 */
export class ProjectionError extends Schema.TaggedError<ProjectionError>()("ProjectionError", {
  projection: Schema.String,
  message: Schema.String
}) {}
