/**
 * The event store on PostgreSQL (node-postgres through `@effect/sql-pg`): a connection pool,
 * the store's migrations (in an optional schema), and the shared SQL store.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { DatabaseError } from "@eventuali/core/Errors"
import * as EventStore from "@eventuali/core/EventStore"
import type * as Privacy from "@eventuali/core/Privacy"
import * as ProjectionStore from "@eventuali/core/ProjectionStore"
import * as Redaction from "@eventuali/core/Redaction"
import * as SqlEventStore from "@eventuali/sql/SqlEventStore"
import * as Tables from "@eventuali/sql/Tables"
import * as Backend from "./internal/backend.js"
import * as Connect from "./internal/connect.js"
import * as listen from "./internal/listen.js"
import * as Replicas from "./internal/replicas.js"
import { Config, type ConfigError, Context, Duration, Effect, Layer, Redacted, type Scope } from "effect"

/**
 * - `url`: `postgresql://user:password@host:port/database` (or `postgres://`); a `?schema=NAME`
 *   parameter is taken out and used as `schema`.
 * - `schema`: the PostgreSQL schema of the store's tables, created if missing (default: the
 *   connection's search path, usually `public`).
 * - `maxConnections`: pool size (default 10).
 * - `connectTimeout`: how long to wait for the server at start-up, and for each new connection
 *   (default 5 seconds).
 *
 * @since 0.1.0
 * @category models
 */
export interface PgEventStoreConfig {
  readonly url: string | Redacted.Redacted<string>
  readonly schema?: string | undefined
  readonly maxConnections?: number | undefined
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * How long an operation waits for a connection from the pool before it fails with
   * `DatabaseError` (default 30 seconds): operations queue when every connection is in use.
   */
  readonly connectionWaitTimeout?: Duration.DurationInput | undefined
  readonly applicationName?: string | undefined
  /**
   * How often live subscriptions re-read without a notification (default 250 ms): notifications
   * wake them at once; polling covers what a notification cannot (a dropped LISTEN connection).
   */
  readonly pollInterval?: Duration.DurationInput | undefined
  /**
   * Whether the store runs its own statements (appends, reads) as named prepared statements,
   * parsed and planned once per connection (default `true`). Set `false` behind a pooler that
   * does not keep a connection's prepared statements, such as PgBouncer in transaction mode
   * before 1.21 or with `max_prepared_statements = 0`.
   */
  readonly preparedStatements?: boolean | undefined
  /**
   * Streaming replicas of the server (hot standbys), as URLs like `url` (without `?schema=`; the
   * store's schema is the same there). Loads, reads of the log, subscriptions and projections'
   * reads run on them (round robin) as `readFrom` and `ReadPreference` say; appends, command
   * handling, the data lifecycle and personal data keys stay on the primary. A fiber reads its
   * own appends and removals (see `replicaWaitTimeout`). A replica that fails a read is left alone
   * for a second while reads run on the primary (`Metrics.replicaFallbacks` counts the reads that
   * ran there instead). Default: none.
   */
  readonly replicas?: ReadonlyArray<string | Redacted.Redacted<string>> | undefined
  /**
   * Where reads go by default when there are replicas: `"replica"` (the default) or `"primary"`
   * (only effects run with `ReadPreference.replica` read on a replica).
   */
  readonly readFrom?: "replica" | "primary" | undefined
  /**
   * Read-your-writes: how long a read on a replica waits for the replica to replay the fiber's own
   * latest write (an append, or a removal of the data lifecycle) before it runs on the primary
   * instead (default 500 ms). The replica is then left alone for a second.
   */
  readonly replicaWaitTimeout?: Duration.DurationInput | undefined
}

/**
 * The URL with its password replaced by `***`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const redact: (url: string) => string = Redaction.redactUrl

/**
 * Splits `?schema=NAME` off a connection string.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseUrl = (url: string): { readonly url: string; readonly schema: string | undefined } => {
  const queryStart = url.indexOf("?")
  if (queryStart === -1) return { url, schema: undefined }
  const query = new URLSearchParams(url.slice(queryStart + 1))
  const schema = query.get("schema") ?? undefined
  query.delete("schema")
  const rest = query.toString()
  return { url: url.slice(0, queryStart) + (rest === "" ? "" : `?${rest}`), schema }
}

/**
 * Connects, migrates and builds the store and its projection checkpoints. The client is
 * returned too, for read models that live in the same database.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: PgEventStoreConfig
): Effect.Effect<SqlEventStore.OpenStore<PgClient.PgClient>, DatabaseError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* Connect.checkSchemaParameter(Connect.textOf(config.url))
    const parsed = parseUrl(Connect.textOf(config.url))
    const schema = config.schema ?? parsed.schema
    // Bad values are reported as themselves, not as what opening with them did.
    yield* Replicas.checkSettings(config)
    yield* SqlEventStore.checkOptions({ schema, pollInterval: config.pollInterval })
    const { client, pool } = yield* Connect.connect(Connect.options(parsed.url, config))
    const channel = Tables.channel(schema)
    const notifications = listen.wakeUps(yield* listen.make(parsed.url), channel)
    const preparedStatements = config.preparedStatements ?? true
    const replicas = yield* Replicas.open(client, pool, (config.replicas ?? []).map((url) => parseUrl(Connect.textOf(url)).url), config)
    const backend = yield* Backend.make(client, pool, { schema, channel, notifications, preparedStatements, replicas })
    const opened = yield* SqlEventStore.open(client, backend, { schema, pollInterval: config.pollInterval })
    // The first thing closing does (finalizers run last to first): requests for a connection
    // fail from now on, so no step of a fiber being interrupted waits for one forever (pool.ts).
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        pool.refuseWaiters()
        replicas?.refuseWaiters()
      })
    )
    return opened
  })

/**
 * The store, and the PostgreSQL client it uses, as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: PgEventStoreConfig
): Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy | SqlClient.SqlClient | PgClient.PgClient, DatabaseError> =>
  Layer.scopedContext(
    Effect.map(make(config), (opened) => Context.add(SqlEventStore.context(opened), PgClient.PgClient, opened.client))
  )

/**
 * {@link layer} with its settings read from `Config`, e.g.
 * `PgEventStore.layerConfig({ url: Config.redacted("DATABASE_URL") })`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<PgEventStoreConfig>
): Layer.Layer<
  EventStore.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy | SqlClient.SqlClient | PgClient.PgClient,
  DatabaseError | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
