/**
 * `eventuali health`: can the store be reached, which schema version it has, and how long a round
 * trip takes.
 */
import * as Command from "@effect/cli/Command"
import { Console, Duration, Effect, Option } from "effect"
import { json, url, withStore } from "./common.js"
import { Database, ping, schemaVersion } from "./database.js"
import * as Output from "./output.js"

const ROUND_TRIPS = 5

const backendNames = { memory: "in-memory", sqlite: "SQLite", postgres: "PostgreSQL" } as const

export const health = Command.make("health", { url, json }, ({ json, url }) =>
  withStore(
    url,
    { create: false },
    Effect.gen(function*() {
      const database = yield* Database
      const report = yield* Option.match(database.sql, {
        onNone: () => Effect.succeed({ schemaVersion: undefined, latencyMs: undefined }),
        onSome: (sql) =>
          Effect.gen(function*() {
            const version = yield* schemaVersion(sql)
            const durations: Array<number> = []
            for (let i = 0; i < ROUND_TRIPS; i++) {
              const [duration] = yield* Effect.timed(ping(sql))
              durations.push(Duration.toMillis(duration))
            }
            durations.sort((a, b) => a - b)
            return { schemaVersion: version, latencyMs: durations[Math.floor(ROUND_TRIPS / 2)]! }
          })
      })
      const status = report.schemaVersion === undefined || report.schemaVersion.applied === report.schemaVersion.latest
        ? "ok"
        : report.schemaVersion.applied > report.schemaVersion.latest
        ? "schema newer than this eventuali"
        : "schema older than this eventuali (migrated when a store opens it, or by init)"
      if (json) {
        return yield* Console.log(Output.json({
          status,
          backend: database.backend,
          url: database.shownUrl,
          schemaVersion: report.schemaVersion?.applied ?? null,
          latestSchemaVersion: report.schemaVersion?.latest ?? null,
          latencyMs: report.latencyMs === undefined ? null : Number(report.latencyMs.toFixed(3))
        }))
      }
      yield* Console.log(Output.keyValues([
        ["Status", status],
        ["Backend", backendNames[database.backend]],
        ["URL", database.shownUrl],
        [
          "Schema version",
          report.schemaVersion === undefined
            ? "n/a"
            : `${report.schemaVersion.applied} (this eventuali: ${report.schemaVersion.latest})`
        ],
        ["Latency", report.latencyMs === undefined ? "n/a" : `${report.latencyMs.toFixed(2)} ms (median of ${ROUND_TRIPS} round trips)`]
      ]))
    })
  )).pipe(
    Command.withDescription("Check the store: reachable, schema version, latency of a round trip. Exits 1 if it cannot be reached.")
  )
