/**
 * `eventuali projections`: every projection of the store with its status (partitions held,
 * checkpoint, lag, parked events, the build it is), and the operations on one: `rebuild`,
 * `parked`, `retry`, `discard`, `verify`. The CLI cannot run a projection's handler: `rebuild`
 * and `retry` ask the running instances (they notice within a heartbeat, or at their next status
 * interval); the rest work on the store alone.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Checkpoint from "@eventuali/core/Checkpoint"
import { EventStore } from "@eventuali/core/EventStore"
import * as Projection from "@eventuali/core/Projection"
import { type ProjectionCheckpoint, ProjectionStore } from "@eventuali/core/ProjectionStore"
import { Console, Effect, Option } from "effect"
import { CliError, json, nonEmptyArgument, position, type Target, url, withStore } from "./common.js"
import { Database, eventsAfter } from "./database.js"
import * as Output from "./output.js"

/** One line of the list: a projection that registered itself (0.2.0 and later), or a bare checkpoint. */
interface Row {
  readonly name: string
  readonly checkpoint: bigint
  /** Events after the checkpoint: the projection's own (filtered, per partition) when registered; all events otherwise; none without SQL. */
  readonly lag: number | undefined
  readonly updatedAt: Date | undefined
  readonly status: Projection.Status | undefined
}

const latest = (checkpoints: ReadonlyArray<ProjectionCheckpoint>): Date | undefined =>
  checkpoints.reduce<Date | undefined>((last, checkpoint) => last === undefined || checkpoint.updatedAt > last ? checkpoint.updatedAt : last, undefined)

/** The head of the log and every projection: registered ones with their status, other checkpoints with their lag. */
const projectionRows = Effect.gen(function*() {
  const projections = yield* ProjectionStore
  const store = yield* EventStore
  const database = yield* Database
  const head = yield* Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition)
  const checkpoints = yield* projections.list
  const registered = yield* projections.projections
  const partitionOf = (checkpoint: ProjectionCheckpoint) =>
    registered.find((info) => checkpoint.name === info.name || checkpoint.name.startsWith(`${info.name}#`))
  const statuses = yield* Effect.forEach(registered, (info) =>
    Effect.map(Projection.status(info.name), (status): Row => {
      const lowest = status.partitionStatus.reduce((low, partition) => partition.position < low ? partition.position : low, status.head)
      return {
        name: info.name,
        checkpoint: lowest,
        lag: status.partitionStatus.reduce((sum, partition) => sum + partition.lagEvents, 0),
        updatedAt: latest(checkpoints.filter((checkpoint) => partitionOf(checkpoint) === info)),
        status
      }
    }))
  const bare = yield* Effect.forEach(checkpoints.filter((checkpoint) => partitionOf(checkpoint) === undefined), (checkpoint) =>
    Effect.map(
      Option.match(database.sql, {
        onNone: () => Effect.succeed(undefined),
        onSome: (sql) => eventsAfter(sql, checkpoint.position)
      }),
      (lag): Row => ({ name: checkpoint.name, checkpoint: checkpoint.position, lag, updatedAt: checkpoint.updatedAt, status: undefined })
    ))
  return { head, rows: [...statuses, ...bare].sort((a, b) => a.name.localeCompare(b.name)) }
})

/** `v2 serving (rebuilding: NAME@v2.g1)`, `v2.g1 building`, `v1 replaced`; `n/a` for an unversioned projection. */
const buildText = (build: Projection.BuildStatus | undefined) =>
  build === undefined
    ? "n/a"
    : `v${build.version}${build.generation === 0 ? "" : `.g${build.generation}`} ${build.role}${
      build.rebuilding === undefined ? "" : ` (rebuild: ${build.rebuilding})`
    }`

const lagTime = (status: Projection.Status) => {
  const millis = status.partitionStatus.reduce((high, partition) => Math.max(high, partition.lagMillis), 0)
  return millis === 0 ? "0" : `${(millis / 1000).toFixed(1)} s`
}

const list = Command.make("projections", { url, json }, ({ json, url }) =>
  withStore(
    url,
    { create: false },
    Effect.gen(function*() {
      const { head, rows } = yield* projectionRows
      if (json) {
        if (rows.length > 0) {
          yield* Console.log(rows.map((row) =>
            Output.json({
              name: row.name,
              checkpoint: row.checkpoint,
              lag: row.lag ?? null,
              updatedAt: row.updatedAt?.toISOString() ?? null,
              ...(row.status === undefined ? {} : {
                partitions: row.status.partitions,
                held: row.status.partitionStatus.filter((partition) => partition.holder !== undefined).length,
                parked: row.status.parked,
                lagMillis: row.status.partitionStatus.reduce((high, partition) => Math.max(high, partition.lagMillis), 0),
                partitionStatus: row.status.partitionStatus.map((partition) => ({ ...partition, holder: partition.holder ?? null })),
                build: row.status.build === undefined ? null : { ...row.status.build, rebuilding: row.status.build.rebuilding ?? null }
              })
            })
          ).join("\n"))
        }
        return
      }
      if (rows.length === 0) return yield* Console.log("No projection checkpoints stored.")
      yield* Console.log([
        `Head position: ${head}`,
        "",
        Output.table(
          ["Projection", "Checkpoint", "Lag (events)", "Updated", "Partitions held", "Lag (time)", "Parked", "Build"],
          rows.map((row) => [
            row.name,
            row.checkpoint.toString(),
            row.lag === undefined ? "n/a" : `${Output.count(row.lag)}${row.status?.lagCapped === true ? "+" : ""}`,
            row.updatedAt?.toISOString() ?? "never",
            row.status === undefined
              ? "n/a"
              : `${row.status.partitionStatus.filter((partition) => partition.holder !== undefined).length}/${row.status.partitions}`,
            row.status === undefined ? "n/a" : lagTime(row.status),
            row.status === undefined ? "n/a" : Output.count(row.status.parked),
            buildText(row.status?.build)
          ]),
          ["left", "right", "right", "left", "right", "right", "right", "left"]
        ),
        "",
        "Checkpoint: the lowest over the partitions. Lag: events after it (a projection's own, per partition; all events for a checkpoint written before 0.2.0).",
        "Build: of a versioned or rebuildable projection, which copy of its read model (version, rebuild generation) and whether it serves queries, is being built (a rebuild: lag is how far it has to go) or was replaced."
      ].join("\n"))
    })
  )).pipe(
    Command.withDescription(
      "List the projections of the store with their status: checkpoint, lag in events and time, partitions held by running instances, parked events."
    )
  )

const name = nonEmptyArgument("name", "a projection name").pipe(Args.withDescription("The projection's name (as `projections` lists it)"))

/** A subcommand's store: its own `--url` and `--tenant`, or those given before it (`projections --url URL rebuild NAME`). */
const withParentStore = <A, E, R>(own: Target, body: Effect.Effect<A, E, R>) =>
  Effect.flatMap(list, (parent) =>
    withStore(
      { url: Option.orElse(own.url, () => parent.url.url), tenant: Option.orElse(own.tenant, () => parent.url.tenant) },
      { create: false },
      body
    ))

/** A projection's checkpoints are stored or it is registered; otherwise a `CliError` naming the stored checkpoints. */
const existing = (name: string) =>
  Effect.gen(function*() {
    const projections = yield* ProjectionStore
    const info = (yield* projections.projections).find((projection) => projection.name === name)
    const keys = info === undefined || info.partitions === 1
      ? [name]
      : Array.from({ length: info.partitions }, (_, partition) => `${name}#${partition}`)
    const first = yield* projections.get(keys[0]!)
    if (Option.isNone(first) && info === undefined && Option.isNone(yield* projections.builds(name))) {
      const known = (yield* projections.list).map((checkpoint) => checkpoint.name)
      return yield* new CliError({
        message: `No projection named ${JSON.stringify(name)} (${known.length === 0 ? "none is stored" : `stored: ${known.join(", ")}`})`
      })
    }
    return { keys, first }
  })

/**
 * Asks the running instances to build the next generation of the active build beside it
 * (`Projection.requestRebuild`); what cannot be rebuilt so is refused, pointing at `--in-place`.
 */
const rebuildWithoutDowntime = (name: string) =>
  Effect.gen(function*() {
    yield* existing(name)
    const request = yield* Projection.requestRebuild(name).pipe(
      Effect.catchTag("ProjectionError", (error) =>
        Effect.fail(
          new CliError({
            message: `${error.message} To rebuild it in place instead (queries see its model empty, then half built, until it has caught up), ` +
              `run: eventuali projections rebuild ${name} --in-place`
          })
        ))
    )
    const build = (build: Projection.Build) => `version ${build.version} generation ${build.generation}`
    yield* Console.log(
      request.alreadyRequested
        ? `Projection ${JSON.stringify(request.projection)}: a rebuild is already in progress (${build(request.build)}, checkpoints ${request.name}); ` +
          `nothing new was asked for. Follow it with: eventuali projections`
        : `Projection ${JSON.stringify(request.projection)}: rebuild without downtime asked for. The running instances build ${build(request.build)} ` +
          `(checkpoints ${request.name}) from the beginning of the log beside ${build(request.active)}, which keeps serving queries and ` +
          `following live events, and switch readers to it in one transaction once it has caught up (instances notice within a heartbeat, ` +
          `a third of leaseDuration; with none running, the next to start builds it). Follow it with: eventuali projections`
    )
  })

/** Sets every checkpoint of the projection back to 0 under their locks, as its own batches take them, in one transaction. */
const rebuildInPlace = (name: string) =>
  Effect.gen(function*() {
    const projections = yield* ProjectionStore
    // The active version, named by its checkpoint (`NAME@vN`), serves queries: not replayed in
    // place. A version being built serves no reader: it may start over.
    const versioned = /^(.*)@v(\d+)$/.exec(name)
    if (versioned !== null) {
      const active = yield* projections.activeVersion(versioned[1]!)
      if (Option.isSome(active) && active.value === Number(versioned[2])) {
        return yield* new CliError({
          message: `${JSON.stringify(name)} is the active version of projection ${JSON.stringify(versioned[1])}: it serves queries, ` +
            `so it is not replayed in place; run version ${active.value + 1} to rebuild it without downtime. Nothing was changed.`
        })
      }
    }
    const { first, keys } = yield* existing(name)
    // A versioned projection is rebuilt beside the model readers use, by its next version:
    // replaying the active one in place is what versions exist to avoid.
    const active = yield* projections.activeVersion(name)
    if (Option.isSome(active)) {
      return yield* new CliError({
        message: `Projection ${JSON.stringify(name)} is versioned (version ${active.value} serves queries): rebuild it without downtime by ` +
          `running version ${active.value + 1} (Projection.make({ version: ${active.value + 1}, ... })), which builds its read model ` +
          `beside this one and switches readers when it has caught up. Nothing was changed.`
      })
    }
    // Its parked events go with the checkpoints, in the same transaction: the replay meets those
    // events again, so keeping them would apply them twice once retried (as Running.rebuild does).
    const dropParked = Effect.flatMap(projections.parked(name), (events) =>
      Effect.as(Effect.forEach(events, (event) => projections.deleteParked(name, event.position), { discard: true }), events.length))
    const dropped = yield* keys.reduceRight<Effect.Effect<number, unknown>>(
      (inner, key) => projections.withCheckpoint(key, () => Effect.map(inner, (count) => [count, Option.some(0n)] as const)),
      dropParked
    )
    const from = Option.match(first, { onNone: () => "0", onSome: (checkpoint) => checkpoint.position.toString() })
    yield* Console.log(
      `Projection ${JSON.stringify(name)}: checkpoint${keys.length > 1 ? `s of its ${keys.length} partitions` : ""} reset from ${
        keys.length > 1 ? "where they were" : from
      } to 0${dropped > 0 ? `, and its ${dropped} parked event(s) removed (the replay meets them again)` : ""}. ` +
        `It replays every event when it next runs (a running instance: at its next batch). Its read model was not cleared.`
    )
    yield* Console.error(
      `Warning: rebuilt in place: until it has caught up, queries see its read model as it was (the CLI cannot run its reset), then half rebuilt.`
    )
  })

const inPlace = Options.boolean("in-place").pipe(
  Options.withDescription(
    "Reset the checkpoints to the beginning instead, in place: queries see the read model as it was, then half rebuilt, until it has caught up. Only the checkpoints, and the parked events (the replay meets them again): the CLI cannot run your projection's reset, so clear its read model yourself. Refused for the build that serves a versioned projection."
  )
)

// `projections rebuild NAME --url URL` or `projections --url URL rebuild NAME`.
export const rebuild = Command.make("rebuild", { url, name, inPlace }, ({ inPlace, name, url }) =>
  withParentStore(url, inPlace ? rebuildInPlace(name) : rebuildWithoutDowntime(name))).pipe(
    Command.withDescription(
      "Rebuild a projection's read model without downtime: the running instances build a new copy from the beginning of the log beside the one that serves queries (which keeps following live events) and switch readers to it in one transaction once it has caught up; event.replaying is true meanwhile. Needs a rebuildable projection (its activate takes the build; see the projections guide); idempotent while a rebuild is in progress. Anything else is refused, unless --in-place."
    )
  )

export const parked = Command.make("parked", { url, json, name }, ({ json, name, url }) =>
  withParentStore(
    url,
    Effect.gen(function*() {
      const events = yield* Projection.parked(name)
      if (json) {
        if (events.length > 0) yield* Console.log(events.map((event) => Output.json({ ...event, parkedAt: event.parkedAt.toISOString() })).join("\n"))
        return
      }
      if (events.length === 0) return yield* Console.log(`Projection ${JSON.stringify(name)} has no parked events.`)
      yield* Console.log(Output.table(
        ["Position", "Partition", "Event id", "Error", "Attempts", "Parked at", "Retry asked"],
        events.map((event) => [
          event.position.toString(),
          String(event.partition),
          event.eventId,
          Output.truncate(`${event.errorTag}: ${event.errorMessage}`, 80),
          String(event.attempts),
          event.parkedAt.toISOString(),
          event.retryRequested ? "yes" : "no"
        ]),
        ["right", "right", "left", "left", "right", "left", "left"]
      ))
    })
  )).pipe(Command.withDescription("List the events a projection parked (its handler failed them after its retries), with their errors."))

const optionalPosition = position("position").pipe(
  Options.optional,
  Options.withDescription("Only the parked event at this position (default: all of them)")
)

export const retry = Command.make("retry", { url, name, position: optionalPosition }, ({ name, position, url }) =>
  withParentStore(
    url,
    Effect.gen(function*() {
      const marked = yield* Projection.requestRetry(name, { position: Option.getOrUndefined(position) })
      if (marked.length === 0) return yield* Console.log(`Projection ${JSON.stringify(name)} has no parked events.`)
      yield* Console.log(
        `Projection ${JSON.stringify(name)}: asked to retry ${marked.length} parked event(s) (position ${
          marked.map((event) => event.position).join(", ")
        }). The instance holding each partition retries them at its next status interval; an event applied leaves the parked list.`
      )
    })
  )).pipe(
    Command.withDescription(
      "Ask the running instances of a projection to retry its parked events (all, or --position P). The CLI cannot run the handler itself; in your app, Running.retryParked retries at once."
    )
  )

const requiredPosition = position("position").pipe(Options.withDescription("The position of the parked event"))

export const discard = Command.make("discard", { url, name, position: requiredPosition }, ({ name, position, url }) =>
  withParentStore(
    url,
    Effect.gen(function*() {
      const event = yield* Projection.discardParked(name, position)
      yield* Console.log(`Projection ${JSON.stringify(name)}: parked event ${event.eventId} at position ${event.position} discarded (not applied).`)
    })
  )).pipe(Command.withDescription("Remove a parked event without applying it."))

export const verify = Command.make("verify", { url, json, name }, ({ json, name, url }) =>
  withParentStore(
    url,
    Effect.gen(function*() {
      const verification = yield* Projection.verify(name)
      if (json) {
        yield* Console.log(Output.json(verification))
      } else {
        yield* Console.log([
          `Projection ${JSON.stringify(name)}: ${verification.complete ? "complete" : "INCOMPLETE"}${
            verification.parked > 0 ? ` (${verification.parked} parked event(s) count as handled)` : ""
          }`,
          "",
          Output.table(
            ["Partition", "Checkpoint", "Expected", "Recorded", "Missing", "Doubled", "Ranges off"],
            verification.partitions.map((partition) => [
              String(partition.partition),
              partition.checkpoint.toString(),
              Output.count(partition.expected),
              Output.count(partition.recorded),
              partition.missingCount === 0 ? "0" : `${partition.missingCount}: ${partition.missing.join(", ")}${partition.missingCount > partition.missing.length ? ", …" : ""}`,
              partition.doubledCount === 0 ? "0" : `${partition.doubledCount}: ${partition.doubled.join(", ")}${partition.doubledCount > partition.doubled.length ? ", …" : ""}`,
              String(partition.inconsistentRanges.length)
            ]),
            ["right", "right", "right", "right", "left", "left", "right"]
          )
        ].join("\n"))
      }
      if (!verification.complete) {
        return yield* new CliError({ message: `Projection ${JSON.stringify(name)} is incomplete: events missing or handled twice (positions listed above)` })
      }
    })
  )).pipe(
    Command.withDescription(
      "Check that a projection handled every event of its filters up to its checkpoints exactly once, from the count and digest its batches recorded; exits 1 naming the positions missing or doubled."
    )
  )

export const projections = list.pipe(Command.withSubcommands([rebuild, parked, retry, discard, verify]))
