/**
 * Where projections keep their checkpoints. The SQL stores keep them in the event store's
 * database and run each batch of a projection in one transaction with its checkpoint, so a read
 * model written through the same database is updated exactly once; the in-memory store keeps
 * them in memory.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option } from "effect"
import type { DatabaseError } from "./Errors.js"

/**
 * A projection's stored progress.
 *
 * @since 0.1.0
 * @category models
 */
export interface ProjectionCheckpoint {
  readonly name: string
  /** Every event at or below this position has been processed (or skipped by the filters). */
  readonly position: bigint
  readonly updatedAt: Date
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Runs `body` with the projection's current position (0 if none), holding the projection's
   * lock, and stores the position `body` returns, atomically with what `body` wrote to the same
   * database: both commit or neither does. While one holder runs `body`, other instances of the
   * same projection wait.
   */
  readonly withCheckpoint: <A, E, R>(
    name: string,
    body: (position: bigint) => Effect.Effect<readonly [A, Option.Option<bigint>], E, R>
  ) => Effect.Effect<A, E | DatabaseError, R>
  /** The stored checkpoint of one projection. */
  readonly get: (name: string) => Effect.Effect<Option.Option<ProjectionCheckpoint>, DatabaseError>
  /** Every stored checkpoint, by name. */
  readonly list: Effect.Effect<ReadonlyArray<ProjectionCheckpoint>, DatabaseError>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class ProjectionStore extends Context.Tag("eventuali/ProjectionStore")<ProjectionStore, Service>() {}

/**
 * Checkpoints in memory, one lock per projection name.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.sync(() => {
  const checkpoints = new Map<string, ProjectionCheckpoint>()
  const locks = new Map<string, Effect.Semaphore>()
  const lockOf = (name: string) => {
    let lock = locks.get(name)
    if (lock === undefined) {
      lock = Effect.unsafeMakeSemaphore(1)
      locks.set(name, lock)
    }
    return lock
  }
  return {
    withCheckpoint: (name, body) =>
      lockOf(name).withPermits(1)(
        Effect.suspend(() => body(checkpoints.get(name)?.position ?? 0n)).pipe(
          Effect.tap(([, next]) =>
            Option.match(next, {
              onNone: () => Effect.void,
              onSome: (position) => Effect.sync(() => checkpoints.set(name, { name, position, updatedAt: new Date() }))
            })
          ),
          Effect.map(([result]) => result)
        )
      ),
    get: (name) => Effect.sync(() => Option.fromNullable(checkpoints.get(name))),
    list: Effect.sync(() => [...checkpoints.values()].sort((a, b) => a.name.localeCompare(b.name)))
  }
})

/**
 * {@link makeMemory} as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ProjectionStore> = Layer.effect(ProjectionStore, makeMemory)
