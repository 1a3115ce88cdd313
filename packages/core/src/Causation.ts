/**
 * Correlation and causation carried by the fiber. Inside `withCorrelation("req-1")`, every event
 * a `CommandHandler` saves carries `correlationId: "req-1"`; inside `causedBy(event)` (a process
 * manager or projection reacting to `event` by issuing a command), the saved events carry
 * `causationId: event.eventId` and the correlation id of `event`, so a whole conversation can be
 * followed across aggregates. `withMetadata` adds a user id and headers the same way.
 *
 * The context is a `FiberRef`: it flows into forked fibers and needs no service in the
 * environment. `save` and `append` take their metadata explicitly; `CommandHandler` fills it
 * from here.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Causation, CommandHandler } from "eventuali"
 *
 * // an HTTP request: one correlation id for everything it causes
 * // CommandHandler.handle(Account, "acc-1", command).pipe(Causation.withCorrelation(requestId))
 *
 * // a process manager: the command it issues is caused by the event it handles
 * // CommandHandler.handle(Account, "acc-2", command).pipe(Causation.causedBy(event))
 * ```
 *
 * @since 0.1.0
 */
import { Effect, FiberRef } from "effect"
import { dual } from "effect/Function"
import { globalValue } from "effect/GlobalValue"
import * as Event from "./Event.js"

/**
 * The event a command was caused by: its id, and its correlation id if it has one. An
 * `EventEnvelope` (or a `SubscriptionEvent`) is one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Cause {
  readonly eventId: string
  readonly metadata?: { readonly correlationId?: string | undefined } | undefined
}

/**
 * The metadata of the current fiber, which command handlers stamp on the events they save.
 *
 * @since 0.1.0
 * @category fiber refs
 */
export const currentMetadata: FiberRef.FiberRef<Event.EventMetadata> = globalValue(
  Symbol.for("eventuali/Causation/currentMetadata"),
  () => FiberRef.unsafeMake<Event.EventMetadata>(Event.metadata())
)

/**
 * The metadata of the current fiber (empty outside any context).
 *
 * @since 0.1.0
 * @category getters
 */
export const current: Effect.Effect<Event.EventMetadata> = FiberRef.get(currentMetadata)

/**
 * Runs `self` with `metadata` merged over the current context: given fields replace the
 * context's, headers are merged.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withMetadata: {
  (metadata: Event.EventMetadataInput): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, metadata: Event.EventMetadataInput): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, metadata: Event.EventMetadataInput): Effect.Effect<A, E, R> =>
    Effect.locallyWith(self, currentMetadata, (context) => Event.metadata(context, metadata))
)

/**
 * Runs `self` with `correlationId` as the correlation id of everything it saves through a
 * command handler (e.g. the id of an incoming request).
 *
 * @since 0.1.0
 * @category combinators
 */
export const withCorrelation: {
  (correlationId: string): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, correlationId: string): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, correlationId: string): Effect.Effect<A, E, R> =>
    withMetadata(self, { correlationId })
)

/**
 * Runs `self` as a reaction to `event`: what it saves through a command handler has
 * `causationId` = `event.eventId` and the correlation id of `event` (or, when `event` has none,
 * `event.eventId`: the conversation starts there).
 *
 * @since 0.1.0
 * @category combinators
 */
export const causedBy: {
  (event: Cause): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, event: Cause): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, event: Cause): Effect.Effect<A, E, R> =>
    withMetadata(self, { causationId: event.eventId, correlationId: event.metadata?.correlationId ?? event.eventId })
)
