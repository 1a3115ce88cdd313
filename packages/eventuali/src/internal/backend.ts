/**
 * The store layer of a parsed connection string. The drivers are optional peer dependencies: a
 * SQLite-only application installs no PostgreSQL code and the reverse, so each driver is loaded
 * when a connection string first names its scheme, and a missing one is a `DatabaseError` naming
 * the package to install.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { DatabaseError } from "@eventuali/core/Errors"
import type * as Core from "@eventuali/core/EventStore"
import * as InMemoryEventStore from "@eventuali/core/InMemoryEventStore"
import * as NodeCipher from "@eventuali/core/NodeCipher"
import type * as Privacy from "@eventuali/core/Privacy"
import type * as ProjectionStore from "@eventuali/core/ProjectionStore"
import { Effect, Layer, Redacted } from "effect"
import type { ConnectionString } from "../ConnectionString.js"

/** What a SQL backend's layer provides: the store, its checkpoints, its privacy service and its database's client. */
export type SqlServices = Core.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy | SqlClient.SqlClient

/** What every backend's layer provides. */
export type Services = Core.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy

const isModuleNotFound = (error: unknown, packageName: string): boolean =>
  typeof error === "object" && error !== null &&
  ((error as { readonly code?: unknown }).code === "ERR_MODULE_NOT_FOUND" ||
    (error as { readonly code?: unknown }).code === "MODULE_NOT_FOUND") &&
  String((error as { readonly message?: unknown }).message).includes(packageName)

const loadDriver = <A>(
  packageName: string,
  schemes: string,
  load: () => Promise<A>
): Effect.Effect<A, DatabaseError> =>
  Effect.tryPromise({
    try: load,
    catch: (error) =>
      new DatabaseError({
        message: isModuleNotFound(error, packageName)
          ? `${schemes} connection strings need the ${packageName} package, which is not installed: npm install ${packageName}`
          : `Loading ${packageName} failed: ${error instanceof Error ? error.message : String(error)}`,
        cause: error
      })
  })

/**
 * The layer of a SQL backend (SQLite or PostgreSQL), which also provides its `SqlClient` for read
 * models that commit with their projection's checkpoint.
 */
export const sqlLayer = (parsed: ConnectionString): Layer.Layer<SqlServices, DatabaseError> => {
  switch (parsed._tag) {
    case "Memory":
      return Layer.fail(
        new DatabaseError({
          message: "memory:// has no SQL database for a read model; use sqlite://:memory: for an in-memory SQL store"
        })
      )
    case "Sqlite":
      return Layer.unwrapEffect(
        Effect.map(
          loadDriver("@eventuali/sqlite", "sqlite://", () => import("@eventuali/sqlite/SqliteEventStore")),
          (SqliteEventStore) => SqliteEventStore.layer({ filename: parsed.filename, synchronous: parsed.synchronous })
        )
      )
    case "Postgres":
      return Layer.unwrapEffect(
        Effect.map(
          loadDriver("@eventuali/postgres", "postgresql:// and postgres://", () => import("@eventuali/postgres/PgEventStore")),
          (PgEventStore) => PgEventStore.layer({ url: Redacted.make(parsed.url) })
        )
      )
  }
}

/** The layer of any backend. */
export const layer = (parsed: ConnectionString): Layer.Layer<Services, DatabaseError> =>
  parsed._tag === "Memory" ? InMemoryEventStore.layerWithPrivacy(NodeCipher.aes256gcm) : sqlLayer(parsed)
