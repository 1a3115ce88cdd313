/**
 * The persistence contract of a backend. A backend stores and reads encoded events and makes
 * each append atomic and conditional; `EventStore.make` builds the whole store service on top
 * (encoding, decoding, the registry, aggregates, error classification, idempotent retries), so
 * every backend shares those semantics by construction.
 *
 * @since 0.1.0
 */
import { type Effect, type Either, Option, type Stream } from "effect"
import type { DatabaseError, EventStoreError, KeyStoreError, PersonalDataErasedError, SerializationError } from "./Errors.js"
import * as codec from "./internal/codec.js"
import type { EventEnvelope, EventMetadata } from "./Event.js"
import type { ExpectedVersion } from "./ExpectedVersion.js"

/**
 * An event ready to store: ids, timestamp and metadata settled, payload validated as JSON.
 *
 * @since 0.1.0
 * @category models
 */
export interface EncodedEvent {
  readonly eventId: string
  readonly eventType: string
  readonly eventVersion: number
  readonly timestamp: Date
  readonly metadata: EventMetadata
  /** The payload as a JSON value. */
  readonly data: unknown
  /** `data` serialised, for backends that store text. */
  readonly dataJson: string
  /** `metadata` serialised, for backends that store text. */
  readonly metadataJson: string
}

/**
 * One conditional append.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendRequest {
  readonly aggregateId: string
  readonly aggregateType: string
  readonly expectedVersion: ExpectedVersion
  /** Never empty. */
  readonly events: ReadonlyArray<EncodedEvent>
  /**
   * The aggregate's state after these events, to store as its snapshot in the same
   * transaction (at the version the last event gets).
   */
  readonly snapshot?: SnapshotToWrite | undefined
}

/**
 * A snapshot to write with an append.
 *
 * @since 0.1.0
 * @category models
 */
export interface SnapshotToWrite {
  /** The version of the snapshot's schema: a snapshot of another version is ignored on load. */
  readonly schemaVersion: number
  /** The encoded state, serialised. */
  readonly stateJson: string
}

/**
 * A stored snapshot: the state (as raw JSON) of an aggregate at a version.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredSnapshot {
  readonly aggregateId: string
  readonly aggregateType: string
  readonly aggregateVersion: number
  readonly schemaVersion: number
  readonly state: unknown
}

/**
 * What `inspect` reports after an append was refused, so the store can say why.
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendConflict {
  /** The aggregate's current version, 0 if it has no events. */
  readonly actualVersion: number
  /** The aggregate type the id belongs to, if it has events. */
  readonly aggregateType: string | undefined
  /** Whether the aggregate's newest event is a tombstone ({@link TOMBSTONE}): it was deleted. */
  readonly deleted: boolean
  /** Those of the request's event ids that are already stored, wherever. */
  readonly existing: ReadonlyArray<{
    readonly eventId: string
    readonly aggregateId: string
    readonly aggregateVersion: number
  }>
}

/**
 * A stored event with its payload as raw JSON.
 *
 * @since 0.1.0
 * @category models
 */
export type StoredEvent = EventEnvelope<unknown>

/**
 * What an append did: `Some` with the stored events when it was appended, `None` when it was
 * refused (nothing written; see `EventStorage.append`).
 *
 * @since 0.1.0
 * @category models
 */
export type AppendOutcome = Option.Option<ReadonlyArray<StoredEvent>>

/**
 * The outcome of a refused append.
 *
 * @since 0.1.0
 * @category constructors
 */
export const refused: AppendOutcome = Option.none()

/**
 * The outcome of an append that stored `events`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const appended = (events: ReadonlyArray<StoredEvent>): AppendOutcome => Option.some(events)

/**
 * How `readStream` reads (see `EventStorage.readStream`).
 *
 * @since 0.2.0
 * @category models
 */
export interface ReadStreamOptions {
  readonly personalData?: boolean | undefined
}

/**
 * What `readAll` reads.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReadAllOptions {
  /** Exclusive. */
  readonly fromPosition: bigint
  readonly limit?: number | undefined
  /** Only events of these aggregate types (when given and non-empty). */
  readonly aggregateTypes?: ReadonlyArray<string> | undefined
  /** Only events of these event types (when given and non-empty). */
  readonly eventTypes?: ReadonlyArray<string> | undefined
}

/**
 * The event type of the tombstone `EventStore.delete` appends to a stream. Reserved, like every
 * event type starting with `$`. A backend refuses an append to an aggregate whose newest event
 * is a tombstone.
 *
 * @since 0.2.0
 * @category constants
 */
export const TOMBSTONE = "$deleted"

/**
 * The event type `EventStore.restore` appends in place of the tombstone it removes.
 *
 * @since 0.2.0
 * @category constants
 */
export const RESTORED = "$restored"

/**
 * Whether an event type is reserved for the store's own events (it starts with `$`).
 *
 * @since 0.2.0
 * @category constants
 */
export const isReserved = (eventType: string): boolean => eventType.startsWith("$")

/**
 * One stream of an aggregate type, as `listStreams` reports it.
 *
 * @since 0.2.0
 * @category models
 */
export interface StreamSummary {
  readonly aggregateId: string
  /** The lowest version stored (above 1 once truncated). */
  readonly firstVersion: number
  readonly lastVersion: number
  /** The newest timestamp of its events. */
  readonly lastTimestamp: Date
}

/**
 * What `listStreams` lists: the streams of an aggregate type by aggregate id, after
 * `afterAggregateId`, at most `limit` of them.
 *
 * @since 0.2.0
 * @category models
 */
export interface ListStreamsOptions {
  readonly aggregateType: string
  readonly afterAggregateId?: string | undefined
  readonly limit: number
}

/**
 * Errors a read of the storage may fail with. A backend's own reads fail with `DatabaseError` or
 * `SerializationError`; the store reads through a layer that opens personal data (`Privacy`),
 * which adds the other two.
 *
 * @since 0.2.0
 * @category models
 */
export type ReadFailure = DatabaseError | SerializationError | KeyStoreError | PersonalDataErasedError

/**
 * @since 0.1.0
 * @category models
 */
export interface EventStorage {
  /**
   * Appends all events or none. The events get versions `current + 1 ..` and increasing global
   * positions. The append is refused (succeeds with `refused`, writing nothing) when the
   * request cannot apply: the expected version does not hold, the id belongs to another
   * aggregate type, or an event id is already stored.
   */
  readonly append: (request: AppendRequest) => Effect.Effect<AppendOutcome, DatabaseError | EventStoreError>
  /** Why an append of `eventIds` to `aggregateId` was refused (read after the refusal). */
  readonly inspect: (aggregateId: string, eventIds: ReadonlyArray<string>) => Effect.Effect<AppendConflict, DatabaseError>
  /**
   * The aggregate's events with `aggregateVersion > fromVersion`, by version, archived ones
   * included. `options.personalData`: the reader will open personal data in them (the
   * aggregate's schemas mark some), so a storage may read with them what its key store needs
   * (`Privacy.SeenWithEvents`); a storage may ignore it.
   */
  readonly readStream: (
    aggregateId: string,
    fromVersion: number,
    options?: ReadStreamOptions
  ) => Effect.Effect<ReadonlyArray<StoredEvent>, ReadFailure>
  /**
   * The visible events with `position > fromPosition`, by position: at most `limit` of them when
   * given, only those of the given aggregate types and event types when given (filtered by the
   * backend, not after). "Visible" is gap-safe: no event can later appear below the last one
   * returned.
   */
  readonly readAll: (options: ReadAllOptions) => Effect.Effect<ReadonlyArray<StoredEvent>, ReadFailure>
  /**
   * Waits until every append that committed before the call is visible to `readAll` (a no-op
   * where commits are visible at once). One-shot reads call it first; tailing readers don't.
   */
  readonly catchUp: Effect.Effect<void, DatabaseError>
  /** The aggregate's newest snapshot, if any. */
  readonly readSnapshot: (aggregateId: string) => Effect.Effect<Option.Option<StoredSnapshot>, ReadFailure>
  /** A position at or above every visible event, and below every event not yet visible. */
  readonly head: Effect.Effect<bigint, DatabaseError>
  /**
   * Signals that new events may have become visible, from outside this store instance (other
   * processes); the store itself signals its own appends. Backends without such a channel omit
   * it, and subscribers poll. The store runs it only while it has live subscribers: a backend may
   * start listening when it is run (and should then signal once, when it listens, for what was
   * appended before) and stop when it ends.
   */
  readonly notifications?: Stream.Stream<void> | undefined
  /** The aggregate's current version, `None` if it has no events. */
  readonly version: (aggregateId: string) => Effect.Effect<Option.Option<number>, DatabaseError>
  /**
   * Runs `effect` in one transaction: the appends it makes and whatever else it writes to the
   * same database (on the SQL stores, through their `SqlClient`) commit together when it
   * succeeds, and none of it when it fails; its appends are not visible to `readAll` before the
   * commit. Inside another transaction of the same fiber it nests (a savepoint). Inline
   * projections need it; a backend without transactions omits it.
   */
  readonly transaction?: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | DatabaseError, R>
  /**
   * Removes the oldest of the aggregate's events below `beforeVersion` (archived ones first), at
   * most `limit` of them, in short statements; succeeds with how many it removed (0 when none is left). The events
   * from `beforeVersion` on are untouched, so versions stay contiguous.
   */
  readonly removeEvents: (aggregateId: string, beforeVersion: number, limit: number) => Effect.Effect<number, DatabaseError>
  /**
   * Moves the oldest of the aggregate's events below `beforeVersion`, at most `limit` of them, out
   * of the hot table into the archive; succeeds with how many it moved. `readStream` keeps
   * returning them (and `removeEvents` removes them), but `readAll` no longer does. Repeating an
   * interrupted move moves nothing twice.
   */
  readonly archiveEvents: (aggregateId: string, beforeVersion: number, limit: number) => Effect.Effect<number, DatabaseError>
  /** Removes the aggregate's snapshot, if any. */
  readonly removeSnapshot: (aggregateId: string) => Effect.Effect<void, DatabaseError>
  /** Removes the tombstone at `version`; succeeds with whether there was one. */
  readonly removeTombstone: (aggregateId: string, version: number) => Effect.Effect<boolean, DatabaseError>
  /** The streams of an aggregate type, by aggregate id (see {@link ListStreamsOptions}). */
  readonly listStreams: (options: ListStreamsOptions) => Effect.Effect<ReadonlyArray<StreamSummary>, DatabaseError | SerializationError>
  /** The lowest version of the aggregate whose event's timestamp is at or after `since`. */
  readonly firstVersionSince: (aggregateId: string, since: Date) => Effect.Effect<Option.Option<number>, DatabaseError>
}

/**
 * Parses a stored JSON text (payload or metadata); corrupt text becomes a `SerializationError`
 * naming the event type. For backends that store JSON as text.
 *
 * @since 0.1.0
 * @category helpers
 */
export const parseJson: (
  eventType: string,
  text: string,
  what?: string
) => Either.Either<unknown, SerializationError> = codec.parseJson
