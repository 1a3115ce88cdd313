/**
 * One instance of the 8-partition projection of `ProjectionProcesses.test.ts`, in a process of
 * its own (`node --import tsx projectionWorker.ts URL SCHEMA TABLE NAME`): it applies each event
 * to the read model `SCHEMA.TABLE` keyed by event id (a second apply would fail its batch on the
 * key), prints `instance ID` once it runs, then the partitions it holds whenever they change,
 * and runs until SIGTERM (it gives its partitions up) or SIGKILL (its leases expire).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Projection } from "@eventuali/core"
import { Cause, Console, Effect, Exit, Fiber, Schedule } from "effect"
import { PgEventStore } from "../../src/index.js"

const [url = "", schema = "", table = "", name = ""] = process.argv.slice(2)

const projection = Projection.make({
  name,
  aggregateTypes: ["Account"],
  partitions: 8,
  leaseDuration: "1 second",
  handle: (event) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`INSERT INTO ${sql(schema)}.${sql(table)} (event_id, aggregate_id, version) VALUES (${event.eventId}, ${event.aggregateId}, ${event.aggregateVersion})`)
})

const worker = Effect.gen(function*() {
  const running = yield* Projection.run(projection)
  const status = yield* running.status
  yield* Console.log(`instance ${status.instance}`)
  let shown = ""
  yield* Effect.repeat(
    Effect.gen(function*() {
      const held = (yield* running.status).held.join(",")
      if (held !== shown) yield* Console.log(`holds [${held}]`)
      shown = held
    }),
    Schedule.spaced("200 millis")
  )
}).pipe(Effect.scoped)

const fiber = Effect.runFork(worker.pipe(Effect.provide(PgEventStore.layer({ url, schema, maxConnections: 4 }))))
// SIGTERM stops the projection (its scope closes: it gives its partitions up), then the process.
process.once("SIGTERM", () => Effect.runFork(Fiber.interrupt(fiber)))
fiber.addObserver((exit) => {
  if (exit._tag === "Failure" && !Exit.isInterrupted(exit)) process.stderr.write(`worker failed: ${Cause.pretty(exit.cause)}\n`)
  process.exit(exit._tag === "Failure" && !Exit.isInterrupted(exit) ? 1 : 0)
})
