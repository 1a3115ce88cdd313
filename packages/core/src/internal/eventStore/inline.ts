/**
 * Inline projections: handlers registered with the store run on the events of each append inside
 * the append's own transaction (`EventStorage.transaction`), so their read model commits with
 * the events or not at all. They wrap the storage's `append` only: an append that is refused
 * (a conflict, or an idempotent retry of one already made) wrote nothing and runs no handler.
 */
import { Effect, Option, type Scope } from "effect"
import * as Checkpoint from "../../Checkpoint.js"
import { EventStoreError, InlineProjectionError } from "../../Errors.js"
import type * as EventRegistry from "../../EventRegistry.js"
import type { AppendOutcome, AppendRequest, EventStorage, StoredEvent } from "../../EventStorage.js"
import type { InlineHandler, WriteError } from "../../EventStore.js"
import type * as Privacy from "../../Privacy.js"
import { revealEvents } from "../privacy.js"
import * as Validate from "../validate.js"
import { decodeEnvelopes } from "./envelopes.js"
import { validateFilters } from "./logReads.js"

/** The store's registered inline handlers and the append that runs them. */
export interface Inline {
  /** `storage.append`, with the registered handlers in its transaction when there are any. */
  readonly append: (request: AppendRequest) => Effect.Effect<AppendOutcome, WriteError>
  readonly register: (handler: InlineHandler) => Effect.Effect<void, EventStoreError, Scope.Scope>
}

const matches = (filter: ReadonlyArray<string> | undefined, value: string) =>
  filter === undefined || filter.length === 0 || filter.includes(value)

const describe = (cause: unknown): string => {
  if (typeof cause === "string") return cause
  if (typeof cause === "object" && cause !== null && "message" in cause && typeof cause.message === "string") return cause.message
  return String(cause)
}

/** Runs one handler on one event; its failure names the projection and the event. */
const handleOne = (handler: InlineHandler, event: StoredEvent) =>
  handler.handle({ ...event, checkpoint: Checkpoint.fromPosition(event.position) }).pipe(
    Effect.mapError((cause) =>
      new InlineProjectionError({
        projection: handler.name,
        eventId: event.eventId,
        eventType: event.eventType,
        message: `Inline projection ${JSON.stringify(handler.name)} failed on ${event.eventType} ${
          JSON.stringify(event.eventId)
        }: ${describe(cause)}`,
        cause
      })
    )
  )

export const make = (
  storage: EventStorage,
  registry: EventRegistry.EventRegistry,
  privacy: Privacy.Service | undefined
): Inline => {
  const handlers: Array<InlineHandler> = []

  /**
   * The handlers on the appended events, event by event in log order, opened (personal data) and
   * decoded as reads deliver them.
   */
  const project = (events: ReadonlyArray<StoredEvent>) =>
    Effect.flatMap(Effect.flatMap(revealEvents(privacy, events), (opened) => decodeEnvelopes(registry, opened)), (decoded) =>
      Effect.forEach(decoded, (event) =>
        Effect.forEach(
          handlers.filter((handler) => matches(handler.aggregateTypes, event.aggregateType) && matches(handler.eventTypes, event.eventType)),
          (handler) => handleOne(handler, event),
          { discard: true }
        ), { discard: true }))

  const transaction = storage.transaction
  const append = (request: AppendRequest): Effect.Effect<AppendOutcome, WriteError> =>
    handlers.length === 0 || transaction === undefined
      ? storage.append(request)
      : transaction(Effect.tap(storage.append(request), (outcome) => Option.isSome(outcome) ? project(outcome.value) : Effect.void))

  const register = (handler: InlineHandler) =>
    transaction === undefined
      ? Effect.fail(new EventStoreError({ message: `Inline projection ${JSON.stringify(handler.name)}: this store's backend has no transactions to run it in` }))
      : Validate.name("inline projection name", handler.name).pipe(
        // A filter the log reads would refuse must not silently match nothing here.
        Effect.zipRight(validateFilters(handler)),
        Effect.zipRight(Effect.acquireRelease(
          Effect.sync(() => handlers.push(handler)),
          () => Effect.sync(() => handlers.splice(handlers.indexOf(handler), 1))
        )),
        Effect.asVoid
      )

  return { append, register }
}
