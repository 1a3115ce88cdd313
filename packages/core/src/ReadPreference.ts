/**
 * Where a store with read replicas (`PgEventStore`'s `replicas`) runs the reads of an effect:
 * on a replica, or on the primary. The store's own default comes from its configuration; an
 * effect can ask for the primary (`ReadPreference.primary(effect)`) when it needs the latest
 * committed state rather than the state of a moment ago, and command handling always does
 * (`CommandHandler`), so that it decides on the version its append is checked against. Stores
 * without replicas (in-memory, SQLite, PostgreSQL without `replicas`) read from their one
 * database whatever the preference.
 *
 * The preference is fiber-local (a `FiberRef`): fibers forked inside the effect inherit it.
 *
 * @since 0.3.0
 */
import { Effect, FiberRef } from "effect"

/**
 * - `"store"`: the store's own configuration decides (the default).
 * - `"primary"`: every read on the primary.
 * - `"replica"`: reads on a replica, also where the store's configuration says primary.
 *
 * @since 0.3.0
 * @category models
 */
export type ReadPreference = "store" | "primary" | "replica"

/**
 * The current fiber's preference.
 *
 * @since 0.3.0
 * @category fiber refs
 */
export const current: FiberRef.FiberRef<ReadPreference> = FiberRef.unsafeMake<ReadPreference>("store")

/**
 * Runs `effect` with every store read on the primary.
 *
 * @since 0.3.0
 * @category combinators
 */
export const primary = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.locally(effect, current, "primary")

/**
 * Runs `effect` with its store reads on a replica (where the store has one).
 *
 * @since 0.3.0
 * @category combinators
 */
export const replica = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => Effect.locally(effect, current, "replica")
