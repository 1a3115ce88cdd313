/**
 * A versioned projection's part of the run loop: its own checkpoint per version, whether its
 * events are replayed (it is not the active version), and its activation once it has caught up.
 *
 * Replaying is read from the stored active version in each batch's transaction, so an older
 * version that a newer one has replaced, still running somewhere, sees it from its next batch on
 * and stops repeating side effects; an unversioned projection reads nothing.
 */
import { Effect, Option, Ref } from "effect"
import type { DatabaseError } from "../Errors.js"
import type * as ProjectionStore from "../ProjectionStore.js"

/** The checkpoint of a version: version 1 keeps the unversioned projection's. */
export const checkpointName = (name: string, version: number | undefined): string =>
  version === undefined || version === 1 ? name : `${name}@v${version}`

/** Why a version is refused (it must be a positive integer), if it is. */
export const invalid = (version: unknown): string | undefined =>
  version === undefined || (typeof version === "number" && Number.isSafeInteger(version) && version >= 1)
    ? undefined
    : `The version must be a positive integer, got ${String(version)}`

export interface Tracker {
  /** Whether this batch's events are replayed (read in the batch's transaction). */
  readonly replaying: Effect.Effect<boolean, DatabaseError>
  /**
   * After a batch that reached the head: unless this version is active or replaced, activates
   * it when `complete` (every partition has caught up).
   */
  readonly caughtUp: <E, R, E2>(
    complete: Effect.Effect<boolean, E2>,
    activate: Effect.Effect<void, E, R>
  ) => Effect.Effect<void, E | E2 | DatabaseError, R>
  /** The active version as last seen. */
  readonly active: Effect.Effect<Option.Option<number>>
  /** Whether this version is active or replaced (read from the store), so a caller waiting for it to catch up may stop. */
  readonly settled: Effect.Effect<boolean, DatabaseError>
}

export const make = (
  checkpoints: ProjectionStore.Service,
  name: string,
  version: number | undefined
): Effect.Effect<Tracker> =>
  Effect.map(Ref.make(Option.none<number>()), (seen): Tracker => {
    if (version === undefined) {
      return { replaying: Effect.succeed(false), caughtUp: () => Effect.void, active: Ref.get(seen), settled: Effect.succeed(true) }
    }
    return {
      replaying: Effect.map(
        Effect.tap(checkpoints.activeVersion(name), (active) => Ref.set(seen, active)),
        (active) => Option.getOrElse(active, () => 0) !== version
      ),
      caughtUp: (complete, activate) =>
        Effect.flatMap(Ref.get(seen), (active) =>
          Option.getOrElse(active, () => 0) >= version
            ? Effect.void
            : Effect.flatMap(complete, (done) =>
              done
                ? Effect.flatMap(checkpoints.activate(name, version, activate), (now) => Ref.set(seen, Option.some(now)))
                : Effect.void
            )),
      active: Ref.get(seen),
      settled: Effect.map(
        Effect.tap(checkpoints.activeVersion(name), (active) => Ref.set(seen, active)),
        (active) => Option.getOrElse(active, () => 0) >= version
      )
    }
  })
