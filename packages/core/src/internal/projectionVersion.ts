/**
 * A versioned (or rebuildable) projection's part of the run loop: its own checkpoint per build
 * (a version, and a rebuild generation of it), whether its events are replayed (it is not the
 * active build), and its activation once it has caught up.
 *
 * Replaying is read from the stored active build in each batch's transaction, so an older build
 * that a newer one has replaced, still running somewhere, sees it from its next batch on and
 * stops repeating side effects; an unversioned projection reads nothing.
 */
import { Effect, Option, Ref } from "effect"
import type { DatabaseError } from "../Errors.js"
import * as ProjectionStore from "../ProjectionStore.js"

/** The checkpoint of a version: version 1 keeps the unversioned projection's. */
export const checkpointName = (name: string, version: number | undefined): string =>
  version === undefined || version === 1 ? name : `${name}@v${version}`

/** The checkpoint of a build: its version's for generation 0, `NAME@vV.gG` for a rebuild. */
export const buildName = (name: string, build: ProjectionStore.Build): string =>
  build.generation === 0 ? checkpointName(name, build.version) : `${name}@v${build.version}.g${build.generation}`

/** The projection and build a checkpoint name stands for (a name without `@v…` is version 1, generation 0). */
export const parseName = (checkpoint: string): { readonly projection: string; readonly build: ProjectionStore.Build } => {
  const match = /^(.+)@v(\d+)(?:\.g(\d+))?$/.exec(checkpoint)
  if (match === null) return { projection: checkpoint, build: { version: 1, generation: 0 } }
  return { projection: match[1]!, build: { version: Number(match[2]), generation: Number(match[3] ?? 0) } }
}

/** Why a version is refused (it must be a positive integer), if it is. */
export const invalid = (version: unknown): string | undefined =>
  version === undefined || (typeof version === "number" && Number.isSafeInteger(version) && version >= 1)
    ? undefined
    : `The version must be a positive integer, got ${String(version)}`

export interface Tracker {
  /** Whether this batch's events are replayed (read in the batch's transaction). */
  readonly replaying: Effect.Effect<boolean, DatabaseError>
  /**
   * After a batch that reached the head: unless this build is active or replaced, activates
   * it when `complete` (every partition has caught up).
   */
  readonly caughtUp: <E, R, E2>(
    complete: Effect.Effect<boolean, E2>,
    activate: Effect.Effect<void, E, R>
  ) => Effect.Effect<void, E | E2 | DatabaseError, R>
  /** The active build as last seen. */
  readonly active: Effect.Effect<Option.Option<ProjectionStore.Build>>
  /** Whether this build is active or replaced (read from the store), so a caller waiting for it to catch up may stop. */
  readonly settled: Effect.Effect<boolean, DatabaseError>
}

/** `build` undefined: an unversioned projection, never replaying and never activated. */
export const make = (
  checkpoints: ProjectionStore.Service,
  name: string,
  build: ProjectionStore.Build | undefined
): Effect.Effect<Tracker> =>
  Effect.map(Ref.make(Option.none<ProjectionStore.Build>()), (seen): Tracker => {
    if (build === undefined) {
      return { replaying: Effect.succeed(false), caughtUp: () => Effect.void, active: Ref.get(seen), settled: Effect.succeed(true) }
    }
    const read = Effect.tap(
      Effect.map(checkpoints.builds(name), Option.map((builds) => builds.active)),
      (active) => Ref.set(seen, active)
    )
    /** Whether the active build is this one or a later one. */
    const reached = (active: Option.Option<ProjectionStore.Build>) =>
      Option.isSome(active) && !ProjectionStore.isLater(build, active.value)
    return {
      replaying: Effect.map(
        read,
        (active) => !(Option.isSome(active) && active.value.version === build.version && active.value.generation === build.generation)
      ),
      caughtUp: (complete, activate) =>
        Effect.flatMap(Ref.get(seen), (active) =>
          reached(active)
            ? Effect.void
            : Effect.flatMap(complete, (done) =>
              done
                ? Effect.flatMap(checkpoints.activateBuild(name, build, activate), (now) => Ref.set(seen, Option.some(now)))
                : Effect.void
            )),
      active: Ref.get(seen),
      settled: Effect.map(read, reached)
    }
  })
