/**
 * Fault injection for SQL-backed stores: a workload to run in a child process that is then
 * killed with SIGKILL (many fibers saving at once, so group commit holds a batch most of the
 * time, with a live subscriber and a projection writing a read model in the same database), and
 * the checks that must hold afterwards: every acknowledged save stored exactly once, no save in
 * part, versions gap-free, the subscriber and the projection resuming without a gap or a
 * duplicate, and the store taking new saves.
 *
 * @example
 * ```ts
 * // test/fixtures/faultWriter.ts, run in a child process (imports nothing from vitest)
 * import * as FaultWorkload from "@eventuali/testing/FaultWorkload"
 * FaultWorkload.workload({ round, readModel }).pipe(Effect.provide(MyStore.layer(...)), Effect.runFork)
 *
 * // test/Faults.test.ts
 * const run = yield* FaultInjection.runUntilKilled({ args: [...], killAfterAcks: 300 })
 * yield* FaultInjection.verify({ acks, seen: run.seen, round, readModel }).pipe(Effect.provide(MyStore.layer(...)))
 * ```
 *
 * @since 0.1.0
 */
import { assert, expect } from "@effect/vitest"
import type * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, Checkpoint, EventStore, Projection, ProjectionStore } from "@eventuali/core"
import type { EventEnvelope } from "@eventuali/core/Event"
import { Chunk, Effect, Either, Option, Schema, Stream } from "effect"
import { spawn } from "node:child_process"
import { type Ack, Counter, Line, PROJECTION, projection, readModelOf, type Seen, Ticked } from "./FaultWorkload.js"

export type { Ack, Seen } from "./FaultWorkload.js"

const decodeLine = Schema.decodeUnknownEither(Schema.parseJson(Line))

/**
 * What a killed writer process said before it died.
 *
 * @since 0.1.0
 * @category running
 */
export interface KilledRun {
  readonly acks: ReadonlyArray<Ack>
  readonly seen: ReadonlyArray<Seen>
  readonly signal: NodeJS.Signals | null
  readonly stderr: string
}

/**
 * Runs `node ...args` (a script running `FaultWorkload.workload`) until it has acknowledged
 * `killAfterAcks` saves (or for `maxMillisAfterFirstAck` after its first), then kills it with
 * SIGKILL. Every complete line it printed counts, including lines read after the kill.
 *
 * @since 0.1.0
 * @category running
 */
export const runUntilKilled = (options: {
  readonly args: ReadonlyArray<string>
  readonly cwd?: string | undefined
  readonly killAfterAcks: number
  readonly maxMillisAfterFirstAck?: number | undefined
}): Effect.Effect<KilledRun, Error> =>
  Effect.async<KilledRun, Error>((resume) => {
    const child = spawn(process.execPath, [...options.args], { cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] })
    const acks: Array<Ack> = []
    const seen: Array<Seen> = []
    let pending = ""
    let stderr = ""
    let killed = false
    let badLine: string | undefined
    const kill = () => {
      if (!killed) {
        killed = true
        child.kill("SIGKILL")
      }
    }
    let killTimer: NodeJS.Timeout | undefined
    // A writer that never acknowledges anything is stuck: stop it and report its stderr.
    const deadline = setTimeout(kill, 60_000)
    child.stdout.setEncoding("utf8")
    child.stdout.on("data", (chunk: string) => {
      pending += chunk
      let newline: number
      while ((newline = pending.indexOf("\n")) !== -1) {
        const line = decodeLine(pending.slice(0, newline))
        if (Either.isLeft(line)) badLine ??= pending.slice(0, newline)
        else if ("ack" in line.right) acks.push(line.right.ack)
        else seen.push(...line.right.seen)
        pending = pending.slice(newline + 1)
      }
      if (acks.length >= options.killAfterAcks) kill()
      else if (acks.length > 0 && killTimer === undefined) killTimer = setTimeout(kill, options.maxMillisAfterFirstAck ?? 5_000)
    })
    child.stderr.setEncoding("utf8")
    child.stderr.on("data", (chunk: string) => {
      stderr += chunk
    })
    const done = () => {
      clearTimeout(deadline)
      clearTimeout(killTimer)
    }
    child.on("error", (error) => {
      done()
      resume(Effect.fail(error))
    })
    // "close": the process is gone and its stdout drained; a partial last line is no acknowledgement.
    child.on("close", (_code, signal) => {
      done()
      if (badLine !== undefined) resume(Effect.fail(new Error(`The writer printed a malformed line: ${badLine}`)))
      else resume(Effect.succeed({ acks, seen, signal, stderr }))
    })
    return Effect.sync(kill)
  })

const groupBy = <A>(items: ReadonlyArray<A>, key: (item: A) => string): Map<string, Array<A>> => {
  const groups = new Map<string, Array<A>>()
  for (const item of items) {
    const group = groups.get(key(item))
    if (group === undefined) groups.set(key(item), [item])
    else group.push(item)
  }
  return groups
}

/**
 * The key {@link groupLog} files events without a `saveId` header under (the workload writes
 * none: finding it means something else wrote to the store).
 *
 * @since 0.1.0
 * @category verifying
 */
export const NO_SAVE_ID = "(no saveId)"

/**
 * The events of a workload's log grouped by aggregate and by save (their `saveId` header), each
 * group in the order of `events`: what the checks after a kill look at.
 *
 * @since 0.1.0
 * @category verifying
 */
export const groupLog = <Event extends EventEnvelope>(events: ReadonlyArray<Event>): {
  readonly byAggregate: ReadonlyMap<string, ReadonlyArray<Event>>
  readonly bySave: ReadonlyMap<string, ReadonlyArray<Event>>
} => ({
  byAggregate: groupBy(events, (event) => event.aggregateId),
  bySave: groupBy(events, (event) => event.metadata.headers["saveId"] ?? NO_SAVE_ID)
})

const decodeIndex = Schema.decodeUnknownSync(Schema.Struct({ index: Schema.Number }))

/**
 * What `verify` found.
 *
 * @since 0.1.0
 * @category verifying
 */
export interface Verified {
  readonly events: number
  readonly saves: number
  /** Saves found whole in the store that the killed process had not acknowledged yet. */
  readonly unacknowledged: number
  /** Events the killed subscriber had received. */
  readonly seen: number
  /** Events the killed projection had applied (committed with its checkpoint). */
  readonly projected: number
}

/**
 * Checks the store after a writer process running `FaultWorkload.workload` was killed, then resumes its
 * subscriber and its projection and saves once more on every aggregate (acknowledged, added to
 * `acks`, for later rounds):
 *
 * - versions are 1..n per aggregate, in position order, and every save found is whole;
 * - every acknowledged save is stored exactly once, its event ids at its versions;
 * - what the subscriber received is a prefix of the log, in order, without duplicates, and a
 *   subscription from its last checkpoint delivers exactly the rest;
 * - the read model holds each event up to the projection's checkpoint exactly once, and the
 *   projection, resumed, brings it to every event exactly once;
 * - every aggregate loads whole and takes a save at the next version.
 *
 * @since 0.1.0
 * @category verifying
 */
export const verify = (options: {
  readonly acks: Array<Ack>
  readonly seen: ReadonlyArray<Seen>
  readonly round: string
  readonly readModel: string
}): Effect.Effect<Verified, unknown, EventStore.EventStore | ProjectionStore.ProjectionStore | SqlClient.SqlClient> =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const events = Chunk.toReadonlyArray(yield* Stream.runCollect(store.streamEventsByType(Counter.type)))

    const { byAggregate, bySave } = groupLog(events)
    for (const [aggregateId, stream] of byAggregate) {
      expect(stream.map((event) => event.aggregateVersion), `versions of ${aggregateId}`).toEqual(
        Array.from({ length: stream.length }, (_, i) => i + 1)
      )
    }
    expect(new Set(events.map((event) => event.eventId)).size, "event ids are unique").toBe(events.length)

    // Every save found is whole: `count` events at consecutive versions of one aggregate, in order.
    for (const [saveId, saved] of bySave) {
      const first = saved[0]!
      expect(saved.length, `save ${saveId} is all or nothing`).toBe(Number(first.metadata.headers["count"]))
      expect(saved.map((event) => [event.aggregateId, event.aggregateVersion]), saveId).toEqual(
        saved.map((_, i) => [first.aggregateId, first.aggregateVersion + i])
      )
      expect(saved.map((event) => decodeIndex(event.data).index), saveId).toEqual(saved.map((_, i) => i))
    }

    // Every acknowledged save is there, once, with its event ids at its versions.
    for (const ack of options.acks) {
      const saved = bySave.get(ack.saveId)
      assert.isDefined(saved, `acknowledged save ${ack.saveId} is missing`)
      expect(saved!.map((event) => [event.aggregateId, event.aggregateVersion, event.eventId]), ack.saveId).toEqual(
        ack.eventIds.map((eventId, i) => [ack.aggregateId, ack.version - ack.eventIds.length + 1 + i, eventId])
      )
    }
    const acknowledged = new Set(options.acks.map((ack) => ack.saveId))
    const unacknowledged = [...bySave.keys()].filter((saveId) => !acknowledged.has(saveId)).length

    // The subscriber received a prefix of the log, in order; from its last checkpoint, the rest.
    const ids = events.map((event) => event.eventId)
    expect(options.seen.map((seen) => seen.eventId), "the subscriber received a prefix of the log").toEqual(
      ids.slice(0, options.seen.length)
    )
    expect(options.seen.map((seen) => seen.checkpoint), "checkpoints").toEqual(
      events.slice(0, options.seen.length).map((event) => Checkpoint.fromPosition(event.position))
    )
    const last = options.seen[options.seen.length - 1]
    const rest = events.length - options.seen.length
    const resumed = rest === 0 ? [] : Chunk.toReadonlyArray(
      yield* store.subscribe({ aggregateTypes: [Counter.type], from: last === undefined ? "beginning" : Checkpoint.fromPosition(BigInt(last.checkpoint)) }).pipe(
        Stream.take(rest),
        Stream.runCollect,
        Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error("the resumed subscription did not deliver the rest") })
      )
    )
    expect(resumed.map((event) => event.eventId), "a subscription from the last checkpoint delivers exactly the rest").toEqual(ids.slice(options.seen.length))

    // The read model holds each event up to the projection's checkpoint exactly once.
    const readModel = yield* readModelOf(options.readModel)
    const checkpoint = Option.match(yield* (yield* ProjectionStore.ProjectionStore).get(PROJECTION), {
      onNone: () => 0n,
      onSome: (stored) => stored.position
    })
    const projectedBefore = [...(yield* readModel.rows)].sort()
    expect(projectedBefore, "the read model holds every event up to the checkpoint, once").toEqual(
      events.filter((event) => event.position <= checkpoint).map((event) => event.eventId).sort()
    )
    const running = yield* Projection.run(yield* projection(options.readModel))
    yield* running.whenCaughtUp
    expect([...(yield* readModel.rows)].sort(), "the resumed projection applied every event once").toEqual([...ids].sort())

    // The store keeps working: every aggregate loads whole and takes a save at the next version.
    for (const [aggregateId, stream] of byAggregate) {
      const loaded = Option.getOrThrow(yield* store.load(Counter, aggregateId))
      expect(loaded.version, aggregateId).toBe(stream.length)
      expect(loaded.state.events, aggregateId).toBe(stream.length)
      const saveId = `${options.round}-probe-${aggregateId}`
      const eventId = crypto.randomUUID()
      const saved = yield* store.save(Aggregate.apply(loaded, new Ticked({ saveId, index: 0, padding: "" })), {
        eventIds: [eventId],
        headers: { saveId, count: "1" }
      })
      expect(saved.version).toBe(stream.length + 1)
      options.acks.push({ saveId, aggregateId, version: saved.version, eventIds: [eventId] })
    }
    yield* running.whenCaughtUp
    expect((yield* readModel.rows).length, "the projection follows new saves").toBe(events.length + byAggregate.size)

    return {
      events: events.length,
      saves: bySave.size,
      unacknowledged,
      seen: options.seen.length,
      projected: projectedBefore.length
    }
  }))
