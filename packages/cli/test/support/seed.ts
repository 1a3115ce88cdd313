/**
 * Writes events and projection checkpoints through the library, in this process, for the CLI
 * (another process) to find.
 */
import type { NewEvent } from "@eventuali/core/Event"
import { Effect, Option } from "effect"
import { EventStore, ExpectedVersion, ProjectionStore } from "eventuali"

/** Opens the store of `url` for `body` and closes it after. */
export const withStore = <A, E>(
  url: string,
  body: (store: EventStore.Service) => Effect.Effect<A, E, ProjectionStore.ProjectionStore>
): Promise<A> =>
  Effect.runPromise(
    Effect.flatMap(EventStore, body).pipe(Effect.provide(EventStore.layer(url)))
  )

export const append = (url: string, aggregateType: string, aggregateId: string, events: ReadonlyArray<NewEvent>) =>
  withStore(url, (store) => store.append(aggregateType, aggregateId, events, { expectedVersion: ExpectedVersion.any }))

/** Four events: two of user u1 (the second with metadata), one of u2, one of order o1. */
export const seed = async (url: string): Promise<void> => {
  await append(url, "User", "u1", [{ eventType: "UserRegistered", data: { name: "Ann", email: "ann@example.com" } }])
  await append(url, "User", "u2", [{ eventType: "UserRegistered", data: { name: "Bob", email: "bob@example.com" } }])
  await append(url, "User", "u1", [{
    eventType: "UserEmailChanged",
    eventVersion: 2,
    data: { newEmail: "ann@example.org", note: "ünïcödé 😀" },
    metadata: { correlationId: "corr-1", causationId: "cause-1", userId: "admin", headers: { tenant: "acme" } }
  }])
  await append(url, "Order", "o1", [{ eventType: "OrderPlaced", data: { total: "12.50", items: [1, 2, 3] } }])
}

/** Stores a projection checkpoint, as a running projection would. */
export const storeCheckpoint = (url: string, name: string, position: bigint) =>
  withStore(url, () =>
    Effect.flatMap(ProjectionStore.ProjectionStore, (projections) =>
      projections.withCheckpoint(name, () => Effect.succeed([undefined, Option.some(position)] as const))))
