/**
 * `eventuali projections`: the stored projection checkpoints with their lag, and `rebuild NAME`,
 * which sets one back to the beginning.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Checkpoint from "@eventuali/core/Checkpoint"
import { EventStore } from "@eventuali/core/EventStore"
import { ProjectionStore } from "@eventuali/core/ProjectionStore"
import { Console, Effect, Option } from "effect"
import { CliError, json, url, withStore } from "./common.js"
import { Database, eventsAfter } from "./database.js"
import * as Output from "./output.js"

/** The head of the log, and every stored checkpoint with its lag (events after it; none without SQL). */
const checkpointsWithLag = Effect.gen(function*() {
  const projections = yield* ProjectionStore
  const store = yield* EventStore
  const database = yield* Database
  const head = yield* Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition)
  const rows = yield* Effect.forEach(yield* projections.list, (checkpoint) =>
    Effect.map(
      Option.match(database.sql, {
        onNone: () => Effect.succeed(undefined),
        onSome: (sql) => eventsAfter(sql, checkpoint.position)
      }),
      (lag) => ({ ...checkpoint, lag })
    ))
  return { head, rows }
})

const list = Command.make("projections", { url, json }, ({ json, url }) =>
  withStore(
    url,
    { create: false },
    Effect.gen(function*() {
      const { head, rows } = yield* checkpointsWithLag
      if (json) {
        if (rows.length > 0) {
          yield* Console.log(rows.map((row) =>
            Output.json({ name: row.name, checkpoint: row.position, lag: row.lag ?? null, updatedAt: row.updatedAt.toISOString() })
          ).join("\n"))
        }
        return
      }
      if (rows.length === 0) return yield* Console.log("No projection checkpoints stored.")
      yield* Console.log([
        `Head position: ${head}`,
        "",
        Output.table(
          ["Projection", "Checkpoint", "Lag (events)", "Updated"],
          rows.map((row) => [row.name, row.position.toString(), row.lag === undefined ? "n/a" : Output.count(row.lag), row.updatedAt.toISOString()]),
          ["left", "right", "right", "left"]
        )
      ].join("\n"))
    })
  )).pipe(
    Command.withDescription(
      "List the projections with a stored checkpoint: position processed, and lag (events committed after it, whatever the projection's filters)."
    )
  )

const name = Args.text({ name: "name" }).pipe(Args.withDescription("The projection's name (as `projections` lists it)"))

/** Sets the checkpoint back to 0 under the projection's lock, as its own batches do. */
const resetCheckpoint = (name: string) =>
  Effect.gen(function*() {
    const projections = yield* ProjectionStore
    const existing = yield* projections.get(name)
    if (Option.isNone(existing)) {
      const known = (yield* projections.list).map((checkpoint) => checkpoint.name)
      return yield* new CliError({
        message: `No projection named ${JSON.stringify(name)} (${known.length === 0 ? "none is stored" : `stored: ${known.join(", ")}`})`
      })
    }
    yield* projections.withCheckpoint(name, () => Effect.succeed([undefined, Option.some(0n)] as const))
    yield* Console.log(
      `Projection ${JSON.stringify(name)}: checkpoint reset from ${existing.value.position} to 0. It replays every event when it next runs (a running instance: at its next batch). Its read model was not cleared.`
    )
  })

// `projections rebuild NAME --url URL` or `projections --url URL rebuild NAME`.
export const rebuild = Command.make("rebuild", { url, name }, ({ name, url }) =>
  Effect.flatMap(list, (parent) =>
    withStore(
      { url: Option.orElse(url.url, () => parent.url.url), tenant: Option.orElse(url.tenant, () => parent.url.tenant) },
      { create: false },
      resetCheckpoint(name)
    ))).pipe(
    Command.withDescription(
      "Reset a projection's checkpoint to the beginning so it replays the log. Only the checkpoint: the CLI cannot run your projection's reset, so clear its read model yourself (or call Running.rebuild in your app, which does both in one transaction)."
    )
  )

export const projections = list.pipe(Command.withSubcommands([rebuild]))
