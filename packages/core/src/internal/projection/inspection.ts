/**
 * What `Projection.status` and `Projection.verify` compute from the log and the projection
 * store: both read the log with the projection's filters and split it by partition exactly as
 * the run loop does.
 */
import { Clock, Effect, Option } from "effect"
import * as Checkpoint from "../../Checkpoint.js"
import { type DatabaseError, ProjectionError } from "../../Errors.js"
import type { EventEnvelope } from "../../Event.js"
import { EventStore, type ReadError } from "../../EventStore.js"
import { type HandledRange, isLater, ProjectionStore, type ProjectionInfo } from "../../ProjectionStore.js"
import * as ProjectionVersion from "../projectionVersion.js"
import { addDigests, eventIdHash, partitionOf } from "./hashing.js"

/** The checkpoint of one partition: the projection's own name without partitions (as before partitions existed). */
export const checkpointName = (name: string, partition: number, partitions: number): string =>
  partitions === 1 ? name : `${name}#${partition}`

const PAGE = 1000

/** Feeds `visit` every event matching the projection's filters after `from` up to `to` (inclusive), page by page. */
export const scanLog = (
  info: ProjectionInfo,
  from: bigint,
  to: bigint,
  visit: (event: EventEnvelope, partition: number) => void,
  limit = Number.POSITIVE_INFINITY
): Effect.Effect<number, ReadError, EventStore> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    let cursor = from
    let read = 0
    while (cursor < to && read < limit) {
      const events = yield* store.readEvents({
        fromPosition: cursor,
        limit: PAGE,
        aggregateTypes: info.aggregateTypes,
        eventTypes: info.eventTypes
      })
      for (const event of events) {
        if (event.position > to || read >= limit) return read
        read++
        visit(event, partitionOf(event.aggregateId, info.partitions))
      }
      if (events.length < PAGE) return read
      cursor = events[events.length - 1]!.position
    }
    return read
  })

/** The stored registration, or a `ProjectionError` naming the registered projections. */
export const registered = (name: string): Effect.Effect<ProjectionInfo, ProjectionError | DatabaseError, ProjectionStore> =>
  Effect.gen(function*() {
    const projections = yield* (yield* ProjectionStore).projections
    const info = projections.find((projection) => projection.name === name)
    if (info !== undefined) return info
    const known = projections.map((projection) => projection.name)
    return yield* new ProjectionError({
      projection: name,
      message: `No projection named ${JSON.stringify(name)} has run against this store (${
        known.length === 0 ? "none has" : `registered: ${known.join(", ")}`
      })`
    })
  })

/**
 * One partition's status.
 */
export interface PartitionStatus {
  readonly partition: number
  /** The instance holding it now (its id), if any. */
  readonly holder: string | undefined
  /** Its checkpoint (0 before its first batch). */
  readonly position: bigint
  /** Events handled (or parked) up to the checkpoint, as recorded with it. */
  readonly handled: number
  /** Matching events after the checkpoint (counted up to {@link LAG_LIMIT} in all; `lagCapped` when the count stopped there). */
  readonly lagEvents: number
  /** Milliseconds since the oldest event after the checkpoint was stored; 0 when caught up. */
  readonly lagMillis: number
  readonly parked: number
}

/**
 * Which build of a versioned or rebuildable projection a status is of, and its part.
 */
export interface BuildStatus {
  /** The projection's name (without `@v…`). */
  readonly projection: string
  readonly version: number
  readonly generation: number
  /** Serving queries (the active build), being built (a later one, not active yet), or replaced by a later one. */
  readonly role: "serving" | "building" | "replaced"
  /** For the serving build: the checkpoint name of a rebuild of it asked for and not yet active. */
  readonly rebuilding: string | undefined
}

/**
 * A projection's status.
 */
export interface Status {
  readonly name: string
  readonly partitions: number
  readonly aggregateTypes: ReadonlyArray<string>
  readonly eventTypes: ReadonlyArray<string>
  /** The head of the log when the status was taken. */
  readonly head: bigint
  /** Events parked now, over all partitions. */
  readonly parked: number
  /** Whether the lag count stopped at {@link LAG_LIMIT} events: the real lag is larger. */
  readonly lagCapped: boolean
  readonly partitionStatus: ReadonlyArray<PartitionStatus>
  /** Which build this is (a versioned or rebuildable projection; `undefined` for any other). */
  readonly build: BuildStatus | undefined
}

/** The build a registered projection is, from its name and the stored builds. */
export const buildStatus = (name: string): Effect.Effect<BuildStatus | undefined, DatabaseError, ProjectionStore> =>
  Effect.gen(function*() {
    const { build, projection } = ProjectionVersion.parseName(name)
    const builds = yield* (yield* ProjectionStore).builds(projection)
    if (Option.isNone(builds)) return projection === name ? undefined : { projection, ...build, role: "building", rebuilding: undefined }
    const { active, requested } = builds.value
    const serving = active.version === build.version && active.generation === build.generation
    return {
      projection,
      ...build,
      role: serving ? "serving" : isLater(build, active) ? "building" : "replaced",
      rebuilding: serving && Option.isSome(requested)
        ? ProjectionVersion.buildName(projection, { version: active.version, generation: requested.value })
        : undefined
    }
  })

/** How many events a status reads at most to count the lag: a status must stay cheap however far a projection is behind. */
export const LAG_LIMIT = 100_000

const sumHandled = (ranges: ReadonlyArray<HandledRange>) => ranges.reduce((sum, range) => sum + range.handled, 0)

export const status = (info: ProjectionInfo): Effect.Effect<Status, ReadError | DatabaseError, EventStore | ProjectionStore> =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const projections = yield* ProjectionStore
    const head = yield* Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition)
    const leases = yield* projections.leases(info.name)
    const parked = yield* projections.parked(info.name)
    const partitions = yield* Effect.forEach(Array.from({ length: info.partitions }, (_, i) => i), (partition) =>
      Effect.gen(function*() {
        const key = checkpointName(info.name, partition, info.partitions)
        const checkpoint = yield* projections.get(key)
        const ranges = yield* projections.ranges(key)
        return {
          partition,
          position: Option.match(checkpoint, { onNone: () => 0n, onSome: (stored) => stored.position }),
          handled: sumHandled(ranges)
        }
      }))
    const lowest = partitions.reduce((low, partition) => partition.position < low ? partition.position : low, head)
    const lag = partitions.map(() => ({ events: 0, oldest: Number.POSITIVE_INFINITY }))
    const read = yield* scanLog(info, lowest, head, (event, partition) => {
      if (event.position <= partitions[partition]!.position) return
      const entry = lag[partition]!
      entry.events++
      entry.oldest = Math.min(entry.oldest, event.timestamp.getTime())
    }, LAG_LIMIT)
    const now = yield* Clock.currentTimeMillis
    const build = yield* buildStatus(info.name)
    return {
      build,
      name: info.name,
      partitions: info.partitions,
      aggregateTypes: info.aggregateTypes,
      eventTypes: info.eventTypes,
      head,
      parked: parked.length,
      lagCapped: read >= LAG_LIMIT,
      partitionStatus: partitions.map((partition, i) => ({
        ...partition,
        holder: leases.find((lease) => lease.partition === i)?.owner,
        lagEvents: lag[i]!.events,
        lagMillis: lag[i]!.events === 0 ? 0 : Math.max(0, now - lag[i]!.oldest),
        parked: parked.filter((event) => event.partition === i).length
      }))
    }
  })

/** At most this many positions are listed per kind and partition (the counts are exact). */
const LISTED = 100

/**
 * What `verify` found for one partition.
 */
export interface PartitionVerification {
  readonly partition: number
  readonly checkpoint: bigint
  /** Matching events of the partition in the log up to the checkpoint (or the last recorded range, if beyond). */
  readonly expected: number
  /** Events recorded as handled, over all its ranges. */
  readonly recorded: number
  /** Positions no recorded range covers (at most 100 listed; see `missingCount`). */
  readonly missing: ReadonlyArray<bigint>
  readonly missingCount: number
  /** Positions two or more ranges cover: handled more than once (at most 100 listed). */
  readonly doubled: ReadonlyArray<bigint>
  readonly doubledCount: number
  /** Ranges whose recorded count or digest differs from the log's events in them. */
  readonly inconsistentRanges: ReadonlyArray<HandledRange>
  readonly complete: boolean
}

/**
 * What `verify` found.
 */
export interface Verification {
  readonly name: string
  /** Every matching event up to each checkpoint handled exactly once (parked events count as handled). */
  readonly complete: boolean
  readonly partitions: ReadonlyArray<PartitionVerification>
  readonly parked: number
}

const covering = (ranges: ReadonlyArray<HandledRange>, position: bigint): Array<number> => {
  const indexes: Array<number> = []
  for (let i = 0; i < ranges.length; i++) {
    const range = ranges[i]!
    if (range.fromPosition < position && position <= range.toPosition) indexes.push(i)
  }
  return indexes
}

export const verify = (info: ProjectionInfo): Effect.Effect<Verification, ReadError | DatabaseError, EventStore | ProjectionStore> =>
  Effect.gen(function*() {
    const projections = yield* ProjectionStore
    const states = yield* Effect.forEach(Array.from({ length: info.partitions }, (_, i) => i), (partition) =>
      Effect.gen(function*() {
        const key = checkpointName(info.name, partition, info.partitions)
        const checkpoint = Option.match(yield* projections.get(key), { onNone: () => 0n, onSome: (stored) => stored.position })
        const ranges = yield* projections.ranges(key)
        const upTo = ranges.reduce((high, range) => range.toPosition > high ? range.toPosition : high, checkpoint)
        return {
          partition,
          checkpoint,
          ranges,
          upTo,
          expected: 0,
          missing: [] as Array<bigint>,
          missingCount: 0,
          doubled: [] as Array<bigint>,
          doubledCount: 0,
          inLog: ranges.map(() => ({ handled: 0, digest: 0n }))
        }
      }))
    const upTo = states.reduce((high, state) => state.upTo > high ? state.upTo : high, 0n)
    yield* scanLog(info, 0n, upTo, (event, partition) => {
      const state = states[partition]!
      if (event.position > state.upTo) return
      state.expected++
      const ranges = covering(state.ranges, event.position)
      for (const index of ranges) {
        const sums = state.inLog[index]!
        sums.handled++
        sums.digest = addDigests(sums.digest, eventIdHash(event.eventId))
      }
      if (ranges.length === 0) {
        if (state.missingCount++ < LISTED) state.missing.push(event.position)
      } else if (ranges.length > 1) {
        if (state.doubledCount++ < LISTED) state.doubled.push(event.position)
      }
    })
    const partitions = states.map((state): PartitionVerification => {
      const inconsistentRanges = state.ranges.filter((range, i) =>
        range.handled !== state.inLog[i]!.handled || range.digest !== state.inLog[i]!.digest
      )
      return {
        partition: state.partition,
        checkpoint: state.checkpoint,
        expected: state.expected,
        recorded: sumHandled(state.ranges),
        missing: state.missing,
        missingCount: state.missingCount,
        doubled: state.doubled,
        doubledCount: state.doubledCount,
        inconsistentRanges,
        complete: state.missingCount === 0 && state.doubledCount === 0 && inconsistentRanges.length === 0
      }
    })
    const parked = yield* projections.parked(info.name)
    return { name: info.name, complete: partitions.every((partition) => partition.complete), partitions, parked: parked.length }
  })
