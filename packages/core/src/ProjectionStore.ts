/**
 * Where projections keep their progress: checkpoints, the ranges of events each checkpoint
 * handled (for `Projection.verify`), parked events, which instance holds which partition, and
 * each projection's partition count and filters. The SQL stores keep all of it in the event
 * store's database and write a batch's progress in the batch's transaction, so a read model
 * written through the same database is updated exactly once; the in-memory store keeps it in
 * memory.
 *
 * `Projection` is the only intended caller of most of this service; the CLI and operators read
 * it, and move checkpoints with `withCheckpoint`.
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
  /** The checkpoint's name: the projection's, or `NAME#P` for partition `P` of a partitioned projection. */
  readonly name: string
  /** Every event at or below this position has been processed (or skipped by the filters). */
  readonly position: bigint
  readonly updatedAt: Date
}

/**
 * How a projection was registered by the last instance that started it.
 *
 * @since 0.2.0
 * @category models
 */
export interface ProjectionInfo {
  readonly name: string
  readonly partitions: number
  readonly aggregateTypes: ReadonlyArray<string>
  readonly eventTypes: ReadonlyArray<string>
  /**
   * Whether the code that registered it can be rebuilt without downtime (its `activate` takes
   * the build): what `eventuali projections rebuild` decides by.
   *
   * @since 0.2.0
   */
  readonly rebuildable?: boolean | undefined
}

/**
 * A partition held by an instance until `expiresAt` (renewed while the instance runs).
 *
 * @since 0.2.0
 * @category models
 */
export interface Lease {
  readonly name: string
  readonly partition: number
  readonly owner: string
  readonly expiresAt: Date
}

/**
 * An event a projection's handler could not apply (after its retry schedule) and set aside.
 *
 * @since 0.2.0
 * @category models
 */
export interface ParkedEvent {
  /** The projection's name. */
  readonly name: string
  readonly partition: number
  readonly position: bigint
  readonly eventId: string
  /** The failure's `_tag` (`"Defect"` for a defect, `"Unknown"` for an untagged failure). */
  readonly errorTag: string
  readonly errorMessage: string
  /** How many times the handler was run on it (the first try and each retry). */
  readonly attempts: number
  readonly parkedAt: Date
  /** Set by `eventuali projections retry`: the instance holding the partition retries it. */
  readonly retryRequested: boolean
}

/**
 * The events a checkpoint handled between two positions: how many, and the sum (modulo 2^64) of
 * their ids' 64-bit hashes. Consecutive batches extend one range; a checkpoint moved by hand
 * starts another.
 *
 * @since 0.2.0
 * @category models
 */
export interface HandledRange {
  readonly checkpoint: string
  /** Exclusive. */
  readonly fromPosition: bigint
  /** Inclusive. */
  readonly toPosition: bigint
  readonly handled: number
  readonly digest: bigint
}

/**
 * What a batch commits with its new checkpoint.
 *
 * @since 0.2.0
 * @category models
 */
export interface BatchCommit {
  readonly position: bigint
  /** The events handled (or parked) between the old checkpoint and `position`. */
  readonly handled: number
  readonly digest: bigint
  readonly parked: ReadonlyArray<ParkedEvent>
}

/**
 * Runs an effect inside a batch's transaction (see `withBatch`).
 *
 * @since 0.2.0
 * @category models
 */
export interface InTransaction {
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R>
}

/**
 * One copy of a projection's read model: a `version` (the code's `Projection.version`; 1 for an
 * unversioned projection) and a rebuild `generation` of it (0 for the version's first build; each
 * rebuild without downtime builds the next one beside the active one).
 *
 * @since 0.2.0
 * @category models
 */
export interface Build {
  readonly version: number
  readonly generation: number
}

/**
 * Which build of a projection serves queries, and the rebuild asked for, if any.
 *
 * @since 0.2.0
 * @category models
 */
export interface Builds {
  /** The build whose read model serves queries. */
  readonly active: Build
  /** A later generation of the active version asked for (`requestRebuild`) and not yet active. */
  readonly requested: Option.Option<number>
}

/**
 * Whether `a` is a later build than `b` (a later version, or a later generation of the same one).
 *
 * @since 0.2.0
 * @category models
 */
export const isLater = (a: Build, b: Build): boolean =>
  a.version > b.version || (a.version === b.version && a.generation > b.generation)

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * Runs `body` with the checkpoint's current position (0 if none), holding the checkpoint's
   * lock, and stores the position `body` returns, atomically with what `body` wrote to the same
   * database: both commit or neither does. While one holder runs `body`, other instances wait.
   * Setting a checkpoint to 0 forgets the ranges it handled (a replay starts over); any other
   * move leaves them, so `Projection.verify` sees the move.
   */
  readonly withCheckpoint: <A, E, R>(
    name: string,
    body: (position: bigint) => Effect.Effect<readonly [A, Option.Option<bigint>], E, R>
  ) => Effect.Effect<A, E | DatabaseError, R>
  /**
   * A projection's batch: runs `body` with the checkpoint's committed position, then commits the
   * new position, extends the handled ranges and stores the parked events, atomically with what
   * the effects `body` wraps in `inTransaction` (the handler) wrote to the same database.
   *
   * The transaction begins at the first statement of a wrapped effect (or at the commit), takes
   * the checkpoint's lock there and checks that the checkpoint is still at `position`: so a
   * handler that waits on another service holds no connection meanwhile, and what `body` reads
   * unwrapped (the log) runs outside the transaction. If another holder moved the checkpoint
   * meanwhile, the transaction is rolled back and `body` runs again from the new position.
   *
   * @since 0.2.0
   */
  readonly withBatch: <A, E, R>(
    name: string,
    body: (position: bigint, inTransaction: InTransaction) => Effect.Effect<readonly [A, Option.Option<BatchCommit>], E, R>
  ) => Effect.Effect<A, E | DatabaseError, R>
  /** The stored checkpoint of one projection (or partition). */
  readonly get: (name: string) => Effect.Effect<Option.Option<ProjectionCheckpoint>, DatabaseError>
  /** Every stored checkpoint, by name. */
  readonly list: Effect.Effect<ReadonlyArray<ProjectionCheckpoint>, DatabaseError>
  /**
   * Records a projection's partition count and filters if it has none yet, updates the filters
   * if the partition count is the same, and returns what is stored (the caller refuses another
   * partition count).
   *
   * @since 0.2.0
   */
  readonly register: (info: ProjectionInfo) => Effect.Effect<ProjectionInfo, DatabaseError>
  /** Every registered projection, by name. @since 0.2.0 */
  readonly projections: Effect.Effect<ReadonlyArray<ProjectionInfo>, DatabaseError>
  /**
   * One heartbeat of instance `owner`: renews its presence and its leases for `leaseMillis`,
   * forgets expired instances and leases, gives up the partitions beyond its fair share (the
   * partition count divided by the live instances, rounded up) and takes free ones up to it.
   * Succeeds with the partitions it holds, ascending.
   *
   * @since 0.2.0
   */
  readonly claim: (
    name: string,
    owner: string,
    partitions: number,
    leaseMillis: number
  ) => Effect.Effect<ReadonlyArray<number>, DatabaseError>
  /** Forgets instance `owner` and gives up its leases (a stopping instance). @since 0.2.0 */
  readonly release: (name: string, owner: string) => Effect.Effect<void, DatabaseError>
  /** The unexpired leases of a projection. @since 0.2.0 */
  readonly leases: (name: string) => Effect.Effect<ReadonlyArray<Lease>, DatabaseError>
  /** The ranges a checkpoint handled, by `fromPosition`. @since 0.2.0 */
  readonly ranges: (checkpoint: string) => Effect.Effect<ReadonlyArray<HandledRange>, DatabaseError>
  /** The parked events of a projection, by position. @since 0.2.0 */
  readonly parked: (name: string) => Effect.Effect<ReadonlyArray<ParkedEvent>, DatabaseError>
  /** Replaces a parked event's record (same projection and position). @since 0.2.0 */
  readonly updateParked: (event: ParkedEvent) => Effect.Effect<void, DatabaseError>
  /** Deletes a parked event; succeeds with whether it was there. @since 0.2.0 */
  readonly deleteParked: (name: string, position: bigint) => Effect.Effect<boolean, DatabaseError>
  /**
   * The version of a versioned projection whose read model serves queries (`None` before one
   * was activated). See `Projection`'s `version`.
   *
   * @since 0.2.0
   */
  readonly activeVersion: (name: string) => Effect.Effect<Option.Option<number>, DatabaseError>
  /**
   * Makes `version` the projection's active version and runs `body` (which switches readers to
   * its read model) in one transaction, holding the projection's version lock — unless the
   * active version is already `version` or a later one: then nothing runs. Succeeds with the
   * active version after the call, so a caller learns when a later version took over.
   *
   * @since 0.2.0
   */
  readonly activate: <E, R>(name: string, version: number, body: Effect.Effect<void, E, R>) => Effect.Effect<number, E | DatabaseError, R>
  /**
   * The active build of a projection and the rebuild asked for (`None` before a build was
   * activated).
   *
   * @since 0.2.0
   */
  readonly builds: (name: string) => Effect.Effect<Option.Option<Builds>, DatabaseError>
  /**
   * {@link Service.activate} for a build: makes `build` the active one and runs `body` in one
   * transaction, unless the active build is `build` or a later one. Activating a new version
   * drops a rebuild asked for of the old one. Succeeds with the active build after the call.
   *
   * @since 0.2.0
   */
  readonly activateBuild: <E, R>(name: string, build: Build, body: Effect.Effect<void, E, R>) => Effect.Effect<Build, E | DatabaseError, R>
  /**
   * Asks for a rebuild without downtime: records the next generation of the active version,
   * which the running instances build beside the active one and activate once it has caught up.
   * Idempotent while one is in progress: succeeds with the generation asked for and whether it
   * was asked for before. `None` when no build is active yet (nothing serves queries).
   *
   * @since 0.2.0
   */
  readonly requestRebuild: (
    name: string
  ) => Effect.Effect<Option.Option<{ readonly build: Build; readonly alreadyRequested: boolean }>, DatabaseError>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class ProjectionStore extends Context.Tag("eventuali/ProjectionStore")<ProjectionStore, Service>() {}

/**
 * The fair share of `partitions` among `instances` live instances, rounded up, so that every
 * partition can be held.
 *
 * @since 0.2.0
 * @category leases
 */
export const fairShare = (partitions: number, instances: number): number => Math.ceil(partitions / Math.max(1, instances))

/**
 * The builds a stored row says: the active build and the highest generation asked for.
 *
 * @since 0.2.0
 * @category models
 */
export const toBuilds = (row: { readonly active: Build; readonly requested: number }): Builds => ({
  active: row.active,
  requested: row.requested > row.active.generation ? Option.some(row.requested) : Option.none()
})

const identity: InTransaction = (effect) => effect

const byPosition = (a: { readonly position: bigint }, b: { readonly position: bigint }) =>
  a.position < b.position ? -1 : a.position > b.position ? 1 : 0

/**
 * Everything in memory, one lock per checkpoint name; leases expire by the real clock, as the
 * SQL stores' expire by the database's. Writes are applied after `body` succeeds,
 * so a failing batch leaves nothing behind, as a rolled-back transaction would.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.sync(() => {
  const checkpoints = new Map<string, ProjectionCheckpoint>()
  const versions = new Map<string, { readonly active: Build; readonly requested: number }>()
  const versionLock = Effect.unsafeMakeSemaphore(1)
  const ranges = new Map<string, Array<HandledRange>>()
  const parked = new Map<string, Map<bigint, ParkedEvent>>()
  const registry = new Map<string, ProjectionInfo>()
  const instances = new Map<string, Map<string, number>>()
  const leases = new Map<string, Map<number, { readonly owner: string; readonly expiresAt: number }>>()
  const locks = new Map<string, Effect.Semaphore>()
  const lockOf = (name: string) => {
    let lock = locks.get(name)
    if (lock === undefined) {
      lock = Effect.unsafeMakeSemaphore(1)
      locks.set(name, lock)
    }
    return lock
  }
  const mapOf = <K, V>(maps: Map<string, Map<K, V>>, name: string): Map<K, V> => {
    let map = maps.get(name)
    if (map === undefined) {
      map = new Map()
      maps.set(name, map)
    }
    return map
  }
  const setPosition = (name: string, position: bigint) => {
    checkpoints.set(name, { name, position, updatedAt: new Date() })
    if (position === 0n) ranges.delete(name)
  }
  const extendRange = (name: string, from: bigint, commit: BatchCommit) => {
    const list = ranges.get(name) ?? []
    const index = list.findIndex((range) => range.toPosition === from)
    const previous = index >= 0 ? list[index]! : undefined
    const range: HandledRange = {
      checkpoint: name,
      fromPosition: previous?.fromPosition ?? from,
      toPosition: commit.position,
      handled: (previous?.handled ?? 0) + commit.handled,
      digest: BigInt.asUintN(64, (previous?.digest ?? 0n) + commit.digest)
    }
    if (index >= 0) list[index] = range
    else list.push(range)
    list.sort((a, b) => a.fromPosition < b.fromPosition ? -1 : a.fromPosition > b.fromPosition ? 1 : 0)
    ranges.set(name, list)
  }
  const locked = <A, B, E, R>(
    name: string,
    body: (position: bigint, inTransaction: InTransaction) => Effect.Effect<readonly [A, Option.Option<B>], E, R>,
    commit: (from: bigint, next: B) => void
  ): Effect.Effect<A, E, R> =>
    lockOf(name).withPermits(1)(Effect.suspend(() => {
      const from = checkpoints.get(name)?.position ?? 0n
      // Nothing here holds a connection: the lock is held for the whole body.
      return Effect.map(body(from, identity), ([result, next]) => {
        if (Option.isSome(next)) commit(from, next.value)
        return result
      })
    }))
  const service: Service = {
    withCheckpoint: (name, body) => locked(name, body, (_, position) => setPosition(name, position)),
    withBatch: (name, body) =>
      locked(name, body, (from, commit) => {
        setPosition(name, commit.position)
        if (commit.position > from) extendRange(name, from, commit)
        for (const event of commit.parked) mapOf(parked, event.name).set(event.position, event)
      }),
    get: (name) => Effect.sync(() => Option.fromNullable(checkpoints.get(name))),
    list: Effect.sync(() => [...checkpoints.values()].sort((a, b) => a.name.localeCompare(b.name))),
    register: (info) =>
      Effect.sync(() => {
        const existing = registry.get(info.name)
        if (existing === undefined || existing.partitions === info.partitions) registry.set(info.name, info)
        return registry.get(info.name)!
      }),
    projections: Effect.sync(() => [...registry.values()].sort((a, b) => a.name.localeCompare(b.name))),
    claim: (name, owner, partitions, leaseMillis) =>
      Effect.sync(() => {
        const now = Date.now()
        const live = mapOf(instances, name)
        live.set(owner, now + leaseMillis)
        for (const [instance, expiresAt] of live) if (expiresAt <= now) live.delete(instance)
        const held = mapOf(leases, name)
        for (const [partition, lease] of held) if (lease.expiresAt <= now) held.delete(partition)
        const share = fairShare(partitions, live.size)
        const mine = [...held].filter(([, lease]) => lease.owner === owner).map(([partition]) => partition).sort((a, b) => a - b)
        for (const partition of mine.splice(share)) held.delete(partition)
        for (let partition = 0; partition < partitions && mine.length < share; partition++) {
          if (!held.has(partition)) mine.push(partition)
        }
        for (const partition of mine) held.set(partition, { owner, expiresAt: now + leaseMillis })
        return mine.sort((a, b) => a - b)
      }),
    release: (name, owner) =>
      Effect.sync(() => {
        instances.get(name)?.delete(owner)
        const held = leases.get(name)
        if (held !== undefined) for (const [partition, lease] of held) if (lease.owner === owner) held.delete(partition)
      }),
    leases: (name) =>
      Effect.sync(() => {
        const now = Date.now()
        return [...(leases.get(name) ?? new Map())]
          .filter(([, lease]) => lease.expiresAt > now)
          .map(([partition, lease]) => ({ name, partition, owner: lease.owner, expiresAt: new Date(lease.expiresAt) }))
          .sort((a, b) => a.partition - b.partition)
      }),
    ranges: (checkpoint) => Effect.sync(() => [...(ranges.get(checkpoint) ?? [])]),
    parked: (name) => Effect.sync(() => [...(parked.get(name)?.values() ?? [])].sort(byPosition)),
    updateParked: (event) =>
      Effect.sync(() => {
        const events = parked.get(event.name)
        if (events?.has(event.position)) events.set(event.position, event)
      }),
    deleteParked: (name, position) => Effect.sync(() => parked.get(name)?.delete(position) ?? false),
    activeVersion: (name) => Effect.sync(() => Option.map(Option.fromNullable(versions.get(name)), (row) => row.active.version)),
    activate: (name, version, body) =>
      Effect.map(service.activateBuild(name, { version, generation: 0 }, body), (active) => active.version),
    builds: (name) => Effect.sync(() => Option.map(Option.fromNullable(versions.get(name)), toBuilds)),
    activateBuild: (name, build, body) =>
      versionLock.withPermits(1)(Effect.suspend(() => {
        const row = versions.get(name)
        if (row !== undefined && !isLater(build, row.active)) return Effect.succeed(row.active)
        const requested = row !== undefined && row.active.version === build.version ? Math.max(row.requested, build.generation) : build.generation
        return Effect.as(Effect.zipRight(body, Effect.sync(() => versions.set(name, { active: build, requested }))), build)
      })),
    requestRebuild: (name) =>
      versionLock.withPermits(1)(Effect.sync(() => {
        const row = versions.get(name)
        if (row === undefined) return Option.none()
        const alreadyRequested = row.requested > row.active.generation
        const generation = alreadyRequested ? row.requested : row.active.generation + 1
        versions.set(name, { ...row, requested: generation })
        return Option.some({ build: { version: row.active.version, generation }, alreadyRequested })
      }))
  }
  return service
})

/**
 * {@link makeMemory} as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<ProjectionStore> = Layer.effect(ProjectionStore, makeMemory)
