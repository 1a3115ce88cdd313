/**
 * The event store service. `yield* EventStore` in a program; provide it with a Layer: the
 * in-memory one from this package, or SQLite/PostgreSQL from `eventuali`.
 *
 * @since 0.1.0
 */
import { Context, type Duration, type Effect, type Option, type Schema, type Scope, type Stream } from "effect"
import type * as Aggregate from "./Aggregate.js"
import type { Checkpoint } from "./Checkpoint.js"
import type {
  AggregateNotFoundError,
  DatabaseError,
  EventStoreError,
  InlineProjectionError,
  OptimisticConcurrencyError,
  KeyStoreError,
  PersonalDataErasedError,
  SerializationError,
  StreamDeletedError,
  StreamNotFoundError,
  StreamTruncatedError
} from "./Errors.js"
import type { EventEnvelope, EventMetadataInput, NewEvent } from "./Event.js"
import type { EventStorage } from "./EventStorage.js"
import type { ExpectedVersion } from "./ExpectedVersion.js"
import * as internal from "./internal/eventStore.js"
import type * as Privacy from "./Privacy.js"

/**
 * Metadata stamped on every event of a save, and optionally the event ids to use (one per
 * uncommitted event): with fixed ids, retrying the same save after an unclear failure is
 * idempotent.
 *
 * @since 0.1.0
 * @category models
 */
export interface SaveOptions extends EventMetadataInput {
  readonly eventIds?: ReadonlyArray<string> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface AppendOptions {
  /** Defaults to `ExpectedVersion.any`. */
  readonly expectedVersion?: ExpectedVersion | undefined
}

/**
 * What an append wrote (or, for an idempotent retry, what had been written).
 *
 * @since 0.1.0
 * @category models
 */
export interface AppendResult {
  /** The aggregate's version after the append. */
  readonly version: number
  /** The appended events, with raw JSON `data`. */
  readonly events: ReadonlyArray<EventEnvelope<unknown>>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface StreamOptions {
  /** Exclusive: events with a greater position. Default: from the beginning. */
  readonly fromPosition?: bigint | number | undefined
  /** Rows read per query. Default 1000. */
  readonly batchSize?: number | undefined
}

/**
 * What `streamAll` reads: {@link StreamOptions}, and only events of some aggregate or event
 * types when told (filtered in the database, as `subscribe` and `readEvents` filter).
 *
 * @since 0.1.0
 * @category models
 */
export interface StreamAllOptions extends StreamOptions {
  /** Only events of these aggregate types. */
  readonly aggregateTypes?: ReadonlyArray<string> | undefined
  /** Only events of these event types. */
  readonly eventTypes?: ReadonlyArray<string> | undefined
}

/**
 * Where a subscription starts: every stored event (`"beginning"`, the default), only events
 * committed from now on (`"end"`), or right after a checkpoint a previous subscription delivered.
 *
 * @since 0.1.0
 * @category models
 */
export type SubscriptionStart = "beginning" | "end" | Checkpoint

/**
 * @since 0.1.0
 * @category models
 */
export interface SubscribeOptions {
  readonly from?: SubscriptionStart | undefined
  /** Only events of these aggregate types (filtered in the database). */
  readonly aggregateTypes?: ReadonlyArray<string> | undefined
  /** Only events of these event types (filtered in the database). */
  readonly eventTypes?: ReadonlyArray<string> | undefined
  /** Rows read per query. Default 500. */
  readonly batchSize?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ReadEventsOptions {
  /** Exclusive. Default: from the beginning. */
  readonly fromPosition?: bigint | number | undefined
  /** Default 500. */
  readonly limit?: number | undefined
  readonly aggregateTypes?: ReadonlyArray<string> | undefined
  readonly eventTypes?: ReadonlyArray<string> | undefined
}

/**
 * An event delivered by a subscription, with the checkpoint that resumes right after it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SubscriptionEvent<A = unknown> extends EventEnvelope<A> {
  readonly checkpoint: Checkpoint
}

/**
 * Settings of the store service built by {@link make}.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreOptions {
  /**
   * How often live subscriptions look for events committed by other processes that sent no
   * notification (default 250 ms; the store's own appends and PostgreSQL notifications wake
   * them at once).
   */
  readonly pollInterval?: Duration.DurationInput | undefined
  /**
   * The key store and cipher for fields marked `Privacy.personal`. The SQLite and PostgreSQL
   * stores always have one (keys in their database); without one, saving such fields fails.
   */
  readonly privacy?: Privacy.Service | undefined
}

/**
 * @since 0.2.0
 * @category models
 */
export interface DeleteOptions {
  /** The version the aggregate must be at; default: any version (it must exist). */
  readonly expectedVersion?: ExpectedVersion | undefined
  /**
   * `true` also removes the aggregate's events and snapshot; only the tombstone stays, and the
   * delete cannot be undone. Default `false`: the events stay, hidden, and `restore` brings them
   * back. A hard delete of an aggregate already (soft-)deleted removes what it left.
   */
  readonly hard?: boolean | undefined
  /** Metadata of the tombstone event (who deleted, why: `headers`). */
  readonly metadata?: EventMetadataInput | undefined
}

/**
 * What a delete did.
 *
 * @since 0.2.0
 * @category models
 */
export interface DeleteResult {
  /** The version of the tombstone. */
  readonly version: number
  /** Events removed (0 for a soft delete). */
  readonly removedEvents: number
}

/**
 * What a truncate or a retention pass removed from one aggregate.
 *
 * @since 0.2.0
 * @category models
 */
export interface TruncateResult {
  readonly removedEvents: number
}

/**
 * A retention policy for the aggregates of one type: each stream keeps only its events younger
 * than `maxAge` (by event timestamp) and/or only its newest `maxCount` events. At least one of
 * the two; both: an event goes when either says so. A stream's newest event always stays.
 *
 * @since 0.2.0
 * @category models
 */
export interface RetentionPolicy {
  readonly aggregateType: string
  readonly maxAge?: Duration.DurationInput | undefined
  readonly maxCount?: number | undefined
}

/**
 * @since 0.2.0
 * @category models
 */
export interface RetentionOptions {
  /** Events removed per statement (each a short transaction of its own). Default 500. */
  readonly batchSize?: number | undefined
}

/**
 * What one retention pass over an aggregate type did.
 *
 * @since 0.2.0
 * @category models
 */
export interface RetentionReport {
  readonly aggregateType: string
  /** Streams of the type looked at. */
  readonly streams: number
  /** Streams that lost events. */
  readonly truncatedStreams: number
  readonly removedEvents: number
}

/**
 * Which streams of an aggregate type `archive` moves out of the hot table: the deleted ones, and
 * with `idleFor` those whose newest event is older than that.
 *
 * @since 0.2.0
 * @category models
 */
export interface ArchivePolicy {
  readonly aggregateType: string
  readonly idleFor?: Duration.DurationInput | undefined
}

/**
 * What one archive pass did.
 *
 * @since 0.2.0
 * @category models
 */
export interface ArchiveReport {
  readonly aggregateType: string
  /** Streams of the type looked at. */
  readonly streams: number
  /** Streams whose events were moved. */
  readonly archivedStreams: number
  readonly movedEvents: number
}

/** Errors a write may fail with. @since 0.1.0 @category models */
export type WriteError =
  | OptimisticConcurrencyError
  | SerializationError
  | EventStoreError
  | DatabaseError
  | InlineProjectionError
  | StreamDeletedError
  | KeyStoreError
  | PersonalDataErasedError
/** Errors a read may fail with. @since 0.1.0 @category models */
export type ReadError = SerializationError | EventStoreError | DatabaseError | KeyStoreError | PersonalDataErasedError
/** Errors of delete, restore and truncate. @since 0.2.0 @category models */
export type LifecycleError = WriteError | StreamNotFoundError

/**
 * The operations of the store: those of the original Eventuali's `EventStore` class (the reference
 * API this package implements, docs/api/event-store.md), plus subscriptions (docs/api/streaming.md).
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Appends the root's uncommitted events atomically, expecting the store at
   * `root.version - uncommittedEvents.length`. Succeeds with the committed root; a root with
   * nothing uncommitted is returned as is, without touching the database.
   */
  readonly save: <State, Event extends { readonly _tag: string }>(
    root: Aggregate.Root<State, Event>,
    options?: SaveOptions
  ) => Effect.Effect<Aggregate.Root<State, Event>, WriteError>
  /** The lower-level append of already-encoded events, with an explicit expected version. */
  readonly append: (
    aggregateType: string,
    aggregateId: string,
    events: ReadonlyArray<NewEvent>,
    options?: AppendOptions
  ) => Effect.Effect<AppendResult, WriteError>
  /** Replays the aggregate's events through its `evolve`; `None` if it has none. */
  readonly load: <State, Event extends { readonly _tag: string }>(
    definition: Aggregate.Definition<State, Event>,
    aggregateId: string
  ) => Effect.Effect<Option.Option<Aggregate.Root<State, Event>>, ReadError | StreamTruncatedError>
  /** Like `load`, failing with `AggregateNotFoundError` when there are no events. */
  readonly loadOrFail: <State, Event extends { readonly _tag: string }>(
    definition: Aggregate.Definition<State, Event>,
    aggregateId: string
  ) => Effect.Effect<Aggregate.Root<State, Event>, ReadError | StreamTruncatedError | AggregateNotFoundError>
  /** The aggregate's events with `aggregateVersion > fromVersion` (default 0), by version. */
  readonly loadEvents: (
    aggregateId: string,
    fromVersion?: number
  ) => Effect.Effect<ReadonlyArray<EventEnvelope>, ReadError>
  /** Every event of an aggregate type with `position > fromPosition`, by global position. */
  readonly loadEventsByType: (
    aggregateType: string,
    fromPosition?: bigint | number
  ) => Effect.Effect<ReadonlyArray<EventEnvelope>, ReadError>
  /** `loadEventsByType` as a paged `Stream`, for results too large to hold in memory. */
  readonly streamEventsByType: (
    aggregateType: string,
    options?: StreamOptions
  ) => Stream.Stream<EventEnvelope, ReadError>
  /** Every event of every type (or of the types given), by global position, paged. */
  readonly streamAll: (options?: StreamAllOptions) => Stream.Stream<EventEnvelope, ReadError>
  /**
   * Catch-up then live: every stored event after the start, then new events as they commit, with
   * no gap and no duplicate at the seam. The stream pulls pages as it is consumed (a slow
   * consumer slows reading; memory stays bounded) and ends its subscription when its scope
   * closes.
   */
  readonly subscribe: (options?: SubscribeOptions) => Stream.Stream<SubscriptionEvent, ReadError>
  /**
   * One page of the log: at most `limit` visible events after `fromPosition`, by position,
   * filtered in the database. What subscriptions and projections are made of.
   */
  readonly readEvents: (options: ReadEventsOptions) => Effect.Effect<ReadonlyArray<EventEnvelope>, ReadError>
  /** The checkpoint after every event committed before the call. */
  readonly currentCheckpoint: Effect.Effect<Checkpoint, ReadError>
  /** The aggregate's version without loading its events; `None` if it has none. */
  readonly getAggregateVersion: (aggregateId: string) => Effect.Effect<Option.Option<number>, ReadError>
  /**
   * Deletes an aggregate: appends a tombstone (event type `"$deleted"`, which subscriptions and
   * projections receive as the deletion notice). Afterwards `load` is `None`, `loadEvents` empty,
   * `getAggregateVersion` `None`, and appends fail with `StreamDeletedError`; the id is never
   * reused. Soft by default (see {@link DeleteOptions}).
   */
  readonly delete: (aggregateId: string, options?: DeleteOptions) => Effect.Effect<DeleteResult, LifecycleError>
  /**
   * Undoes a soft delete: removes the tombstone and appends a `"$restored"` event in its place
   * (the notice for projections), so the aggregate loads and takes appends again.
   */
  readonly restore: (aggregateId: string) => Effect.Effect<{ readonly version: number }, LifecycleError>
  /**
   * Removes the aggregate's events before `beforeVersion` (1 ≤ `beforeVersion` ≤ its version).
   * `load` then starts from a snapshot at version `beforeVersion - 1` or later, and fails with
   * `StreamTruncatedError` when there is none.
   */
  readonly truncate: (aggregateId: string, beforeVersion: number) => Effect.Effect<TruncateResult, LifecycleError>
  /** One retention pass over the streams of the policy's type (see `Retention` for the background fiber). */
  readonly applyRetention: (
    policy: RetentionPolicy,
    options?: RetentionOptions
  ) => Effect.Effect<RetentionReport, EventStoreError | DatabaseError | SerializationError>
  /**
   * Moves the events of closed streams of a type (deleted, or idle for `policy.idleFor`) out of
   * the hot table into the archive, all but each stream's newest event. Reads by aggregate
   * (`load`, `loadEvents`) still return them; reads of the log (`readEvents`, `streamAll`,
   * subscriptions, projections) no longer do.
   */
  readonly archive: (
    policy: ArchivePolicy,
    options?: RetentionOptions
  ) => Effect.Effect<ArchiveReport, EventStoreError | DatabaseError | SerializationError>
  /** Registers the schema that decodes events of `eventType` (aliases allowed). */
  readonly registerEventClass: (
    eventType: string,
    schema: Schema.Schema.AnyNoContext
  ) => Effect.Effect<void, EventStoreError>
  /** Unregisters `eventType`; succeeds with whether it was registered. */
  readonly unregisterEventClass: (eventType: string) => Effect.Effect<boolean>
  /** A copy of the registered schemas by event type. */
  readonly getRegisteredEventClasses: () => Effect.Effect<ReadonlyMap<string, Schema.Schema.AnyNoContext>>
  /**
   * Runs `handler` on the events of every later save and append, in the append's own transaction,
   * until the scope closes; a failing handler fails the save, which then writes nothing. What
   * `InlineProjection.layer` uses. Fails with `EventStoreError` on a backend without transactions.
   */
  readonly registerInline: (handler: InlineHandler) => Effect.Effect<void, EventStoreError, Scope.Scope>
}

/**
 * A handler run inside the transaction of each append (see `InlineProjection`), its context
 * already provided.
 *
 * @since 0.1.0
 * @category models
 */
export interface InlineHandler {
  readonly name: string
  /** Only events of these aggregate types (all when absent or empty). */
  readonly aggregateTypes?: ReadonlyArray<string> | undefined
  /** Only events of these event types (all when absent or empty). */
  readonly eventTypes?: ReadonlyArray<string> | undefined
  readonly handle: (event: SubscriptionEvent) => Effect.Effect<void, unknown>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class EventStore extends Context.Tag("eventuali/EventStore")<EventStore, Service>() {}

/**
 * Builds the store service over a backend's {@link EventStorage}.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (storage: EventStorage, options?: StoreOptions) => Effect.Effect<Service, never, Scope.Scope> =
  internal.make
