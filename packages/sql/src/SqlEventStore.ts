/**
 * The event store over any `@effect/sql` `SqlClient` (SQLite and PostgreSQL dialects): the
 * drivers build a client and hand it here.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { DatabaseError } from "@eventuali/core/Errors"
import type { EventStorage } from "@eventuali/core/EventStorage"
import * as EventStore from "@eventuali/core/EventStore"
import * as ProjectionStore from "@eventuali/core/ProjectionStore"
import { Context, Effect, Layer, type Scope, type Stream } from "effect"
import { tables } from "./internal/statements.js"
import * as storage from "./internal/storage.js"
import * as Migrations from "./Migrations.js"
import * as SqlProjectionStore from "./SqlProjectionStore.js"
import type * as SyncConnection from "./SyncConnection.js"

/**
 * - `schema` (PostgreSQL): the schema holding the store's tables, created if missing; several
 *   stores can share a database in different schemas. A plain identifier
 *   (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters).
 * - `pollInterval`: how often live subscriptions look for other processes' events.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqlEventStoreOptions extends EventStore.StoreOptions {
  readonly schema?: string | undefined
  /** Wake-ups from other processes for live subscriptions (the PostgreSQL driver LISTENs). */
  readonly notifications?: Stream.Stream<void> | undefined
  /** The client's connection for synchronous use, when the driver has one (the SQLite driver). */
  readonly connection?: SyncConnection.SyncConnection | undefined
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

const checkOptions = (options: SqlEventStoreOptions) =>
  options.schema === undefined || SCHEMA_NAME.test(options.schema)
    ? Effect.void
    : Effect.fail(
      new DatabaseError({
        message: `Invalid schema name ${JSON.stringify(options.schema)}: use letters, digits and _ (not starting with a digit), at most 63 characters`
      })
    )

/**
 * The PostgreSQL channel a store's appends notify on commit (`pg_notify`), per schema.
 *
 * @since 0.1.0
 * @category constants
 */
export const notificationChannel = (schema: string | undefined): string => tables(schema).channel

/**
 * The SQL storage (without migrating), for wrapping.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStorage = (
  options: SqlEventStoreOptions = {}
): Effect.Effect<EventStorage, DatabaseError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.zipRight(checkOptions(options), storage.make(options))

/**
 * Migrates the database, then builds the store service on the client.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: SqlEventStoreOptions = {}
): Effect.Effect<EventStore.Service, DatabaseError, SqlClient.SqlClient | Scope.Scope> =>
  checkOptions(options).pipe(
    Effect.zipRight(Migrations.run(options)),
    Effect.zipRight(storage.make(options)),
    Effect.flatMap((storage) => EventStore.make(storage, options))
  )

/**
 * The store as a layer over a `SqlClient` layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: SqlEventStoreOptions = {}
): Layer.Layer<EventStore.EventStore, DatabaseError, SqlClient.SqlClient> =>
  Layer.scoped(EventStore.EventStore, make(options))

/**
 * What a driver builds on its client: the store and its projection checkpoints.
 *
 * @since 0.1.0
 * @category models
 */
export interface Parts<Client extends SqlClient.SqlClient> {
  readonly store: EventStore.Service
  readonly projections: ProjectionStore.Service
  readonly client: Client
}

/**
 * Migrates, then builds the store and its projection checkpoints on a driver's client.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeParts = <Client extends SqlClient.SqlClient>(
  client: Client,
  options: SqlEventStoreOptions = {}
): Effect.Effect<Parts<Client>, DatabaseError, Scope.Scope> =>
  Effect.provideService(
    Effect.map(
      Effect.all([make(options), SqlProjectionStore.make({ schema: options.schema })]),
      ([store, projections]) => ({ store, projections, client })
    ),
    SqlClient.SqlClient,
    client
  )

/**
 * A driver's layer: the store, its checkpoints, and the client under both `SqlClient` and the
 * driver's own tag (for read models in the same database).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerParts = <Tag, Client extends SqlClient.SqlClient, E>(
  clientTag: Context.Tag<Tag, Client>,
  parts: Effect.Effect<Parts<Client>, E, Scope.Scope>
): Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore | SqlClient.SqlClient | Tag, E> =>
  Layer.scopedContext(
    Effect.map(parts, ({ client, projections, store }) =>
      Context.make(EventStore.EventStore, store).pipe(
        Context.add(ProjectionStore.ProjectionStore, projections),
        Context.add(SqlClient.SqlClient, client),
        Context.add(clientTag, client)
      ))
  )
