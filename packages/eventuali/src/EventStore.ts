/**
 * The front door: the `EventStore` service tag with `layer(url)` and `create(url)`, choosing the
 * backend from the connection string.
 *
 * @since 0.1.0
 */
import type { DatabaseError } from "@eventuali/core/Errors"
import * as Core from "@eventuali/core/EventStore"
import type * as Privacy from "@eventuali/core/Privacy"
import type * as ProjectionStore from "@eventuali/core/ProjectionStore"
import type * as SqlClient from "@effect/sql/SqlClient"
import { type Config, type ConfigError, Context, Effect, Layer, Redacted, type Scope } from "effect"
import * as ConnectionString from "./ConnectionString.js"
import * as Backend from "./internal/backend.js"

const reveal = (url: string | Redacted.Redacted<string>): string => Redacted.isRedacted(url) ? Redacted.value(url) : url

const layerFromUrl = (url: string | Redacted.Redacted<string>): Layer.Layer<Backend.Services, DatabaseError> =>
  Layer.unwrapEffect(Effect.map(ConnectionString.parse(reveal(url)), Backend.layer))

const sqlLayerFromUrl = (url: string | Redacted.Redacted<string>): Layer.Layer<Backend.SqlServices, DatabaseError> =>
  Layer.unwrapEffect(Effect.map(ConnectionString.parse(reveal(url)), Backend.sqlLayer))

/**
 * The event store service (`yield* EventStore`), with constructors from a connection string:
 *
 * ```ts
 * program.pipe(Effect.provide(EventStore.layer("sqlite://events.db")))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class EventStore extends Core.EventStore {
  /**
   * The store for a connection string (`sqlite://:memory:`, `sqlite://path.db`,
   * `sqlite:///abs/path.db`, `postgresql://…`, `postgres://…`, `memory://`). Fails with
   * `DatabaseError` for anything else, never showing a password. The driver of the scheme is
   * loaded on first use: `sqlite://` needs `@eventuali/sqlite` installed, `postgresql://` needs
   * `@eventuali/postgres`; a missing one fails with a `DatabaseError` naming the package.
   */
  static layer(url: string | Redacted.Redacted<string>): Layer.Layer<Core.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy, DatabaseError> {
    return layerFromUrl(url)
  }

  /**
   * {@link EventStore.layer} that also provides the database's `SqlClient`, for read models that
   * commit in the same transaction as their projection's checkpoint (exactly once). SQLite and
   * PostgreSQL connection strings only: `memory://` fails with `DatabaseError` (use
   * `sqlite://:memory:` for an in-memory SQL store).
   */
  static layerSql(url: string | Redacted.Redacted<string>): Layer.Layer<Core.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy | SqlClient.SqlClient, DatabaseError> {
    return sqlLayerFromUrl(url)
  }

  /** {@link EventStore.layer} with the connection string read from `Config` (e.g. `Config.redacted("EVENTUALI_URL")`). */
  static layerConfig(
    url: Config.Config<string | Redacted.Redacted<string>>
  ): Layer.Layer<Core.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy, DatabaseError | ConfigError.ConfigError> {
    return Layer.unwrapEffect(Effect.map(url, layerFromUrl))
  }

  /**
   * Opens the store for a connection string in the current scope (closed with it): the
   * original Eventuali API's `EventStore.create` (docs/api/event-store.md).
   */
  static create(url: string | Redacted.Redacted<string>): Effect.Effect<Core.Service, DatabaseError, Scope.Scope> {
    return Effect.map(Layer.build(layerFromUrl(url)), Context.get(Core.EventStore))
  }
}

/**
 * @since 0.1.0
 */
export declare namespace EventStore {
  /** The store's operations. */
  export type Service = Core.Service
  /** Options of `save`. */
  export type SaveOptions = Core.SaveOptions
  /** Options of `append`. */
  export type AppendOptions = Core.AppendOptions
  /** What `append` returns. */
  export type AppendResult = Core.AppendResult
  /** Options of the streaming reads. */
  export type StreamOptions = Core.StreamOptions
  /** Options of `streamAll`: the streaming reads' and the type filters. */
  export type StreamAllOptions = Core.StreamAllOptions
  /** Options of `subscribe`. */
  export type SubscribeOptions = Core.SubscribeOptions
  /** Where a subscription starts: `"beginning"`, `"end"` or a checkpoint. */
  export type SubscriptionStart = Core.SubscriptionStart
  /** An event delivered by `subscribe`, with the checkpoint that resumes after it. */
  export type SubscriptionEvent<A = unknown> = Core.SubscriptionEvent<A>
  /** Options of `readEvents`. */
  export type ReadEventsOptions = Core.ReadEventsOptions
  /** Settings of a store built with `make`. */
  export type StoreOptions = Core.StoreOptions
  /** Errors a write may fail with. */
  export type WriteError = Core.WriteError
  /** Errors a read may fail with. */
  export type ReadError = Core.ReadError
  /** Options of `delete`. */
  export type DeleteOptions = Core.DeleteOptions
  /** What `delete` returns. */
  export type DeleteResult = Core.DeleteResult
  /** What `truncate` returns. */
  export type TruncateResult = Core.TruncateResult
  /** Errors of `delete`, `restore` and `truncate`. */
  export type LifecycleError = Core.LifecycleError
  /** What `applyRetention` keeps of an aggregate type's streams. */
  export type RetentionPolicy = Core.RetentionPolicy
  /** Options of `applyRetention` and `archive`. */
  export type RetentionOptions = Core.RetentionOptions
  /** What `applyRetention` did. */
  export type RetentionReport = Core.RetentionReport
  /** Which of an aggregate type's streams `archive` closes. */
  export type ArchivePolicy = Core.ArchivePolicy
  /** What `archive` did. */
  export type ArchiveReport = Core.ArchiveReport
  /** A handler `registerInline` runs in every append's transaction. */
  export type InlineHandler = Core.InlineHandler
}

/**
 * Builds the store service over a backend's storage (for third-party backends).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = Core.make
