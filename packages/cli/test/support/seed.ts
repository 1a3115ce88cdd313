/**
 * Writes events and projection checkpoints through the library, in this process, for the CLI
 * (another process) to find.
 */
import type { NewEvent } from "@eventuali/core/Event"
import { Effect, Option, Schedule } from "effect"
import { EventStore, ExpectedVersion, Projection, ProjectionStore } from "eventuali"

/** Opens the store of `url` for `body` and closes it after. */
export const withStore = <A, E>(
  url: string,
  body: (store: EventStore.Service) => Effect.Effect<A, E, EventStore | ProjectionStore.ProjectionStore>
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
/** Records `version` as the active version of projection `name`, as a caught-up version does. */
export const activateVersion = (url: string, name: string, version: number) =>
  withStore(url, () => Effect.flatMap(ProjectionStore.ProjectionStore, (projections) => projections.activate(name, version, Effect.void)))

export const storeCheckpoint = (url: string, name: string, position: bigint) =>
  withStore(url, () =>
    Effect.flatMap(ProjectionStore.ProjectionStore, (projections) =>
      projections.withCheckpoint(name, () => Effect.succeed([undefined, Option.some(position)] as const))))

/**
 * Runs a 2-partition projection that parks the `OrderPlaced` events unless `fixed`, until it has
 * caught up (and, with `untilNothingParked`, until its parked events were retried away).
 */
export const runParkingProjection = (
  url: string,
  name: string,
  options: { readonly fixed: boolean; readonly untilNothingParked?: boolean }
) =>
  withStore(url, () =>
    Effect.scoped(Effect.gen(function*() {
      const running = yield* Projection.run(Projection.make({
        name,
        partitions: 2,
        onFailure: "park",
        retry: Schedule.stop,
        statusInterval: "100 millis",
        leaseDuration: "1 second",
        handle: (event) =>
          event.eventType === "OrderPlaced" && !options.fixed
            ? Effect.fail({ _tag: "OrderError", message: "orders are not supported yet" })
            : Effect.void
      }))
      yield* running.whenCaughtUp
      if (options.untilNothingParked === true) {
        yield* Effect.repeat(running.parked, { until: (events) => events.length === 0, schedule: Schedule.spaced("50 millis") }).pipe(
          Effect.timeout("10 seconds")
        )
      }
    })))

/** What a rebuildable projection's handler saw: each event's id, its build's generation, and whether it was replayed. */
export interface Handled {
  readonly eventId: string
  readonly generation: number
  readonly replaying: boolean
}

/**
 * Runs a rebuildable projection (its `activate` takes the build) with a read model in memory
 * until it has caught up (also with any rebuild asked for), running `during` (CLI commands) while
 * it runs; succeeds with what its handler saw and the build it activated last.
 */
export const runRebuildable = (url: string, name: string, during: () => Promise<void> = async () => {}) =>
  withStore(url, () =>
    Effect.scoped(Effect.gen(function*() {
      const handled: Array<Handled> = []
      let serving = "none"
      const running = yield* Projection.run(Projection.make({
        name,
        partitions: 2,
        leaseDuration: "600 millis",
        handle: (event) =>
          Effect.sync(() => {
            if (!handled.some((one) => one.eventId === event.eventId && one.generation === event.build.generation)) {
              handled.push({ eventId: event.eventId, generation: event.build.generation, replaying: event.replaying })
            }
          }),
        activate: (build) => Effect.sync(() => { serving = `v${build.version}.g${build.generation}` })
      }))
      yield* running.whenCaughtUp
      yield* Effect.promise(during)
      yield* running.whenCaughtUp
      return { handled, serving }
    })))
