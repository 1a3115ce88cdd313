/**
 * Inline projections: projections whose handlers run inside the transaction of each append, so
 * their read model is consistent with the events the moment `save` or `append` returns. A
 * failing handler fails the save, which then writes nothing: neither the events nor what any
 * inline handler wrote.
 *
 * Registered with a layer over the store's layer, so the handlers get their context (the SQL
 * stores' `SqlClient` among it) from the same layers as the rest of the application:
 *
 * ```ts
 * const Live = InlineProjection.layer(balances).pipe(Layer.provideMerge(SqliteEventStore.layer({ filename })))
 * ```
 *
 * On the SQL stores a handler that writes through the store's `SqlClient` writes in the append's
 * transaction (`sql.withTransaction` around the append and the handlers; on SQLite the append
 * then runs on the same connection, on PostgreSQL in a savepoint of the same transaction). An
 * inline save is therefore its own transaction on SQLite rather than one of a group commit: a
 * handler that fails rolls back its own save only, never another caller's. In memory the store's
 * events are rolled back the same way, but state the handler keeps itself (a `Ref`) is not
 * transactional: update it once per event, at the end of the handler.
 *
 * Design: a layer rather than an option of each store layer, so it works the same on every
 * backend and with the `eventuali` front door, and the handlers' requirements are the
 * application's to provide. Registration lasts for the layer's scope; appends made before the
 * layer is built run no handler.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import type { EventStoreError } from "./Errors.js"
import { EventStore } from "./EventStore.js"
import type { ProjectionEvent } from "./Projection.js"

/**
 * What an inline projection needs of a `Projection` (any `Projection.make` value fits): its
 * name, its filters and its handler. Checkpoints, batches and retries do not apply: the handler
 * runs once per appended event, in the append's transaction, and its failure fails the save.
 *
 * @since 0.1.0
 * @category models
 */
export interface InlineProjection<E = never, R = never> {
  readonly name: string
  /** Only events of these aggregate types. */
  readonly aggregateTypes?: ReadonlyArray<string> | undefined
  /** Only events of these event types. */
  readonly eventTypes?: ReadonlyArray<string> | undefined
  /** Applies one event to the read model; `replaying` is always false. */
  readonly handle: (event: ProjectionEvent) => Effect.Effect<void, E, R>
  /** Its handler's `event.build` says this version (default 1), generation 0. @since 0.2.0 */
  readonly version?: number | undefined
}

/**
 * Registers the projection with the store for the layer's lifetime (several: `Layer.mergeAll`
 * of one layer each; their handlers run in the order they were registered). Fails with
 * `EventStoreError` on a store whose backend has no transactions.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = <E, R>(projection: InlineProjection<E, R>): Layer.Layer<never, EventStoreError, EventStore | R> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const store = yield* EventStore
    const context = yield* Effect.context<R>()
    const build = { version: projection.version ?? 1, generation: 0 }
    yield* store.registerInline({
      name: projection.name,
      aggregateTypes: projection.aggregateTypes,
      eventTypes: projection.eventTypes,
      handle: (event) => Effect.provide(projection.handle({ ...event, replaying: false, build }), context)
    })
  }))
