/**
 * The event store on a SQL database: the driver opens the database and hands its client and its
 * backend (`SqlBackend`) here; this module migrates and builds the store and its projection
 * checkpoints on them.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { DatabaseError } from "@eventuali/core/Errors"
import type { EventStorage } from "@eventuali/core/EventStorage"
import * as EventStore from "@eventuali/core/EventStore"
import * as NodeCipher from "@eventuali/core/NodeCipher"
import * as Privacy from "@eventuali/core/Privacy"
import * as ProjectionStore from "@eventuali/core/ProjectionStore"
import { Context, Duration, Effect, Layer, Option, type Scope } from "effect"
import * as KeyChanges from "./internal/keyChanges.js"
import * as storage from "./internal/storage.js"
import * as Migrations from "./Migrations.js"
import type { SqlBackend } from "./SqlBackend.js"
import * as SqlKeyStore from "./SqlKeyStore.js"
import * as SqlProjectionStore from "./SqlProjectionStore.js"

/**
 * - `schema` (PostgreSQL): the schema holding the store's tables, created if missing; several
 *   stores can share a database in different schemas. A plain identifier
 *   (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 characters).
 * - `pollInterval`: how often live subscriptions look for other processes' events.
 * - `migrate`: `false` builds the store on the schema as it is, which the driver has checked (a
 *   read-only SQLite store, which cannot record a migration); migrating is the default.
 * - `archive`: `false` when the database has no archive table (a read-only store on a database
 *   made before it): reads do not look there. Default `true`.
 * - `privacy`: the key store and cipher of personal data; by default keys in the database's
 *   key table ({@link SqlKeyStore}) and AES-256-GCM (`NodeCipher.aes256gcm`).
 * - `conjoined` (PostgreSQL): the schema's tables are one tenant's views of tables shared by
 *   tenants (`PgTenants`' conjoined strategy): upserts name the tenant column in their keys.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqlEventStoreOptions extends EventStore.StoreOptions {
  readonly schema?: string | undefined
  readonly migrate?: boolean | undefined
  readonly archive?: boolean | undefined
  readonly conjoined?: boolean | undefined
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * The options refused before anything is opened: a schema name that is not a plain identifier, a
 * `pollInterval` that is not a positive duration. `open` and `make` check them; a driver checks
 * them first, so a bad value is reported as itself, not as a failed connection.
 *
 * @since 0.1.0
 * @category validation
 */
export const checkOptions = (options: Pick<SqlEventStoreOptions, "schema" | "pollInterval">): Effect.Effect<void, DatabaseError> => {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    return Effect.fail(
      new DatabaseError({
        message: `Invalid schema name ${JSON.stringify(options.schema)}: use letters, digits and _ (not starting with a digit), at most 63 characters`
      })
    )
  }
  // An idle subscription re-reads every pollInterval: 0 made each one spin a core.
  const pollInterval = options.pollInterval === undefined ? undefined : Duration.decodeUnknown(options.pollInterval)
  if (pollInterval !== undefined && !Option.exists(pollInterval, (duration) => Duration.toMillis(duration) > 0)) {
    return Effect.fail(new DatabaseError({ message: `Invalid pollInterval ${String(options.pollInterval)}: it must be a positive duration` }))
  }
  return Effect.void
}

/**
 * The SQL storage of a backend (without migrating), for wrapping and for tests.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStorage = (backend: SqlBackend): EventStorage => storage.make(backend)

/** The key store of a database without a key table, opened without migrating: no subject has keys. */
const withoutKeys: Privacy.KeyStore = {
  ...Privacy.failingKeyStore("This database has no key table (it is open without migrating): it takes no personal data"),
  keysOf: () => Effect.succeed(new Map())
}

/** Migrates, then builds the store and the privacy service it seals personal data with. */
const makeParts = (backend: SqlBackend, options: SqlEventStoreOptions) =>
  checkOptions(options).pipe(
    Effect.zipRight(options.migrate === false ? Effect.void : Migrations.run(options)),
    Effect.zipRight(
      options.privacy === undefined
        ? Effect.map(
          SqlKeyStore.make({ schema: options.schema, keyLength: NodeCipher.aes256gcm.keyLength, backend }).pipe(
            // Not migrated (read-only) and made before the key table: it holds nothing sealed,
            // and takes no writes, so a store without keys reads it all.
            Effect.catchAll((error) => options.migrate === false ? Effect.succeed(withoutKeys) : Effect.fail(error))
          ),
          (keyStore) => ({ privacy: Privacy.make(keyStore, NodeCipher.aes256gcm), keyChanges: KeyChanges.rememberingKeyStores.has(keyStore) })
        )
        : Effect.succeed({ privacy: options.privacy, keyChanges: false })
    ),
    Effect.flatMap(({ keyChanges, privacy }) =>
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.map(
          EventStore.make(storage.make(backend, sql, { archive: options.archive, keyChanges }), { ...options, privacy }),
          (store) => ({ store, privacy })
        ))
    )
  )

/**
 * Migrates the client's database, then builds the store service on the backend.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  backend: SqlBackend,
  options: SqlEventStoreOptions = {}
): Effect.Effect<EventStore.Service, DatabaseError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.map(makeParts(backend, options), ({ store }) => store)

/**
 * A store open on a database: the store, its projection checkpoints, and the driver's client
 * (for read models in the same database).
 *
 * @since 0.1.0
 * @category models
 */
export interface OpenStore<Client extends SqlClient.SqlClient> {
  readonly store: EventStore.Service
  readonly projections: ProjectionStore.Service
  readonly client: Client
  /** The store's personal data keys and `forget`. */
  readonly privacy: Privacy.Service
}

/**
 * Migrates, then builds the store on a driver's backend and its projection checkpoints on the
 * driver's client.
 *
 * @since 0.1.0
 * @category constructors
 */
export const open = <Client extends SqlClient.SqlClient>(
  client: Client,
  backend: SqlBackend,
  options: SqlEventStoreOptions = {}
): Effect.Effect<OpenStore<Client>, DatabaseError, Scope.Scope> =>
  Effect.provideService(
    Effect.map(
      Effect.all([makeParts(backend, options), SqlProjectionStore.make({ schema: options.schema, conjoined: options.conjoined })]),
      ([{ privacy, store }, projections]) => ({ store, projections, client, privacy })
    ),
    SqlClient.SqlClient,
    client
  )

/**
 * What an open store provides: the store, its checkpoints, its `Privacy` and its client as
 * `SqlClient`.
 *
 * @since 0.1.0
 * @category context
 */
export const context = <Client extends SqlClient.SqlClient>(
  { client, privacy, projections, store }: OpenStore<Client>
): Context.Context<EventStore.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy | SqlClient.SqlClient> =>
  Context.make(EventStore.EventStore, store).pipe(
    Context.add(ProjectionStore.ProjectionStore, projections),
    Context.add(Privacy.Privacy, privacy),
    Context.add(SqlClient.SqlClient, client)
  )

/**
 * A driver's layer: the store it opens, with its {@link context}.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <Client extends SqlClient.SqlClient, E>(
  opened: Effect.Effect<OpenStore<Client>, E, Scope.Scope>
): Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy | SqlClient.SqlClient, E> =>
  Layer.scopedContext(Effect.map(opened, context))
