/**
 * Reads on a streaming replica (docs/guides/scaling.md, "Read replicas"), against a real primary
 * and a hot standby replaying its WAL (support/replica.ts): a fiber reads its own writes; a lagging
 * replica sends the writer's reads to the primary; command handling decides on the primary;
 * appends never reach the replica; a subscription on the replica receives every event once and
 * in order while writers append on the primary, also across a restart of the replica.
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, CommandHandler, EventStore, Metrics, Projection, ProjectionStore, ReadPreference } from "@eventuali/core"
import { PgEventStore, PgTenants } from "@eventuali/postgres"
import { Context, Effect, Fiber, Metric, Option, Ref, Schedule, Stream } from "effect"
import { freshSchema } from "./support/pg.js"
import { freshPrefix } from "./support/tenants.js"
import { query, replicaCaughtUp } from "./support/replica.js"
import { replicatedServers } from "./support/replicaFixture.js"
import { Counter, startWriters, Ticked, waitUntil, within } from "./support/writers.js"

const servers = replicatedServers()

/** A store on the primary, reading on the replica unless told otherwise. */
const open = (schema: string, extra: Partial<PgEventStore.PgEventStoreConfig> = {}) =>
  PgEventStore.make({ url: servers().primaryUrl, schema, replicas: [servers().replicaUrl], ...extra })

/** A store on the primary alone. */
const openPrimary = (schema: string) => PgEventStore.make({ url: servers().primaryUrl, schema })

/** Waits until the replica has replayed what the primary wrote so far (the tenant's schema). */
const replicaCaughtUpEffect = Effect.promise(() => replicaCaughtUp(servers()))

const onReplica = (text: string) => Effect.promise(() => query(servers().replicaUrl, text))

/** How many reads meant for a replica ran on the primary, for this reason, in this process so far. */
const fallbacks = (reason: "error" | "lag" | "unavailable") =>
  Effect.map(Metric.value(Metrics.replicaFallbacks.pipe(Metric.tagged(Metrics.fallbackReasonLabel, reason))), (state) => state.count)

/** Pauses the replica's replay for the scope: it keeps receiving WAL but applies none. */
const pausedReplay = Effect.acquireRelease(
  onReplica("SELECT pg_wal_replay_pause()"),
  () => Effect.orDie(onReplica("SELECT pg_wal_replay_resume()"))
)

const Account = Aggregate.make({
  type: "Counter",
  events: [Ticked],
  initialState: 0,
  evolve: (count: number) => count + 1,
  decide: (_command: "tick", count: number) => Effect.succeed([new Ticked({ n: count + 1 })])
})

const versionOf = (store: EventStore.Service, id: string) =>
  Effect.map(store.load(Counter, id), Option.map((root) => root.version))

/** Every event's id and position, read on the primary. */
const logOnPrimary = (store: EventStore.Service) =>
  ReadPreference.primary(store.readEvents({ fromPosition: 0n, limit: 100_000 })).pipe(
    Effect.map((events) => events.map((event) => ({ id: event.eventId, position: event.position })))
  )

/** Collects a subscription on `store` from the beginning, until closed with the scope. */
const collect = (store: EventStore.Service) =>
  Effect.gen(function*() {
    const seen = yield* Ref.make<ReadonlyArray<{ readonly id: string; readonly position: bigint }>>([])
    yield* store.subscribe({ batchSize: 50 }).pipe(
      Stream.runForEach((event) => Ref.update(seen, (all) => [...all, { id: event.eventId, position: event.position }])),
      Effect.forkScoped
    )
    return seen
  })

/** A transaction that appends and stays open a while: a lower position committing after higher ones. */
const slowTransactions = (opened: { readonly client: SqlClient.SqlClient; readonly store: EventStore.Service }, stop: Ref.Ref<boolean>) =>
  Effect.gen(function*() {
    let n = 0
    while (!(yield* Ref.get(stop))) {
      n += 1
      yield* opened.client.withTransaction(
        Effect.zipRight(opened.store.append("Slow", `slow-${n}`, [{ eventType: "Ticked", data: { n } }]), Effect.sleep("30 millis"))
      ).pipe(Effect.retry(Schedule.spaced("50 millis")))
    }
  })

/** Expects `seen` to be exactly `expected`: every event once, in position order. */
const expectSameLog = (
  seen: ReadonlyArray<{ readonly id: string; readonly position: bigint }>,
  expected: ReadonlyArray<{ readonly id: string; readonly position: bigint }>
) => {
  expect(seen.map((event) => event.id)).toEqual(expected.map((event) => event.id))
  for (let i = 1; i < seen.length; i++) expect(seen[i]!.position > seen[i - 1]!.position).toBe(true)
}

describe("PgEventStore with a read replica", () => {
  it.scopedLive("a fiber reads its own writes on the replica, save after save", () =>
    Effect.gen(function*() {
      const { store } = yield* open(freshSchema("ryw"))
      let counter = Aggregate.empty(Counter, "c")
      for (let i = 1; i <= 30; i++) {
        counter = yield* store.save(Aggregate.apply(counter, new Ticked({ n: i })))
        expect(yield* versionOf(store, "c")).toEqual(Option.some(i))
        const events = yield* store.readEvents({ fromPosition: 0n })
        expect(events).toHaveLength(i)
      }
    }), 60_000)

  it.scopedLive("a lagging replica: others read its state, the writer's reads go to the primary", () =>
    Effect.gen(function*() {
      const schema = freshSchema("lag")
      const writer = yield* open(schema, { replicaWaitTimeout: "200 millis" })
      const reader = yield* open(schema)
      const onPrimary = yield* open(schema, { readFrom: "primary" })
      yield* Effect.scoped(Effect.gen(function*() {
        yield* pausedReplay
        yield* writer.store.save(Aggregate.apply(Aggregate.empty(Counter, "lagging"), new Ticked({ n: 1 })))
        const lagBefore = yield* fallbacks("lag")
        // The writer waited for the replica, then read on the primary: counted.
        expect(yield* versionOf(writer.store, "lagging")).toEqual(Option.some(1))
        expect(yield* fallbacks("lag")).toBe(lagBefore + 1)
        // For a second, the writer's store reads on the primary without asking the replica
        // ("unavailable"; on a machine slow enough to let the second pass, it waits again: "lag").
        // Counted unless the program turned the store's metrics off.
        const bothNow = Effect.map(Effect.all([fallbacks("lag"), fallbacks("unavailable")]), ([lag, unavailable]) => lag + unavailable)
        const before = yield* bothNow
        yield* versionOf(writer.store, "lagging").pipe(Effect.provideService(Metrics.Enabled, false))
        expect(yield* bothNow).toBe(before)
        yield* versionOf(writer.store, "lagging")
        expect(yield* bothNow).toBe(before + 1)
        // A store that did not write reads the paused replica: the event is not there yet...
        expect(yield* versionOf(reader.store, "lagging")).toEqual(Option.none())
        expect(yield* reader.store.readEvents({ fromPosition: 0n })).toHaveLength(0)
        // ...unless it asks for the primary, or reads on the primary by configuration.
        expect(yield* ReadPreference.primary(versionOf(reader.store, "lagging"))).toEqual(Option.some(1))
        expect(yield* versionOf(onPrimary.store, "lagging")).toEqual(Option.some(1))
        // An effect may ask a primary-reading store for the replica.
        expect(yield* ReadPreference.replica(versionOf(onPrimary.store, "lagging"))).toEqual(Option.none())
      }))
      yield* waitUntil(Effect.map(versionOf(reader.store, "lagging"), Option.isSome), "20 seconds", "the replica to replay")
    }), 60_000)

  it.scopedLive("a fiber reads its own removals: truncate, a hard delete, retention and archive, while the replica lags", () =>
    Effect.gen(function*() {
      const schema = freshSchema("rm")
      const { store } = yield* open(schema)
      const reader = yield* open(schema)
      const appendN = (type: string, id: string, count: number) =>
        store.append(type, id, Array.from({ length: count }, (_, n) => ({ eventType: "Ticked", data: { n } })))
      yield* appendN("Counter", "truncated", 5)
      yield* appendN("Counter", "inTransaction", 5)
      yield* appendN("Counter", "gone", 3)
      yield* store.delete("gone")
      yield* appendN("Kept", "kept", 3)
      yield* appendN("Closed", "closed", 4)
      yield* store.delete("closed")
      yield* replicaCaughtUpEffect
      const versions = (from: EventStore.Service, id: string) =>
        Effect.map(from.loadEvents(id), (events) => events.map((event) => event.aggregateVersion))
      const logOf = (from: EventStore.Service, id: string) =>
        Effect.map(from.readEvents({ fromPosition: 0n }), (events) => events.filter((event) => event.aggregateId === id).length)
      // A store of its own per removal: a replica that kept a store waiting is skipped by that
      // store for a while, which would hide whether the next removal was recorded.
      const writerOf = Effect.map(open(schema, { replicaWaitTimeout: "200 millis" }), (opened) => opened.store)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* pausedReplay
        // Each removal alone, nothing appended after it in that store: only the removal's own
        // transaction can send the store's next read to the primary.
        const truncating = yield* writerOf
        yield* truncating.truncate("truncated", 4)
        expect(yield* versions(truncating, "truncated")).toEqual([4, 5])
        const deleting = yield* writerOf
        yield* deleting.delete("gone", { hard: true })
        expect(yield* logOf(deleting, "gone")).toBe(1)
        const retaining = yield* writerOf
        yield* retaining.applyRetention({ aggregateType: "Kept", maxCount: 1 })
        expect(yield* versions(retaining, "kept")).toEqual([3])
        const archiving = yield* writerOf
        yield* archiving.archive({ aggregateType: "Closed" })
        expect(yield* logOf(archiving, "closed")).toBe(2)
        // In the application's transaction: the transaction's own id is recorded.
        const transacting = yield* open(schema, { replicaWaitTimeout: "200 millis" })
        yield* transacting.client.withTransaction(transacting.store.truncate("inTransaction", 3))
        expect(yield* versions(transacting.store, "inTransaction")).toEqual([3, 4, 5])
        // The paused replica has none of it: a store that removed nothing still reads the old rows there.
        expect(yield* versions(reader.store, "truncated")).toEqual([1, 2, 3, 4, 5])
        expect(yield* versions(reader.store, "inTransaction")).toEqual([1, 2, 3, 4, 5])
        expect(yield* logOf(reader.store, "gone")).toBe(4)
        expect(yield* versions(reader.store, "kept")).toEqual([1, 2, 3])
        expect(yield* logOf(reader.store, "closed")).toBe(5)
      }))
      yield* waitUntil(Effect.map(versions(reader.store, "truncated"), (seen) => seen.length === 2), "20 seconds", "the replica to replay")
    }), 60_000)

  it.scopedLive("appends and command handling go to the primary, also while the replica lags", () =>
    Effect.gen(function*() {
      const schema = freshSchema("cmd")
      const other = yield* openPrimary(schema)
      const { store } = yield* open(schema)
      yield* pausedReplay
      // Another process moves the aggregate on; the paused replica does not know.
      let counter = Aggregate.empty(Counter, "acc")
      for (let i = 1; i <= 3; i++) counter = yield* other.store.save(Aggregate.apply(counter, new Ticked({ n: i })))
      expect(yield* versionOf(store, "acc")).toEqual(Option.none())
      // The handler loads on the primary: it decides on version 3 at once, with no retry to spend.
      const result = yield* CommandHandler.handle(Account, "acc", "tick", { retry: Schedule.stop }).pipe(
        Effect.provideService(EventStore.EventStore, store)
      )
      expect(result.root.version).toBe(4)
      // Appends asked to run on the replica still run on the primary (a standby would refuse them).
      const appended = yield* ReadPreference.replica(store.append("Clock", "c1", [{ eventType: "Ticked", data: { n: 1 } }]))
      expect(appended.events).toHaveLength(1)
      expect(yield* ReadPreference.primary(versionOf(store, "acc"))).toEqual(Option.some(4))
    }), 60_000)

  it.scopedLive("a projection reads the log on the replica and writes its read model and checkpoint on the primary", () =>
    Effect.gen(function*() {
      const schema = freshSchema("prj")
      const primary = yield* openPrimary(schema)
      const reader = yield* open(schema)
      yield* primary.client.unsafe(`CREATE TABLE "${schema}".seen (event_id text PRIMARY KEY)`)
      yield* Projection.run(Projection.make({
        name: "seen",
        batchSize: 25,
        handle: (event) =>
          Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`INSERT INTO "${schema}".seen (event_id) VALUES ($1)`, [event.eventId]))
      })).pipe(
        Effect.provideService(EventStore.EventStore, reader.store),
        Effect.provideService(ProjectionStore.ProjectionStore, reader.projections),
        Effect.provideService(SqlClient.SqlClient, reader.client)
      )
      const seen = Effect.map(primary.client.unsafe<{ readonly n: number }>(`SELECT count(*)::int AS n FROM "${schema}".seen`), ([row]) => row?.n ?? 0)
      const appendSome = (from: number, count: number) =>
        Effect.all(
          Array.from({ length: count }, (_, i) => primary.store.append("Account", `acc-${(from + i) % 20}`, [{ eventType: "Deposited", data: { i } }])),
          { concurrency: 8, discard: true }
        )
      yield* appendSome(0, 200)
      yield* waitUntil(Effect.map(seen, (n) => n === 200), "30 seconds", "the projection")
      // The projection reads on the replica: with its replay paused, new events do not reach it...
      yield* Effect.scoped(Effect.gen(function*() {
        yield* pausedReplay
        yield* appendSome(200, 10)
        yield* Effect.sleep("700 millis")
        expect(yield* seen).toBe(200)
      }))
      // ...and once it replays, they do, each once.
      yield* waitUntil(Effect.map(seen, (n) => n === 210), "30 seconds", "the projection after the replay")
    }), 90_000)

  it.scopedLive("tenants on a server with a replica read there, and read their own writes", () =>
    Effect.gen(function*() {
      const config = (replicated: boolean): PgTenants.PgTenantsConfig => ({
        servers: { main: servers().primaryUrl },
        directory: "schemas",
        schemaPrefix: prefix,
        ...(replicated ? { replicas: { main: [servers().replicaUrl] } } : {})
      })
      const prefix = freshPrefix()
      const writer = yield* PgTenants.make(config(true))
      const reader = yield* PgTenants.make(config(true))
      yield* writer.create("acme")
      const inTenant = <A, E>(tenants: PgTenants.Service, body: (store: EventStore.Service) => Effect.Effect<A, E>) =>
        tenants.use("acme", (context) => body(Context.get(context, EventStore.EventStore)))
      yield* replicaCaughtUpEffect
      yield* Effect.scoped(Effect.gen(function*() {
        yield* pausedReplay
        yield* inTenant(writer, (store) => store.save(Aggregate.apply(Aggregate.empty(Counter, "t1"), new Ticked({ n: 1 }))))
        expect(yield* inTenant(writer, (store) => versionOf(store, "t1"))).toEqual(Option.some(1))
        expect(yield* inTenant(reader, (store) => versionOf(store, "t1"))).toEqual(Option.none())
        expect(yield* ReadPreference.primary(inTenant(reader, (store) => versionOf(store, "t1")))).toEqual(Option.some(1))
      }))
      yield* waitUntil(Effect.map(inTenant(reader, (store) => versionOf(store, "t1")), Option.isSome), "20 seconds", "the replica to replay")
      const refused = yield* Effect.flip(PgTenants.make({ ...config(false), replicas: { elsewhere: [servers().replicaUrl] } }))
      expect(refused.message).toContain("\"elsewhere\"")
    }), 60_000)

  it.scopedLive("a subscription on the replica receives every event once, in order, while writers append on the primary", () =>
    Effect.gen(function*() {
      const schema = freshSchema("sub")
      const primary = yield* openPrimary(schema)
      const { store } = yield* open(schema)
      const seen = yield* collect(store)
      const stop = yield* Ref.make(false)
      const slow = yield* Effect.fork(slowTransactions(primary, stop))
      const writers = yield* startWriters(primary.store, 4, "20 millis")
      yield* Effect.sleep("1500 millis")
      yield* writers.stop
      yield* Ref.set(stop, true)
      yield* Fiber.join(slow)
      const expected = yield* logOnPrimary(primary.store)
      expect(expected.length).toBeGreaterThan(20)
      yield* waitUntil(Effect.map(Ref.get(seen), (all) => all.length >= expected.length), "20 seconds", "the subscriber")
      expectSameLog(yield* Ref.get(seen), expected)
    }), 60_000)

  it.scopedLive("a subscription on the replica keeps going when the replica restarts", () =>
    Effect.gen(function*() {
      const schema = freshSchema("rst")
      const primary = yield* openPrimary(schema)
      const { store } = yield* open(schema)
      const seen = yield* collect(store)
      const writers = yield* startWriters(primary.store, 3, "20 millis")
      const errorsBefore = yield* fallbacks("error")
      yield* Effect.sleep("500 millis")
      yield* Effect.promise(() => servers().stopReplica())
      yield* Effect.sleep("700 millis")
      yield* Effect.promise(() => servers().startReplica()).pipe(within("60 seconds", "restarting the replica"), Effect.orDie)
      yield* Effect.sleep("700 millis")
      yield* writers.stop
      // The subscriber's reads that the stopped replica failed ran on the primary, counted.
      expect(yield* fallbacks("error")).toBeGreaterThan(errorsBefore)
      const expected = yield* logOnPrimary(primary.store)
      yield* waitUntil(Effect.map(Ref.get(seen), (all) => all.length >= expected.length), "20 seconds", "the subscriber")
      expectSameLog(yield* Ref.get(seen), expected)
      // Reads went back to the restarted replica.
      yield* waitUntil(
        Effect.zipRight(
          store.readEvents({ fromPosition: 0n, limit: 1 }),
          Effect.map(
            onReplica("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'eventuali'"),
            (rows) => (rows[0] as { readonly n: number }).n > 0
          )
        ),
        "20 seconds",
        "reads on the restarted replica"
      )
    }), 90_000)
})
