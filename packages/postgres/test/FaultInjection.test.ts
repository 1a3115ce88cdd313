/**
 * Faults on the PostgreSQL store: a writer process killed with SIGKILL while 32 of its fibers
 * save at once (with a live subscriber and a projection), and the server restarted while writers,
 * a subscriber and a projection run. After each: every acknowledged save stored exactly once,
 * nothing half-written, the subscriber and the projection resume without a gap or a duplicate,
 * and the store keeps working.
 */
import { expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, Checkpoint, EventStore, Projection, ProjectionStore } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { FaultInjection } from "@eventuali/testing/vitest"
import { Cause, Effect, Fiber, Option, Ref, Schedule, Stream } from "effect"
import { createRequire } from "node:module"
import { fileURLToPath, pathToFileURL } from "node:url"
import { startEmbedded } from "./support/embedded.js"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"
import { Counter, expectAcknowledgedStoredOnce, startWriters, Ticked, waitUntil, within } from "./support/writers.js"

const writerScript = fileURLToPath(new URL("./fixtures/faultWriter.ts", import.meta.url))
const packageDirectory = fileURLToPath(new URL("..", import.meta.url))
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href

describePg("PgEventStore under faults", () => {
  it.live(
    "a writer process killed with SIGKILL while 32 of its fibers save at once loses no acknowledged save, writes none in part, and its subscriber and projection resume without gap or duplicate",
    () =>
      Effect.gen(function*() {
        const schema = freshSchema("fault")
        const url = `${serverUrl}?schema=${schema}`
        const readModel = `"${schema}".read_model`
        const layer = PgEventStore.layer({ url })
        const acks: Array<FaultInjection.Ack> = []
        for (let round = 1; round <= 2; round++) {
          const run = yield* FaultInjection.runUntilKilled({
            args: ["--import", tsxLoader, writerScript, url, `round${round}`, readModel],
            cwd: packageDirectory,
            killAfterAcks: 200 + Math.floor(Math.random() * 300)
          })
          expect(run.signal, run.stderr).toBe("SIGKILL")
          expect(run.acks.length, run.stderr).toBeGreaterThan(0)
          acks.push(...run.acks)
          // The server ends the killed process's sessions (rolling back what they had begun)
          // when it sees their sockets close.
          yield* Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* waitUntil(
              Effect.map(
                sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'eventuali-fault-writer'`,
                ([row]) => row?.n === 0
              ),
              "20 seconds",
              "the killed writer's sessions to end"
            )
            const found = yield* FaultInjection.verify({ acks, seen: run.seen, round: `round${round}`, readModel })
            yield* Effect.logDebug(`round ${round}: ${run.acks.length} acknowledged, ${JSON.stringify(found)}`)
          }).pipe(Effect.provide(layer))
        }
      }),
    180_000
  )
})

describePg("PgEventStore when its server restarts under load", () => {
  it.scopedLive(
    "writers, a subscriber and a projection run through a restart: every acknowledged save stored once, the subscriber resumes from its checkpoint and the projection from its own, each without gap or duplicate",
    () =>
      Effect.gen(function*() {
        // A server of this test's own, persistent so that its data survives the stop.
        const { server, url } = yield* Effect.acquireRelease(
          Effect.promise(() => startEmbedded({ persistent: true })),
          (embedded) => Effect.promise(embedded.dispose)
        )
        const { client, projections, store } = yield* PgEventStore.make({ url: `${url}?schema=restart`, connectTimeout: "2 seconds" })
        yield* client.unsafe(`CREATE TABLE restart.read_model (event_id text NOT NULL, position text NOT NULL)`)
        const readModelRows = Effect.map(
          client.unsafe<{ readonly event_id: string }>(`SELECT event_id FROM restart.read_model`),
          (rows) => rows.map((row) => row.event_id)
        )

        // The subscriber keeps its checkpoint (in memory here; an application would store it) and
        // subscribes again from it whenever its subscription fails.
        const delivered = yield* Ref.make<ReadonlyArray<string>>([])
        const checkpoint = yield* Ref.make<Checkpoint.Checkpoint>(Checkpoint.beginning)
        const resubscriptions = yield* Ref.make(0)
        const subscriber = Effect.gen(function*() {
          const from = yield* Ref.get(checkpoint)
          yield* store.subscribe({ from, aggregateTypes: [Counter.type] }).pipe(
            Stream.runForEach((event) =>
              Effect.zipRight(
                Ref.update(delivered, (ids) => [...ids, event.eventId]),
                Ref.set(checkpoint, event.checkpoint)
              )
            )
          )
        }).pipe(
          Effect.catchAll(() => Effect.zipRight(Ref.update(resubscriptions, (n) => n + 1), Effect.sleep("200 millis"))),
          Effect.forever
        )

        // The projection writes its read model in the store's database, with retries long enough
        // to outlast the restart.
        const projection = yield* Projection.run(Projection.make({
          name: "restart-projection",
          aggregateTypes: [Counter.type],
          batchSize: 20,
          retry: Schedule.spaced("200 millis").pipe(Schedule.intersect(Schedule.recurs(150))),
          handle: (event) =>
            Effect.flatMap(SqlClient.SqlClient, (sql) =>
              sql.unsafe(`INSERT INTO restart.read_model (event_id, position) VALUES ($1, $2)`, [event.eventId, String(event.position)]))
        })).pipe(
          Effect.provideService(EventStore.EventStore, store),
          Effect.provideService(ProjectionStore.ProjectionStore, projections),
          Effect.provideService(SqlClient.SqlClient, client)
        )

        const subscribing = yield* Effect.forkScoped(subscriber)
        // Writers: each saves its own counter, one event per save, with fixed event ids, so a save
        // retried after an unclear failure (committed, but the answer lost) is idempotent.
        const writers = 6
        const { acknowledged, failures, stop, total } = yield* startWriters(store, writers, "100 millis")

        yield* waitUntil(Effect.map(total, (n) => n >= 60), "20 seconds", "60 saves before the stop")
        yield* Effect.promise(() => server.stop()).pipe(within("30 seconds", "stopping the server"), Effect.orDie)
        yield* waitUntil(Effect.map(failures, (causes) => causes.length >= writers), "10 seconds", "the writers to fail")
        const acknowledgedWhileDown = yield* total
        yield* Effect.sleep("500 millis")
        yield* Effect.promise(() => server.start()).pipe(within("30 seconds", "restarting the server"), Effect.orDie)
        yield* waitUntil(Effect.map(total, (n) => n >= acknowledgedWhileDown + 60), "30 seconds", "60 saves after the restart")
        yield* stop
        // Saves failed with errors, never with defects.
        for (const cause of yield* failures) expect(Cause.isDie(cause), Cause.pretty(cause)).toBe(false)

        // Every acknowledged save is stored exactly once, in order per writer.
        const log = yield* expectAcknowledgedStoredOnce(store, yield* acknowledged)

        // The subscriber saw every event once, in log order, across its resubscriptions.
        yield* waitUntil(Effect.map(Ref.get(delivered), (ids) => ids.length >= log.length), "30 seconds", "the subscriber to catch up")
        yield* Fiber.interrupt(subscribing)
        expect(yield* Ref.get(delivered)).toEqual(log)
        expect(yield* Ref.get(resubscriptions)).toBeGreaterThan(0)

        // The projection applied every event once.
        yield* projection.whenCaughtUp.pipe(within("30 seconds", "the projection to catch up"))
        expect([...(yield* readModelRows)].sort()).toEqual([...log].sort())
        const stored = Option.getOrThrow(yield* projections.get("restart-projection"))
        expect(stored.position).toBeGreaterThan(0n)
      })
  )
})

describePg("PgEventStore projections when the server restarts", () => {
  it.scopedLive("a projection waiting for new events when the server stops keeps running, and applies what is saved after the restart once", () =>
    Effect.gen(function*() {
      const { server, url } = yield* Effect.acquireRelease(
        Effect.promise(() => startEmbedded({ persistent: true })),
        (embedded) => Effect.promise(embedded.dispose)
      )
      const { client, projections, store } = yield* PgEventStore.make({ url: `${url}?schema=idle`, connectTimeout: "2 seconds" })
      const applied = yield* Ref.make<ReadonlyArray<string>>([])
      const projection = yield* Projection.run(Projection.make({
        name: "idle-projection",
        aggregateTypes: [Counter.type],
        retry: Schedule.spaced("200 millis").pipe(Schedule.intersect(Schedule.recurs(150))),
        handle: (event) => Ref.update(applied, (ids) => [...ids, event.eventId])
      })).pipe(
        Effect.provideService(EventStore.EventStore, store),
        Effect.provideService(ProjectionStore.ProjectionStore, projections),
        Effect.provideService(SqlClient.SqlClient, client)
      )
      const save = (id: string) => store.save(Aggregate.apply(Aggregate.empty(Counter, id), new Ticked({ n: 1 })))
      yield* save("before")
      yield* projection.whenCaughtUp.pipe(within("10 seconds", "catching up before the stop"))
      // Idle now: waiting on its subscription for more.
      yield* Effect.sleep("300 millis")
      yield* Effect.promise(() => server.stop()).pipe(within("30 seconds", "stopping the server"), Effect.orDie)
      // Long enough for the waiting subscription to poll the stopped server.
      yield* Effect.sleep("1 second")
      yield* Effect.promise(() => server.start()).pipe(within("30 seconds", "restarting the server"), Effect.orDie)
      yield* Effect.retry(save("after"), Schedule.spaced("200 millis").pipe(Schedule.intersect(Schedule.recurs(50))))
      yield* projection.whenCaughtUp.pipe(within("30 seconds", "catching up after the restart"))
      expect((yield* Ref.get(applied)).length).toBe(2)
    }))
})
