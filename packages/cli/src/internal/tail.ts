/**
 * `eventuali tail`: follows the log, printing each event as it is committed, until Ctrl-C.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Checkpoint from "@eventuali/core/Checkpoint"
import { EventStore } from "@eventuali/core/EventStore"
import { Console, Effect, Stream } from "effect"
import { invalidValue, json, replicas, url, withStore } from "./common.js"
import { Database } from "./database.js"
import { aggregateTypes, eventTypes } from "./events.js"
import * as Ndjson from "./ndjson.js"
import * as Output from "./output.js"

// A malformed value is a usage error (exit 2), as for every other option: checked as it is parsed.
const from = Options.text("from").pipe(
  Options.withPseudoName("end|beginning|CHECKPOINT"),
  Options.mapEffect((text) =>
    text === "end" || text === "beginning" || /^\d+$/.test(text)
      ? Effect.succeed(text)
      : invalidValue(`--from expects end, beginning or a checkpoint (a position, a whole number), got ${JSON.stringify(text)}`)
  ),
  Options.withDefault("end"),
  Options.withDescription("Where to start: end (only new events; the default), beginning, or a checkpoint (a position)")
)

const startOf = (from: string) =>
  from === "end"
    ? Effect.flatMap(EventStore, (store) => store.currentCheckpoint)
    : from === "beginning"
    ? Effect.succeed(Checkpoint.beginning)
    : Effect.map(Checkpoint.toPosition(from), Checkpoint.fromPosition)

export const tail = Command.make("tail", { url, replicas, aggregateTypes, eventTypes, from, json }, (options) =>
  withStore(
    options.url,
    { create: false, replicas: options.replicas },
    Effect.gen(function*() {
      const store = yield* EventStore
      const database = yield* Database
      const start = yield* startOf(options.from)
      yield* Console.error(`Tailing ${database.shownUrl} after checkpoint ${start} (Ctrl-C to stop)`)
      yield* store.subscribe({
        from: start,
        aggregateTypes: options.aggregateTypes.length === 0 ? undefined : options.aggregateTypes,
        eventTypes: options.eventTypes.length === 0 ? undefined : options.eventTypes
      }).pipe(
        Stream.runForEach((event) => Console.log(options.json ? Ndjson.encode(event) : Output.eventCells(event).join("  ")))
      )
    })
  )).pipe(
    Command.withDescription(
      "Print events live as they are committed (from the end, or --from), filtered by type, until Ctrl-C or SIGTERM."
    )
  )
