/**
 * What SQL-backed stores promise projections beyond the common suite: a read model written
 * through the store's own `SqlClient` commits together with the projection's checkpoint, so each
 * event is applied exactly once.
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { EventStore, InlineProjection, Projection, ProjectionStore } from "@eventuali/core"
import { VersionedTables } from "@eventuali/sql"
import { Deferred, Effect, Exit, Fiber, Layer, Option, Ref, Schedule, Scope } from "effect"

const unique = (prefix: string) => `${prefix}_${crypto.randomUUID().replaceAll("-", "")}`

/** A read model table of (event_id, amount), one row per event: a second apply fails on the key. */
const readModel = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const table = unique("balances")
  yield* sql.unsafe(`CREATE TABLE ${table} (event_id TEXT PRIMARY KEY, amount INTEGER NOT NULL)`)
  return {
    table,
    insert: (eventId: string, amount: number) =>
      sql`INSERT INTO ${sql(table)} (event_id, amount) VALUES (${eventId}, ${amount})`,
    rows: Effect.map(
      sql<{ readonly event_id: string }>`SELECT event_id FROM ${sql(table)} ORDER BY event_id`,
      (rows) => rows.map((row) => row.event_id)
    ),
    clear: sql`DELETE FROM ${sql(table)}`
  }
})

const appendDeposits = (aggregateType: string, count: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    const ids: Array<string> = []
    for (let i = 0; i < count; i++) {
      const eventId = unique("event")
      yield* store.append(aggregateType, unique("account"), [{ eventId, eventType: "Deposited", data: { amount: i + 1 } }])
      ids.push(eventId)
    }
    return ids
  })

const amountOf = (data: unknown): number =>
  typeof data === "object" && data !== null && "amount" in data && typeof data.amount === "number" ? data.amount : 0

interface Observation {
  readonly rows: number
  readonly versions: ReadonlyArray<number>
  readonly total: number
  /** How many events the new version had handled when the reader read. */
  readonly built: number
}

/**
 * Version `version` of a balances projection on `VersionedTables`: its table holds each
 * account's balance and the version that wrote it.
 */
const versionedBalances = (name: string, table: string, aggregateType: string, version: number, handled?: Ref.Ref<number>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const own = VersionedTables.name(table, version)
    yield* sql.unsafe(`CREATE TABLE ${own} (account_id TEXT PRIMARY KEY, balance INTEGER NOT NULL, version INTEGER NOT NULL)`)
    return Projection.make({
      name,
      version,
      aggregateTypes: [aggregateType],
      batchSize: 2,
      handle: (event) =>
        Effect.zipRight(
          sql`INSERT INTO ${sql(own)} (account_id, balance, version) VALUES (${event.aggregateId}, ${amountOf(event.data)}, ${version})
            ON CONFLICT (account_id) DO UPDATE SET balance = ${sql(own)}.balance + excluded.balance`,
          handled === undefined ? Effect.void : Ref.update(handled, (n) => n + 1)
        ),
      activate: VersionedTables.activate([table], version)
    })
  })

/**
 * A rebuildable balances projection (its `activate` takes the build): each build writes its own
 * table, which records the generation that wrote it; live receipts are collected in `sent`.
 */
const rebuildableBalances = (name: string, table: string, aggregateType: string, sent: Ref.Ref<ReadonlySet<string>>) =>
  Effect.map(SqlClient.SqlClient, (sql) =>
    Projection.make({
      name,
      partitions: 8,
      aggregateTypes: [aggregateType],
      batchSize: 2,
      leaseDuration: "600 millis",
      prepare: (build) =>
        sql`CREATE TABLE IF NOT EXISTS ${sql(VersionedTables.name(table, build))}
          (account_id TEXT PRIMARY KEY, balance INTEGER NOT NULL, generation INTEGER NOT NULL)`,
      handle: (event) =>
        Effect.gen(function*() {
          const own = sql(VersionedTables.name(table, event.build))
          yield* sql`INSERT INTO ${own} (account_id, balance, generation) VALUES (${event.aggregateId}, ${amountOf(event.data)}, ${event.build.generation})
            ON CONFLICT (account_id) DO UPDATE SET balance = ${own}.balance + excluded.balance`
          if (!event.replaying) yield* Ref.update(sent, (all) => new Set(all).add(`g${event.build.generation}:${event.eventId}`))
        }),
      activate: (build) => VersionedTables.activate([table], build)
    }))

/** A balance per account, upserted by an inline projection; amounts over `limit` are refused after writing. */
const inlineBalances = (aggregateType: string, limit = Infinity) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const table = unique("inline_balances")
    yield* sql.unsafe(`CREATE TABLE ${table} (account_id TEXT PRIMARY KEY, balance INTEGER NOT NULL)`)
    const projection = Projection.make({
      name: unique("balances"),
      aggregateTypes: [aggregateType],
      handle: (event) =>
        Effect.gen(function*() {
          const amount = amountOf(event.data)
          yield* sql`INSERT INTO ${sql(table)} (account_id, balance) VALUES (${event.aggregateId}, ${amount})
            ON CONFLICT (account_id) DO UPDATE SET balance = ${sql(table)}.balance + excluded.balance`
          if (amount > limit) return yield* Effect.fail(`amount ${amount} over the limit`)
        })
    })
    yield* Layer.build(InlineProjection.layer(projection))
    return {
      balances: Effect.map(
        sql<{ readonly account_id: string; readonly balance: number | string }>`SELECT account_id, balance FROM ${sql(table)}`,
        (rows) => new Map(rows.map((row) => [row.account_id, Number(row.balance)]))
      )
    }
  })

/**
 * Declares the tests for a store layer that also provides its `SqlClient`.
 *
 * @since 0.1.0
 * @category tests
 */
export const run = (
  name: string,
  layer: Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore | SqlClient.SqlClient, unknown>
): void => {
  describe(name, () => {
    it.effect("a batch that fails midway leaves no read model rows and no checkpoint; its retry applies each event once", () =>
      Effect.gen(function*() {
        const model = yield* readModel
        const type = unique("Account")
        const ids = yield* appendDeposits(type, 5)
        const failedOnce = yield* Ref.make(false)
        const running = yield* Projection.run(Projection.make({
          name: unique("balances"),
          aggregateTypes: [type],
          batchSize: 5,
          retry: Schedule.recurs(1),
          handle: (event) =>
            Effect.gen(function*() {
              yield* model.insert(event.eventId, amountOf(event.data))
              // The fourth event fails once, after three rows were written in this batch.
              if (event.eventId === ids[3] && !(yield* Ref.getAndSet(failedOnce, true))) {
                return yield* Effect.fail("transient failure")
              }
            })
        }))
        yield* running.whenCaughtUp
        expect(yield* Ref.get(failedOnce)).toBe(true)
        expect(yield* model.rows).toEqual([...ids].sort())
      }).pipe(Effect.scoped, Effect.provide(layer)))

    it.effect("a projection that stops on an error leaves the read model at its last committed batch", () =>
      Effect.gen(function*() {
        const model = yield* readModel
        const type = unique("Account")
        const ids = yield* appendDeposits(type, 6)
        const projectionName = unique("balances")
        const exit = yield* Effect.exit(Effect.scoped(Effect.flatMap(
          Projection.run(Projection.make({
            name: projectionName,
            aggregateTypes: [type],
            batchSize: 2,
            retry: Schedule.stop,
            handle: (event) =>
              Effect.zipRight(
                model.insert(event.eventId, amountOf(event.data)),
                event.eventId === ids[3] ? Effect.fail("poisoned") : Effect.void
              )
          })),
          (running) => running.whenCaughtUp
        )))
        expect(exit).toEqual(Exit.fail("poisoned"))
        // Batches [0, 1] committed; [2, 3] rolled back, including the row of event 2.
        expect(yield* model.rows).toEqual(ids.slice(0, 2).sort())
        const resumed = yield* Projection.run(Projection.make({
          name: projectionName,
          aggregateTypes: [type],
          handle: (event) => model.insert(event.eventId, amountOf(event.data))
        }))
        yield* resumed.whenCaughtUp
        expect(yield* model.rows).toEqual([...ids].sort())
      }).pipe(Effect.scoped, Effect.provide(layer)))

    it.effect("a batch whose COMMIT fails (a deferred constraint) is rolled back and retried like any failing batch, not a defect; each event is applied once", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const parents = unique("parents")
        const children = unique("children")
        yield* sql.unsafe(`CREATE TABLE ${parents} (id TEXT PRIMARY KEY)`)
        yield* sql.unsafe(
          `CREATE TABLE ${children} (event_id TEXT PRIMARY KEY, parent_id TEXT REFERENCES ${parents} (id) DEFERRABLE INITIALLY DEFERRED)`
        )
        const type = unique("Account")
        const ids = yield* appendDeposits(type, 3)
        const attempts = yield* Ref.make(0)
        const running = yield* Projection.run(Projection.make({
          name: unique("children"),
          aggregateTypes: [type],
          retry: Schedule.recurs(2),
          handle: (event) =>
            Effect.gen(function*() {
              // The first attempt writes a row that only its COMMIT checks, and refuses.
              const first = event.eventId === ids[0] && (yield* Ref.getAndUpdate(attempts, (n) => n + 1)) === 0
              const parent = first ? "missing" : null
              yield* sql`INSERT INTO ${sql(children)} (event_id, parent_id) VALUES (${event.eventId}, ${parent})`
            })
        }))
        yield* running.whenCaughtUp
        expect(yield* Ref.get(attempts)).toBe(2)
        const rows = yield* sql<{ readonly event_id: string }>`SELECT event_id FROM ${sql(children)} ORDER BY event_id`
        expect(rows.map((row) => row.event_id)).toEqual([...ids].sort())
      }).pipe(Effect.scoped, Effect.provide(layer)))

    it.effect("rebuild clears the read model and the checkpoint in one transaction, then replays", () =>
      Effect.gen(function*() {
        const model = yield* readModel
        const type = unique("Account")
        const ids = yield* appendDeposits(type, 4)
        const running = yield* Projection.run(Projection.make({
          name: unique("balances"),
          aggregateTypes: [type],
          handle: (event) => model.insert(event.eventId, amountOf(event.data)),
          reset: model.clear
        }))
        yield* running.whenCaughtUp
        yield* running.rebuild
        yield* running.whenCaughtUp
        expect(yield* model.rows).toEqual([...ids].sort())
      }).pipe(Effect.scoped, Effect.provide(layer)))

    it.effect("versions: a new version is built while a reader queries the old one in a loop: never an empty or partial model, the new one after the switch, and the old tables can be dropped", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* EventStore.EventStore
        const type = unique("Account")
        const name = unique("balances")
        const table = unique("bal")
        const accounts = Array.from({ length: 6 }, () => unique("account"))
        const deposit = (i: number) => store.append(type, accounts[i % accounts.length]!, [{ eventType: "Deposited", data: { amount: i + 1 } }])
        yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => i), deposit, { discard: true })

        const oldScope = yield* Scope.make()
        const v1 = yield* Scope.extend(Projection.run(yield* versionedBalances(name, table, type, 1)), oldScope)
        yield* v1.whenCaughtUp

        const built = yield* Ref.make(0)
        const observe = Effect.zipWith(
          sql<{ readonly balance: number | string; readonly version: number | string }>`SELECT balance, version FROM ${sql(table)}`,
          Ref.get(built),
          (rows, built): Observation => ({
            rows: rows.length,
            versions: [...new Set(rows.map((row) => Number(row.version)))],
            total: rows.reduce((sum, row) => sum + Number(row.balance), 0),
            built
          })
        )
        const observations = yield* Ref.make<ReadonlyArray<Observation>>([yield* observe])
        const reader = yield* Effect.fork(Effect.forever(Effect.zipRight(
          Effect.flatMap(observe, (observation) => Ref.update(observations, (all) => [...all, observation])),
          Effect.yieldNow()
        )))

        // Version 2 replays 60 events in batches of 2 while version 1 serves and follows new ones.
        const v2 = yield* Projection.run(yield* versionedBalances(name, table, type, 2, built))
        yield* Effect.forEach(Array.from({ length: 6 }, (_, i) => 60 + i), deposit, { discard: true })
        yield* v2.whenCaughtUp
        yield* deposit(66)
        yield* v2.whenCaughtUp
        yield* v1.whenCaughtUp
        const afterSwitch = yield* observe
        yield* Fiber.interrupt(reader)

        const seen = yield* Ref.get(observations)
        // The reader ran during the rebuild: it read version 1 while version 2 was half built.
        expect(seen.some((observation) => observation.versions[0] === 1 && observation.built > 0 && observation.built < 60)).toBe(true)
        for (const observation of seen) {
          expect(observation.rows).toBe(accounts.length)
          expect(observation.versions.length).toBe(1)
        }
        const versionsSeen = seen.map((observation) => observation.versions[0])
        expect(versionsSeen[0]).toBe(1)
        // Once readers are on version 2 they stay there.
        expect(versionsSeen.slice(versionsSeen.indexOf(2)).every((version) => version === 2)).toBe(true)
        const total = Array.from({ length: 67 }, (_, i) => i + 1).reduce((sum, amount) => sum + amount, 0)
        expect(afterSwitch).toEqual({ rows: accounts.length, versions: [2], total, built: 67 })

        // The active version's tables cannot be dropped; the old one's can, once it is stopped.
        const refused = yield* Effect.exit(VersionedTables.drop(name, [table], 2))
        expect(Exit.isFailure(refused) && refused.cause._tag === "Fail" ? refused.cause.error._tag : undefined).toBe("EventStoreError")
        yield* Scope.close(oldScope, Exit.void)
        yield* VersionedTables.drop(name, [table], 1)
        expect(Exit.isFailure(yield* Effect.exit(sql.unsafe(`SELECT * FROM ${VersionedTables.name(table, 1)}`)))).toBe(true)
        expect(yield* observe).toEqual({ rows: accounts.length, versions: [2], total, built: 67 })
      }).pipe(Effect.scoped, Effect.provide(layer)))

    it.effect("rebuild without downtime: a rebuild asked for as the CLI does is built by two instances of 8 partitions beside the active build while a reader queries it in a loop: never an empty or partial model, the rebuilt one after the switch, no live side effect repeated, the old generation's tables droppable", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const store = yield* EventStore.EventStore
        const type = unique("Account")
        const name = unique("balances")
        const table = unique("bal")
        const accounts = Array.from({ length: 6 }, () => unique("account"))
        const deposit = (i: number) =>
          Effect.map(store.append(type, accounts[i % accounts.length]!, [{ eventType: "Deposited", data: { amount: i + 1 } }]), (result) => result.events[0]!.eventId)
        yield* Effect.forEach(Array.from({ length: 60 }, (_, i) => i), deposit, { discard: true })
        const sent = yield* Ref.make<ReadonlySet<string>>(new Set())
        const projection = yield* rebuildableBalances(name, table, type, sent)
        const [a, b] = yield* Effect.all([Projection.run(projection), Projection.run(projection)], { concurrency: "unbounded" })
        yield* Effect.all([a.whenCaughtUp, b.whenCaughtUp], { concurrency: "unbounded", discard: true })

        const observe = Effect.map(
          sql<{ readonly balance: number | string; readonly generation: number | string }>`SELECT balance, generation FROM ${sql(table)}`,
          (rows) => ({
            rows: rows.length,
            generations: [...new Set(rows.map((row) => Number(row.generation)))],
            total: rows.reduce((sum, row) => sum + Number(row.balance), 0)
          })
        )
        const building = Effect.map(
          Effect.exit(sql<{ readonly n: number | string | null }>`SELECT sum(balance) AS n FROM ${sql(VersionedTables.name(table, { version: 1, generation: 1 }))}`),
          (exit) => Exit.isSuccess(exit) ? Number(exit.value[0]?.n ?? 0) : 0
        )
        const observations = yield* Ref.make<ReadonlyArray<{ readonly rows: number; readonly generations: ReadonlyArray<number>; readonly total: number; readonly built: number }>>([])
        const reader = yield* Effect.fork(Effect.forever(Effect.zipRight(
          Effect.flatMap(Effect.zipWith(observe, building, (observation, built) => ({ ...observation, built })), (observation) =>
            Ref.update(observations, (all) => [...all, observation])),
          Effect.yieldNow()
        )))

        const request = yield* Projection.requestRebuild(name)
        expect(request).toMatchObject({ projection: name, name: `${name}@v1.g1`, active: { version: 1, generation: 0 }, build: { version: 1, generation: 1 }, alreadyRequested: false })
        // Asked again while it is in progress: the same rebuild.
        expect((yield* Projection.requestRebuild(name)).alreadyRequested).toBe(true)
        const live = yield* Effect.forEach(Array.from({ length: 6 }, (_, i) => 60 + i), deposit)
        yield* Effect.all([a.whenCaughtUp, b.whenCaughtUp], { concurrency: "unbounded", discard: true })
        const projections = yield* ProjectionStore.ProjectionStore
        expect(yield* projections.builds(name)).toEqual(Option.some({ active: { version: 1, generation: 1 }, requested: Option.none() }))
        const last = yield* deposit(66)
        yield* Effect.all([a.whenCaughtUp, b.whenCaughtUp], { concurrency: "unbounded", discard: true })
        yield* Fiber.interrupt(reader)

        const total = Array.from({ length: 67 }, (_, i) => i + 1).reduce((sum, amount) => sum + amount, 0)
        expect(yield* observe).toEqual({ rows: accounts.length, generations: [1], total })
        const seen = yield* Ref.get(observations)
        // The reader ran during the rebuild: it read generation 0 while generation 1 was half built.
        expect(seen.some((observation) => observation.generations[0] === 0 && observation.built > 0 && observation.built < total)).toBe(true)
        for (const observation of seen) {
          expect(observation.rows).toBe(accounts.length)
          expect(observation.generations.length).toBe(1)
        }
        const generationsSeen = seen.map((observation) => observation.generations[0])
        expect(generationsSeen.slice(generationsSeen.indexOf(1)).every((generation) => generation === 1)).toBe(true)
        // Receipts: each live event's (by the serving generation, or by the new one once it serves), the one
        // after the switch by the new one, none of a replayed event.
        const receipts = [...(yield* Ref.get(sent))]
        expect([...new Set(receipts.map((receipt) => receipt.slice(3)))].sort()).toEqual([...live, last].sort())
        expect(receipts.filter((receipt) => receipt.endsWith(last))).toEqual([`g1:${last}`])
        // Exactly once per partition in the new build.
        expect((yield* Projection.verify(`${name}@v1.g1`)).complete).toBe(true)

        // The active build's tables cannot be dropped; the replaced generation's can.
        const refused = yield* Effect.exit(VersionedTables.drop(name, [table], { version: 1, generation: 1 }))
        expect(Exit.isFailure(refused) && refused.cause._tag === "Fail" ? refused.cause.error._tag : undefined).toBe("EventStoreError")
        yield* VersionedTables.drop(name, [table], 1)
        expect(Exit.isFailure(yield* Effect.exit(sql.unsafe(`SELECT * FROM ${VersionedTables.name(table, 1)}`)))).toBe(true)
        expect(yield* observe).toEqual({ rows: accounts.length, generations: [1], total })
      }).pipe(Effect.scoped, Effect.provide(layer)), 60_000)

    it.effect("inline: a save whose handler fails on its third event stores neither its events nor the rows written for the first two", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const type = unique("Account")
        const model = yield* inlineBalances(type, 100)
        const id = unique("account")
        const deposits = [10, 20, 500].map((amount) => ({ eventType: "Deposited", data: { amount } }))
        const exit = yield* Effect.exit(store.append(type, id, deposits))
        expect(Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error._tag : undefined).toBe("InlineProjectionError")
        expect(yield* store.loadEvents(id)).toEqual([])
        expect(yield* store.getAggregateVersion(id)).toEqual(Option.none())
        expect(yield* model.balances).toEqual(new Map())
        // A save the handler accepts commits both, and the store goes on.
        yield* store.append(type, id, deposits.slice(0, 2))
        expect(yield* model.balances).toEqual(new Map([[id, 30]]))
      }).pipe(Effect.scoped, Effect.provide(layer)))

    it.effect("inline: under 20 concurrent saves every save returns with its events in the read model, which then equals a fold of the log", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const type = unique("Account")
        const model = yield* inlineBalances(type)
        const ids = Array.from({ length: 4 }, () => unique("account"))
        yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            const id = ids[i % ids.length]!
            const saved = yield* store.append(type, id, [{ eventType: "Deposited", data: { amount: i + 1 } }, {
              eventType: "Deposited",
              data: { amount: 100 }
            }])
            const balance = (yield* model.balances).get(id) ?? 0
            const events = yield* store.loadEvents(id)
            const upToThis = events.filter((event) => event.aggregateVersion <= saved.version)
            expect(balance).toBeGreaterThanOrEqual(upToThis.reduce((sum, event) => sum + amountOf(event.data), 0))
          }), { concurrency: "unbounded", discard: true })
        const folded = new Map<string, number>()
        for (const event of yield* store.loadEventsByType(type)) {
          folded.set(event.aggregateId, (folded.get(event.aggregateId) ?? 0) + amountOf(event.data))
        }
        expect(folded.size).toBe(4)
        expect(yield* model.balances).toEqual(folded)
      }).pipe(Effect.scoped, Effect.provide(layer)))

    it.live("partitions: three instances of an 8-partition projection while 8 writers append 10,000 events over 500 aggregates, one stopped midway and restarted: each event applied once, in order per aggregate, every partition held, verify complete", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const table = unique("partitioned")
        // Keyed by event id: a second apply would fail its batch on the key (and the test on whenCaughtUp).
        yield* sql.unsafe(`CREATE TABLE ${table} (event_id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, seq INTEGER NOT NULL)`)
        const type = unique("Account")
        const name = unique("partitioned")
        const sequence = yield* Ref.make(0)
        const projection = Projection.make({
          name,
          aggregateTypes: [type],
          partitions: 8,
          leaseDuration: "1 second",
          handle: (event) =>
            Effect.flatMap(Ref.updateAndGet(sequence, (n) => n + 1), (seq) =>
              sql`INSERT INTO ${sql(table)} (event_id, aggregate_id, version, seq) VALUES (${event.eventId}, ${event.aggregateId}, ${event.aggregateVersion}, ${seq})`)
        })
        const start = Effect.flatMap(Scope.make(), (scope) => Effect.map(Projection.run(projection).pipe(Scope.extend(scope)), (running) => ({ scope, running })))
        const first = yield* Effect.all([start, start, start])
        const aggregates = Array.from({ length: 500 }, (_, i) => `${type}-${i}`)
        const store = yield* EventStore.EventStore
        const writers = Effect.all(
          Array.from({ length: 8 }, (_, writer) =>
            Effect.forEach(Array.from({ length: 1250 }, (_, i) => i), (i) =>
              store.append(type, aggregates[(writer * 1250 + i) % 500]!, [{ eventType: "Deposited", data: { amount: 1 } }]), { discard: true })),
          { concurrency: "unbounded", discard: true }
        )
        const rows = Effect.map(sql<{ readonly n: number | string }>`SELECT count(*) AS n FROM ${sql(table)}`, ([row]) => Number(row?.n ?? 0))
        const stopMidway = Effect.gen(function*() {
          while ((yield* rows) < 3000) yield* Effect.sleep("20 millis")
          yield* Scope.close(first[0]!.scope, Exit.void)
          return yield* start
        })
        const [, restarted] = yield* Effect.all([writers, stopMidway], { concurrency: "unbounded" })
        const instances = [first[1]!, first[2]!, restarted]
        yield* Effect.forEach(instances, ({ running }) => running.whenCaughtUp, { discard: true })
        expect(yield* rows).toBe(10_000)
        const applied = yield* sql<{ readonly aggregate_id: string; readonly version: number | string }>`SELECT aggregate_id, version FROM ${sql(table)} ORDER BY seq`
        const lastVersion = new Map<string, number>()
        for (const row of applied) {
          expect(Number(row.version)).toBe((lastVersion.get(row.aggregate_id) ?? 0) + 1)
          lastVersion.set(row.aggregate_id, Number(row.version))
        }
        // Every partition is held, by the instances still running, within a few heartbeats.
        const holders = new Set(yield* Effect.forEach(instances, ({ running }) => Effect.map(running.status, (status) => status.instance)))
        let status = yield* restarted.running.status
        for (let round = 0; round < 100 && !status.partitionStatus.every((partition) => partition.holder !== undefined && holders.has(partition.holder)); round++) {
          yield* Effect.sleep("50 millis")
          status = yield* restarted.running.status
        }
        expect(status.partitionStatus.every((partition) => partition.holder !== undefined && holders.has(partition.holder))).toBe(true)
        const verification = yield* Projection.verify(name)
        expect(verification.complete).toBe(true)
        expect(verification.partitions.reduce((sum, partition) => sum + partition.recorded, 0)).toBe(10_000)
        yield* Effect.forEach(instances, ({ scope }) => Scope.close(scope, Exit.void), { discard: true })
      }).pipe(Effect.provide(layer)), 180_000)

    it.live("lazy batch transaction: while a handler waits on another service before writing, the batch holds no connection (another statement runs); its writes still commit with the checkpoint", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const model = yield* readModel
        const type = unique("Account")
        const ids = yield* appendDeposits(type, 2)
        const waiting = yield* Deferred.make<void>()
        const answer = yield* Deferred.make<void>()
        const running = yield* Projection.run(Projection.make({
          name: unique("waiting"),
          aggregateTypes: [type],
          handle: (event) =>
            Effect.gen(function*() {
              // The call to another service: the batch's transaction has not begun yet.
              yield* Deferred.succeed(waiting, undefined)
              yield* Deferred.await(answer)
              // A transaction of the handler's own nests in the batch's (a savepoint), which it begins.
              yield* sql.withTransaction(model.insert(event.eventId, amountOf(event.data)))
            })
        }))
        yield* Deferred.await(waiting)
        // SQLite has one connection and a PostgreSQL pool a few: a batch holding one for its whole
        // transaction would keep this statement waiting until the handler returned.
        const [row] = yield* sql<{ readonly n: number | string }>`SELECT count(*) AS n FROM ${sql(model.table)}`.pipe(Effect.timeout("10 seconds"))
        expect(Number(row?.n)).toBe(0)
        yield* Deferred.succeed(answer, undefined)
        yield* running.whenCaughtUp
        expect(yield* model.rows).toEqual([...ids].sort())
        expect((yield* running.verify).complete).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(layer)), 60_000)

    it.live("lazy batch transaction: two holders of one partition at once (a paused instance whose lease expired) apply each event once: the batch whose checkpoint moved meanwhile is rolled back and runs again from there", () =>
      Effect.gen(function*() {
        const checkpoints = yield* ProjectionStore.ProjectionStore
        const model = yield* readModel
        const name = unique("contended")
        const runs = yield* Ref.make<ReadonlyArray<string>>([])
        const secondRead = yield* Deferred.make<void>()
        const firstCommitted = yield* Deferred.make<void>()
        // Each holder applies positions from+1..from+3 and moves the checkpoint to from+3.
        const apply = (from: bigint, inTransaction: ProjectionStore.InTransaction, swallow: boolean) =>
          Effect.forEach([from + 1n, from + 2n, from + 3n], (position) => {
            const insert = Effect.asVoid(inTransaction(model.insert(`p${position}`, 1)))
            return swallow && position === from + 1n ? Effect.ignore(insert) : insert // a handler that swallows the error
          }, { discard: true })
        const holder = (label: string, body: (from: bigint, inTransaction: ProjectionStore.InTransaction) => Effect.Effect<void, unknown>) =>
          checkpoints.withBatch(name, (from, inTransaction) =>
            Effect.gen(function*() {
              yield* Ref.update(runs, (all) => [...all, `${label}@${from}`])
              yield* body(from, inTransaction)
              return [label, Option.some({ position: from + 3n, handled: 3, digest: 0n, parked: [] })] as const
            }))
        const first = holder("first", (from, inTransaction) => Effect.zipRight(Deferred.await(secondRead), apply(from, inTransaction, false))).pipe(
          Effect.tap(() => Deferred.succeed(firstCommitted, undefined))
        )
        // Reads the checkpoint (0) while the first holds the partition too, and writes once the first has committed.
        const second = holder("second", (from, inTransaction) =>
          Effect.zipRight(Deferred.succeed(secondRead, undefined), Effect.zipRight(Deferred.await(firstCommitted), apply(from, inTransaction, true))))
        const done = yield* Effect.all([first, second], { concurrency: "unbounded" })
        expect(done).toEqual(["first", "second"])
        // Both read 0; the second began after the first committed, found the checkpoint moved, and ran again from 3.
        expect([...(yield* Ref.get(runs))].sort()).toEqual(["first@0", "second@0", "second@3"])
        expect(yield* model.rows).toEqual(["p1", "p2", "p3", "p4", "p5", "p6"])
        expect(Option.map(yield* checkpoints.get(name), (checkpoint) => checkpoint.position)).toEqual(Option.some(6n))
      }).pipe(Effect.scoped, Effect.provide(layer)), 60_000)

    it.effect("lazy batch transaction: a handler that appends events and reads the log joins the batch's transaction (its append is undone with the batch), on every backend's own statements", () =>
      Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const model = yield* readModel
        const type = unique("Account")
        const derived = unique("Derived")
        const ids = yield* appendDeposits(type, 3)
        const failedOnce = yield* Ref.make(false)
        const running = yield* Projection.run(Projection.make({
          name: unique("appending"),
          aggregateTypes: [type],
          batchSize: 3,
          retry: Schedule.recurs(1),
          handle: (event) =>
            Effect.gen(function*() {
              // First statement of the batch: the store's own append, which begins the transaction.
              yield* store.append(derived, `${event.eventId}-derived`, [{ eventType: "Derived", data: {} }])
              yield* store.readEvents({ fromPosition: 0n, limit: 1 })
              yield* model.insert(event.eventId, amountOf(event.data))
              if (event.eventId === ids[2] && !(yield* Ref.getAndSet(failedOnce, true))) return yield* Effect.fail("transient failure")
            })
        }))
        yield* running.whenCaughtUp
        expect(yield* Ref.get(failedOnce)).toBe(true)
        expect(yield* model.rows).toEqual([...ids].sort())
        // The failed try's appends were rolled back with it: one derived event per event.
        expect((yield* store.readEvents({ fromPosition: 0n, limit: 100, aggregateTypes: [derived] })).length).toBe(3)
      }).pipe(Effect.scoped, Effect.provide(layer)))

    it.effect("park: a parked event's retry writes its row once, in the retry's transaction; the rows of the batches around it once each", () =>
      Effect.gen(function*() {
        const model = yield* readModel
        const type = unique("Account")
        const ids = yield* appendDeposits(type, 5)
        const fixed = yield* Ref.make(false)
        const running = yield* Projection.run(Projection.make({
          name: unique("parking"),
          aggregateTypes: [type],
          batchSize: 5,
          onFailure: "park",
          retry: Schedule.recurs(1),
          handle: (event) =>
            Effect.gen(function*() {
              yield* model.insert(event.eventId, amountOf(event.data))
              if (event.eventId === ids[2] && !(yield* Ref.get(fixed))) return yield* Effect.fail("not yet")
            })
        }))
        yield* running.whenCaughtUp
        expect(yield* model.rows).toEqual([ids[0]!, ids[1]!, ids[3]!, ids[4]!].sort())
        yield* Ref.set(fixed, true)
        expect((yield* running.retryParked()).map((outcome) => outcome._tag)).toEqual(["Applied"])
        expect(yield* model.rows).toEqual([...ids].sort())
        expect(yield* running.parked).toEqual([])
        expect((yield* running.verify).complete).toBe(true)
      }).pipe(Effect.scoped, Effect.provide(layer)))
  })
}
