/** Projections on PostgreSQL across store instances (as in several processes): every event applied exactly once. */
import { expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { EventStore, Projection, ProjectionStore } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { Effect } from "effect"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"

describePg("PostgreSQL projections across instances", () => {
  it.live("three instances of one projection on three pools write each event to the read model exactly once", () =>
    Effect.gen(function*() {
      const schema = freshSchema("proj")
      const instances = yield* Effect.all(
        Array.from({ length: 3 }, () => PgEventStore.make({ url: serverUrl, schema, maxConnections: 3 })),
        { concurrency: "unbounded" }
      )
      const writer = instances[0]!
      yield* writer.client.unsafe(`CREATE TABLE "${schema}".totals (event_id text PRIMARY KEY, instance int NOT NULL)`)
      const projection = (instance: number) =>
        Projection.make({
          name: "totals",
          aggregateTypes: ["Account"],
          batchSize: 7,
          handle: (event) =>
            Effect.flatMap(SqlClient.SqlClient, (sql) =>
              sql.unsafe(`INSERT INTO "${schema}".totals (event_id, instance) VALUES ($1, $2)`, [event.eventId, instance]))
        })
      const running = yield* Effect.all(
        instances.map((instance, i) =>
          Projection.run(projection(i)).pipe(
            Effect.provideService(EventStore.EventStore, instance.store),
            Effect.provideService(ProjectionStore.ProjectionStore, instance.projections),
            Effect.provideService(SqlClient.SqlClient, instance.client)
          )),
        { concurrency: "unbounded" }
      )
      yield* Effect.all(
        Array.from({ length: 300 }, (_, i) => writer.store.append("Account", `acc-${i % 40}`, [{ eventType: "Deposited", data: { i } }])),
        { concurrency: 10, discard: true }
      )
      yield* Effect.all(running.map((r) => r.whenCaughtUp), { concurrency: "unbounded", discard: true })
      const [row] = yield* writer.client.unsafe<{ readonly rows: string }>(
        `SELECT count(*)::text AS rows FROM "${schema}".totals`
      )
      expect(row?.rows).toBe("300")
    }).pipe(Effect.scoped), 60_000)
})
