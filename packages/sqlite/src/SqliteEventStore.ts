/**
 * The event store on an embedded SQLite database: one better-sqlite3 connection, served to the
 * application as `@effect/sql`'s `SqlClient` and used directly by the store (its backend:
 * check-then-insert appends, group commit), the store's migrations, and durable settings.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import type * as SqlClient from "@effect/sql/SqlClient"
import { DatabaseError } from "@eventuali/core/Errors"
import * as EventStore from "@eventuali/core/EventStore"
import type * as Privacy from "@eventuali/core/Privacy"
import * as ProjectionStore from "@eventuali/core/ProjectionStore"
import * as Migrations from "@eventuali/sql/Migrations"
import * as SqlErrors from "@eventuali/sql/SqlErrors"
import * as SqlEventStore from "@eventuali/sql/SqlEventStore"
import * as Tables from "@eventuali/sql/Tables"
import { Cause, Config, type ConfigError, type Duration, Effect, Layer, type Scope } from "effect"
import * as NodePath from "node:path"
import * as NodeFs from "node:fs"
import * as Backend from "./internal/backend.js"
import * as Client from "./internal/client.js"

/**
 * - `filename`: a file path (parent directories are created) or `":memory:"`.
 * - `synchronous`: `"full"` (default) syncs the WAL on every commit, so an acknowledged save
 *   survives a power cut. `"normal"` syncs only at checkpoints: faster, still safe against a
 *   crash of the process, but the last commits before a power cut or OS crash may be lost
 *   (never half-written: the database stays consistent).
 * - `busyTimeout`: milliseconds to wait for another process's write lock (default 5000).
 * - `pollInterval`: how often live subscriptions look for events written by other processes
 *   (default 250 ms; this store's own appends wake them at once).
 * - `readonly`: opens an existing store's file read-only (nothing is created or migrated): reads
 *   and subscriptions work, `save` and `append` fail with `DatabaseError`, and so does anything
 *   else that would write (a projection's checkpoint).
 *
 * @since 0.1.0
 * @category models
 */
export interface SqliteEventStoreConfig {
  readonly filename: string
  readonly synchronous?: "full" | "normal" | undefined
  readonly busyTimeout?: number | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
  readonly readonly?: boolean | undefined
}

const isMemory = (filename: string) => filename === ":memory:" || filename === ""

const openError = (filename: string, reason: string, cause?: unknown) =>
  new DatabaseError({ message: `Cannot open SQLite database ${JSON.stringify(filename)}: ${reason}`, cause })

/** One directory, whose parent exists; another process may have just created it too. */
const makeDirectory = (path: string) => {
  try {
    NodeFs.mkdirSync(path)
  } catch (cause) {
    if (NodeFs.statSync(path, { throwIfNoEntry: false })?.isDirectory() !== true) throw cause
  }
}

/**
 * Creates the file's missing parent directories, one level at a time from the nearest existing
 * ancestor, which must be a writable directory. Not `mkdirSync(..., { recursive: true })`: on
 * Node 20 it loops forever where a directory cannot be created but mkdir keeps answering ENOENT
 * (e.g. under `/proc`).
 */
const ensureDirectory = (filename: string) =>
  isMemory(filename) ? Effect.void : Effect.suspend(() => {
    const missing: Array<string> = []
    let directory = NodePath.dirname(NodePath.resolve(filename))
    let stat: NodeFs.Stats | undefined
    try {
      while ((stat = NodeFs.statSync(directory, { throwIfNoEntry: false })) === undefined) {
        const parent = NodePath.dirname(directory)
        if (parent === directory) break
        missing.unshift(directory)
        directory = parent
      }
      if (stat === undefined || !stat.isDirectory()) {
        return Effect.fail(openError(filename, `${directory} is not a directory`))
      }
      if (missing.length > 0) NodeFs.accessSync(directory, NodeFs.constants.W_OK)
      for (const path of missing) makeDirectory(path)
      return Effect.void
    } catch (cause) {
      return Effect.fail(openError(filename, `cannot create its directory (${SqlErrors.messageOf(cause)})`, cause))
    }
  })


/**
 * A read-only store cannot create or migrate its schema: the file must hold it already, up to the
 * last migration that changes SQLite and that reads need (later ones change PostgreSQL only, or
 * add what only writes use). Succeeds with the schema version it found.
 */
const expectSchema = (client: SqlClient.SqlClient, filename: string) =>
  client<{ readonly version: number | null }>`SELECT max(id) AS version FROM ${client(Tables.names.migrations)}`.pipe(
    Effect.catchAll(() => Effect.succeed([{ version: null }])),
    Effect.flatMap(([row]) => {
      const version = row?.version ?? 0
      const needed = Migrations.latestOf("sqlite")
      return version >= needed ? Effect.succeed(version) : Effect.fail(openError(
        filename,
        version === 0
          ? "it holds no event store (opened read-only, so none is created)"
          : `its event store schema is at version ${version}, this version needs ${needed} (opened read-only, so it is not migrated)`
      ))
    })
  )

/** The store of a read-only database: writes fail at once, saying why. */
const refuseWrites = (store: EventStore.Service, filename: string): EventStore.Service => {
  const refused = Effect.fail(
    new DatabaseError({ message: `The SQLite database ${JSON.stringify(filename)} is open read-only: it takes no saves, appends, deletes or removals` })
  )
  return {
    ...store,
    // Nothing to write is no write: such a save returns the root, an append the version.
    save: (root, options) => root.uncommittedEvents.length === 0 ? store.save(root, options) : refused,
    append: (aggregateType, aggregateId, events, options) =>
      Array.isArray(events) && events.length === 0 ? store.append(aggregateType, aggregateId, events, options) : refused,
    delete: () => refused,
    restore: () => refused,
    truncate: () => refused,
    applyRetention: () => refused,
    archive: () => refused
  }
}

/**
 * The options, checked before the file is touched (so a bad value creates no file): a `busyTimeout` of NaN or
 * Infinity reached `PRAGMA busy_timeout` as text SQLite refused, after the file was created,
 * and a negative one silently meant 0.
 */
const checkConfig = (config: SqliteEventStoreConfig) => {
  const busyTimeout = config.busyTimeout ?? 5000
  if (typeof busyTimeout !== "number" || !Number.isSafeInteger(busyTimeout) || busyTimeout < 0) {
    return Effect.fail(
      new DatabaseError({
        message: `Invalid busyTimeout ${String(config.busyTimeout)}: it must be a whole number of milliseconds, 0 or more`
      })
    )
  }
  const synchronous = config.synchronous ?? "full"
  if (synchronous !== "full" && synchronous !== "normal") {
    return Effect.fail(
      new DatabaseError({ message: `Invalid synchronous ${JSON.stringify(config.synchronous)}: use "full" or "normal"` })
    )
  }
  return SqlEventStore.checkOptions({ pollInterval: config.pollInterval }).pipe(
    Effect.as({ busyTimeout, synchronous })
  )
}

/**
 * Opens (creating if needed) the database, migrates it and builds the store and its projection
 * checkpoints. The client is returned too, for read models that live in the same database.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  config: SqliteEventStoreConfig
): Effect.Effect<SqlEventStore.OpenStore<SqlClient.SqlClient>, DatabaseError, Scope.Scope> =>
  Effect.gen(function*() {
    const { filename } = config
    const { busyTimeout, synchronous } = yield* checkConfig(config)
    const readonly = config.readonly === true
    if (!readonly) yield* ensureDirectory(filename)
    const { client, connection } = yield* Client.make({ filename, readonly, busyTimeout }).pipe(
      Effect.provide(Reactivity.layer),
      Effect.catchAllDefect((defect) => Effect.fail(openError(filename, SqlErrors.messageOf(defect), defect)))
    )
    yield* client.unsafe(`PRAGMA synchronous = ${synchronous === "normal" ? "NORMAL" : "FULL"}`).pipe(
      Effect.zipRight(client.unsafe(`PRAGMA busy_timeout = ${busyTimeout}`)),
      // Deleted rows are overwritten with zeros, not only unlinked: a key `Privacy.forget`
      // destroys (or an event deleted for good) leaves no bytes behind in the file. An
      // append-only store deletes little, so it costs little.
      Effect.zipRight(client.unsafe("PRAGMA secure_delete = ON")),
      Effect.mapError((error) => openError(filename, SqlErrors.messageOf(error.cause ?? error), error))
    )
    const schemaVersion = readonly ? yield* expectSchema(client, filename) : undefined
    const backend = yield* Backend.make(connection)
    const opened = yield* SqlEventStore.open(client, backend, {
      pollInterval: config.pollInterval,
      migrate: !readonly,
      archive: schemaVersion === undefined || schemaVersion >= Migrations.ARCHIVE
    })
    return readonly ? { ...opened, store: refuseWrites(opened.store, filename) } : opened
  }).pipe(
    Effect.catchAllDefect((defect) => Effect.fail(openError(config.filename, Cause.pretty(Cause.die(defect)), defect)))
  )

/**
 * The store, and the `SqlClient` on its connection (for read models in the same database), as a
 * layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  config: SqliteEventStoreConfig
): Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy | SqlClient.SqlClient, DatabaseError> =>
  SqlEventStore.layer(make(config))

/**
 * {@link layer} with its settings read from `Config`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<SqliteEventStoreConfig>
): Layer.Layer<
  EventStore.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy | SqlClient.SqlClient,
  DatabaseError | ConfigError.ConfigError
> => Layer.unwrapEffect(Effect.map(Config.unwrap(config), layer))
