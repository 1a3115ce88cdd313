/**
 * `eventuali stats`: how many events, aggregates and event types the store holds, its last
 * position and size on disk.
 */
import * as Command from "@effect/cli/Command"
import { Console, Effect, Option } from "effect"
import { CliError, json, url, withStore } from "./common.js"
import { Database, stats as readStats } from "./database.js"
import * as Output from "./output.js"

export const stats = Command.make("stats", { url, json }, ({ json, url }) =>
  withStore(
    url,
    { create: false },
    Effect.gen(function*() {
      const database = yield* Database
      if (Option.isNone(database.sql)) {
        return yield* new CliError({ message: "stats needs a SQLite or PostgreSQL store (memory:// keeps nothing between runs)" })
      }
      const stats = yield* readStats(database.sql.value)
      if (json) return yield* Console.log(Output.json(stats))
      const right = ["left", "right", "right"] as const
      yield* Console.log([
        Output.keyValues([
          ["Events", Output.count(stats.events)],
          ["Aggregates", Output.count(stats.aggregates)],
          ["Event types", Output.count(stats.eventTypes.length)],
          ["Last position", stats.lastPosition.toString()],
          ["Database size", `${Output.bytes(stats.databaseSizeBytes)} (${database.backend === "sqlite" ? "the whole file" : "the events table and its indexes"})`]
        ]),
        "",
        Output.table(
          ["Aggregate type", "Aggregates", "Events"],
          stats.aggregateTypes.map((row) => [row.name, Output.count(row.aggregates), Output.count(row.events)]),
          right
        ),
        "",
        Output.table(["Event type", "Events"], stats.eventTypes.map((row) => [row.name, Output.count(row.events)]), right)
      ].join("\n"))
    })
  )).pipe(
    Command.withDescription("Events, aggregates and event types with counts, the last position, the database size.")
  )
