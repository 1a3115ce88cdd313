/** Projections on PostgreSQL across store instances (as in several processes): every event applied exactly once. */
import { expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { EventStore, Projection, ProjectionStore } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { Effect, Exit, Option, Scope } from "effect"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"

describePg("PostgreSQL projections across instances", () => {
  it.live("a batch statement cancelled by a stray pg_cancel_backend runs the batch again, committed once", () =>
    Effect.gen(function*() {
      const schema = freshSchema("cancel")
      const { client, projections } = yield* PgEventStore.make({ url: serverUrl, schema })
      const observer = yield* PgEventStore.make({ url: serverUrl, schema })
      let attempts = 0
      // What @effect/sql-pg's late cancellation of another fiber's query does to the connection
      // a batch now holds: cancels the statement it runs.
      const cancelSleeper = Effect.gen(function*() {
        for (let i = 0; i < 200; i++) {
          const rows = yield* observer.client.unsafe<{ readonly cancelled: boolean }>(
            "SELECT pg_cancel_backend(pid) AS cancelled FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(5) /* batch */%'"
          )
          if (rows.some((row) => row.cancelled)) return
          yield* Effect.sleep("20 millis")
        }
      })
      const result = yield* projections.withBatch("cancelled", (position, inTransaction) =>
        Effect.gen(function*() {
          attempts++
          if (attempts === 1) {
            yield* Effect.fork(cancelSleeper)
            yield* inTransaction(client.unsafe("SELECT pg_sleep(5) /* batch */"))
          }
          return [position, Option.some({ position: position + 5n, handled: 1, digest: 7n, parked: [] })] as const
        }))
      expect(result).toBe(0n)
      expect(attempts).toBe(2)
      const stored = yield* projections.get("cancelled")
      expect(Option.map(stored, (checkpoint) => checkpoint.position)).toEqual(Option.some(5n))
    }).pipe(Effect.scoped), 60_000)

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

  it.live("three instances on three pools share an 8-partition projection while 8 writers append; one stops midway and another starts: each event once, in order per aggregate, every partition held, verify complete", () =>
    Effect.gen(function*() {
      const schema = freshSchema("part")
      const open = PgEventStore.make({ url: serverUrl, schema, maxConnections: 4 })
      const writer = yield* open
      yield* writer.client.unsafe(`CREATE TABLE "${schema}".applied (event_id text PRIMARY KEY, aggregate_id text NOT NULL, version int NOT NULL, seq bigserial)`)
      const projection = Projection.make({
        name: "applied",
        aggregateTypes: ["Account"],
        partitions: 8,
        leaseDuration: "1 second",
        handle: (event) =>
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql.unsafe(`INSERT INTO "${schema}".applied (event_id, aggregate_id, version) VALUES ($1, $2, $3)`, [
              event.eventId,
              event.aggregateId,
              event.aggregateVersion
            ]))
      })
      const start = Effect.gen(function*() {
        const scope = yield* Scope.make()
        const instance = yield* Scope.extend(open, scope)
        const running = yield* Projection.run(projection).pipe(
          Scope.extend(scope),
          Effect.provideService(EventStore.EventStore, instance.store),
          Effect.provideService(ProjectionStore.ProjectionStore, instance.projections),
          Effect.provideService(SqlClient.SqlClient, instance.client)
        )
        return { scope, running }
      })
      const first = yield* Effect.all([start, start, start])
      const rows = Effect.map(writer.client.unsafe<{ readonly n: string }>(`SELECT count(*)::text AS n FROM "${schema}".applied`), ([row]) => Number(row?.n ?? 0))
      const writers = Effect.all(
        Array.from({ length: 8 }, (_, w) =>
          Effect.forEach(Array.from({ length: 250 }, (_, i) => i), (i) =>
            writer.store.append("Account", `acc-${(w * 250 + i) % 100}`, [{ eventType: "Deposited", data: { i } }]), { discard: true })),
        { concurrency: "unbounded", discard: true }
      )
      const stopMidway = Effect.gen(function*() {
        while ((yield* rows) < 600) yield* Effect.sleep("20 millis")
        yield* Scope.close(first[0]!.scope, Exit.void)
        return yield* start
      })
      const [, restarted] = yield* Effect.all([writers, stopMidway], { concurrency: "unbounded" })
      const instances = [first[1]!, first[2]!, restarted]
      yield* Effect.forEach(instances, ({ running }) => running.whenCaughtUp, { discard: true })
      expect(yield* rows).toBe(2000)
      const applied = yield* writer.client.unsafe<{ readonly aggregate_id: string; readonly version: number }>(
        `SELECT aggregate_id, version FROM "${schema}".applied ORDER BY seq`
      )
      const last = new Map<string, number>()
      for (const row of applied) {
        expect(row.version).toBe((last.get(row.aggregate_id) ?? 0) + 1)
        last.set(row.aggregate_id, row.version)
      }
      const ids = new Set(yield* Effect.forEach(instances, ({ running }) => Effect.map(running.status, (status) => status.instance)))
      const allHeld = Effect.map(restarted.running.status, (status) =>
        status.partitionStatus.every((partition) => partition.holder !== undefined && ids.has(partition.holder)))
      for (let round = 0; round < 100 && !(yield* allHeld); round++) yield* Effect.sleep("50 millis")
      expect(yield* allHeld).toBe(true)
      expect((yield* restarted.running.verify).complete).toBe(true)
      yield* Effect.forEach(instances, ({ scope }) => Scope.close(scope, Exit.void), { discard: true })
    }).pipe(Effect.scoped), 120_000)
})
