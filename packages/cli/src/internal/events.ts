/**
 * `eventuali events`: reads events, of one aggregate or filtered by type, as a table or as NDJSON.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import type { EventEnvelope } from "@eventuali/core/Event"
import { EventStore, type StreamAllOptions } from "@eventuali/core/EventStore"
import { Chunk, Console, Effect, Option, Stream } from "effect"
import { CliError, json, position, replicas, url, wholeNumber, withStore } from "./common.js"
import * as Ndjson from "./ndjson.js"
import * as Output from "./output.js"

/** `--type`: aggregate types, repeatable. */
export const aggregateTypes = Options.text("type").pipe(
  Options.withAlias("t"),
  Options.withPseudoName("TYPE"),
  Options.repeated,
  // Shown as optional (`[--type TYPE...]`): @effect/cli shows a bare `repeated` as required.
  Options.withDefault([]),
  Options.withDescription("Only events of this aggregate type (repeat for several)")
)

/** `--event-type`: event types, repeatable. */
export const eventTypes = Options.text("event-type").pipe(
  Options.withAlias("e"),
  Options.withPseudoName("TYPE"),
  Options.repeated,
  Options.withDefault([]),
  Options.withDescription("Only events of this event type (repeat for several)")
)

const aggregate = Options.text("aggregate").pipe(
  Options.withAlias("a"),
  Options.withPseudoName("ID"),
  Options.optional,
  Options.withDescription("Only the events of this aggregate id, by version")
)

const from = position("from").pipe(
  Options.optional,
  Options.withDescription("Only events after this position (with --aggregate: after this version)")
)

const limit = wholeNumber("limit", { min: 1 }).pipe(
  Options.withAlias("n"),
  Options.withDefault(100),
  Options.withDescription("At most this many events (default: 100)")
)

const PAGE_SIZE = 500

const nonEmpty = (values: ReadonlyArray<string>) => values.length === 0 ? undefined : values

/** The `--type` and `--event-type` filters. */
type Filters = Pick<StreamAllOptions, "aggregateTypes" | "eventTypes">

/** The log after `fromPosition`, filtered in the database, read page by page. */
const readLog = (filters: Filters, fromPosition: bigint, limit: number) =>
  Stream.unwrap(Effect.map(EventStore, (store) =>
    store.streamAll({ ...filters, fromPosition, batchSize: Math.min(PAGE_SIZE, limit) }))).pipe(Stream.take(limit))

/** One aggregate's events after a version, filtered by type here (an aggregate is small). */
const readAggregate = (aggregateId: string, filters: Filters, fromVersion: bigint, limit: number) =>
  Effect.gen(function*() {
    if (fromVersion > BigInt(Number.MAX_SAFE_INTEGER)) return yield* new CliError({ message: `--from ${fromVersion}: not a version` })
    const store = yield* EventStore
    const events = yield* store.loadEvents(aggregateId, Number(fromVersion))
    return events
      .filter((event) =>
        (filters.aggregateTypes === undefined || filters.aggregateTypes.includes(event.aggregateType)) &&
        (filters.eventTypes === undefined || filters.eventTypes.includes(event.eventType))
      )
      .slice(0, limit)
  })

export const events = Command.make(
  "events",
  { url, replicas, aggregate, aggregateTypes, eventTypes, from, limit, json },
  (options) =>
    withStore(
      options.url,
      { create: false, replicas: options.replicas },
      Effect.gen(function*() {
        const filters = { aggregateTypes: nonEmpty(options.aggregateTypes), eventTypes: nonEmpty(options.eventTypes) }
        const fromValue = Option.getOrElse(options.from, () => 0n)
        const events: ReadonlyArray<EventEnvelope> = yield* Option.match(options.aggregate, {
          onSome: (aggregateId) => readAggregate(aggregateId, filters, fromValue, options.limit),
          onNone: () => Effect.map(Stream.runCollect(readLog(filters, fromValue, options.limit)), Chunk.toReadonlyArray)
        })
        if (options.json) {
          if (events.length > 0) yield* Console.log(events.map(Ndjson.encode).join("\n"))
          return
        }
        yield* Console.log(
          events.length === 0 ? "No events." : Output.table(Output.eventHeaders, events.map(Output.eventCells), Output.eventAlign)
        )
      })
    )
).pipe(
  Command.withDescription(
    "Show events of one aggregate (by version) or of the log (by position), filtered by type: a table, or NDJSON with --json."
  )
)
