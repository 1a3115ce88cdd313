/**
 * The event store over any `@effect/sql` `SqlClient` (SQLite and PostgreSQL dialects): the
 * drivers build a client and hand it here.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { DatabaseError } from "@eventuali/core/Errors"
import type { EventStorage } from "@eventuali/core/EventStorage"
import * as EventStore from "@eventuali/core/EventStore"
import { Effect, Layer } from "effect"
import * as storage from "./internal/storage.js"
import * as Migrations from "./Migrations.js"

/**
 * The SQL storage (without migrating), for wrapping.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeStorage: Effect.Effect<EventStorage, never, SqlClient.SqlClient> = storage.make

/**
 * Migrates the database, then builds the store service on the client.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<EventStore.Service, DatabaseError, SqlClient.SqlClient> = Effect.zipRight(
  Migrations.run,
  Effect.flatMap(storage.make, EventStore.make)
)

/**
 * The store as a layer over a `SqlClient` layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<EventStore.EventStore, DatabaseError, SqlClient.SqlClient> = Layer.effect(
  EventStore.EventStore,
  make
)
