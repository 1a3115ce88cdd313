/**
 * Tenant isolation as a security property: crafted tenant ids are refused before anything is
 * created; two tenants with the same aggregate ids, types and projection names never see each
 * other's events, checkpoints or read models, whatever position or filter one passes.
 */
import { expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, Checkpoint, EventStore, Projection, ProjectionStore, Tenants } from "@eventuali/core"
import { PgTenants } from "@eventuali/postgres"
import { Chunk, Effect, Exit, Option, Schema, Stream } from "effect"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"
import { freshConfig as freshConfigOf, ordinaryRoleUrl, queryServer } from "./support/tenants.js"

/** Row-level security binds only a role that is not a superuser: those tenants connect as one. */
const appUrl = serverUrl === "" ? "" : await Effect.runPromise(ordinaryRoleUrl(serverUrl))

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { tenant: Schema.String, n: Schema.Number }) {}
const Account = Aggregate.make({
  type: "Account",
  events: [Deposited],
  initialState: [] as ReadonlyArray<string>,
  evolve: (seen: ReadonlyArray<string>, event: Deposited) => [...seen, `${event.tenant}:${event.n}`]
})

/** The schemas whose name starts with `prefix`, straight from the catalog. */
const schemasLike = (prefix: string) =>
  Effect.map(
    queryServer<{ readonly nspname: string }>(serverUrl, "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY nspname", [prefix]),
    (rows) => rows.map((row) => row.nspname)
  )

/** Saves `count` deposits of `tenant` on account `id` (same ids in every tenant). */
const deposit = (tenant: string, id: string, count: number) =>
  Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    let account = Aggregate.empty(Account, id)
    for (let n = 0; n < count; n++) account = Aggregate.apply(account, new Deposited({ tenant, n }))
    yield* store.save(account)
  })

const tenantOf = (data: unknown) => (data as { readonly tenant: string }).tenant

/** Each storage strategy, with a configuration of its own per call (a fresh shared schema too). */
const strategies: ReadonlyArray<readonly [string, () => Partial<PgTenants.PgTenantsConfig>]> = [
  ["schema per tenant", () => ({})],
  ["conjoined", () => ({ strategy: "conjoined", conjoinedSchema: freshSchema("shared") })],
  ["conjoined, row-level security", () => ({
    servers: { main: appUrl },
    strategy: "conjoined",
    conjoinedSchema: freshSchema("shared"),
    rowLevelSecurity: true
  })]
]

for (const [strategyName, extra] of strategies) describePg(`PostgreSQL tenant isolation (${strategyName})`, () => {
  const freshConfig = (servers?: Readonly<Record<string, string>>, more: Partial<PgTenants.PgTenantsConfig> = {}) => {
    const config = { ...extra(), ...more }
    return freshConfigOf(servers ?? config.servers as Record<string, string> | undefined, config)
  }

  it.live("crafted tenant ids are refused with EventStoreError before any schema or directory entry is created", () =>
    Effect.gen(function*() {
      const config = freshConfig()
      const tenants = yield* PgTenants.make(config)
      const crafted = [
        "",
        "Acme",
        "acme-corp",
        "a b",
        " acme",
        "acme ",
        "_acme",
        "acme\"; DROP SCHEMA public CASCADE; --",
        "acme'; DROP TABLE eventuali_events; --",
        "a\"b",
        "acme\u0000",
        "../acme",
        "acme.eventuali_events",
        "écurie",
        "ａｃｍｅ",
        "acme\u200b",
        "x".repeat(49),
        "x".repeat(10_000),
        "acme\n"
      ]
      for (const tenantId of crafted) {
        const created = yield* Effect.exit(tenants.create(tenantId))
        expect(created).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "EventStoreError" })))
        const opened = yield* Effect.exit(Effect.scoped(tenants.context(tenantId)))
        expect(opened).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "EventStoreError" })))
      }
      // Not strings at all, as from an untyped request body.
      for (const tenantId of [undefined, null, 42, { toString: () => "acme" }, ["acme"]]) {
        const created = yield* Effect.exit(tenants.create(tenantId as unknown as string))
        expect(created).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "EventStoreError" })))
      }
      expect(yield* tenants.list).toStrictEqual([])
      expect(yield* schemasLike(config.schemaPrefix!)).toStrictEqual([])
      // The longest valid id works.
      yield* tenants.create("x".repeat(48))
      expect(yield* schemasLike(config.schemaPrefix!)).toStrictEqual([`${config.schemaPrefix}${"x".repeat(48)}`])
    }).pipe(Effect.scoped), 60_000)

  it.live("a valid id that was never created is TenantNotFoundError, and opening it creates nothing", () =>
    Effect.gen(function*() {
      const config = freshConfig()
      const tenants = yield* PgTenants.make(config)
      const opened = yield* Effect.exit(Effect.scoped(tenants.context("ghost")))
      expect(opened).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "TenantNotFoundError", tenantId: "ghost" })))
      const run = yield* Effect.exit(PgTenants.provide("ghost")(deposit("ghost", "a", 1)).pipe(Effect.provideService(PgTenants.PgTenants, tenants)))
      expect(run).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "TenantNotFoundError" })))
      expect(yield* schemasLike(config.schemaPrefix!)).toStrictEqual([])
    }).pipe(Effect.scoped), 60_000)

  it.live("two tenants with the same ids, types and projection names see only their own events, checkpoints and read models", () =>
    Effect.gen(function*() {
      const config = freshConfig()
      const tenants = yield* PgTenants.make(config)
      yield* tenants.create("acme")
      yield* tenants.create("globex")
      const as = (tenant: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
        PgTenants.provide(tenant)(self).pipe(Effect.provideService(PgTenants.PgTenants, tenants))

      yield* as("acme")(deposit("acme", "shared-id", 3))
      yield* as("globex")(deposit("globex", "shared-id", 5))
      yield* as("acme")(deposit("acme", "only-acme", 2))

      // Every read of each tenant: its events only, however it asks.
      for (const [tenant, expected] of [["acme", 5], ["globex", 5]] as const) {
        const seen = yield* as(tenant)(Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const loaded = yield* store.loadOrFail(Account, "shared-id")
          const all = yield* store.readEvents({ fromPosition: 0n, limit: 10_000 })
          const byType = yield* store.loadEventsByType("Account")
          const streamed = Chunk.toReadonlyArray(yield* Stream.runCollect(store.streamAll({ batchSize: 2 })))
          const subscribed = Chunk.toReadonlyArray(
            yield* Stream.runCollect(store.subscribe({ from: "beginning", aggregateTypes: ["Account"] }).pipe(Stream.take(expected)))
          )
          const tenantId = (yield* Tenants.Tenant).id
          return { loaded, all, byType, streamed, subscribed, tenantId }
        }))
        expect(seen.tenantId).toBe(tenant)
        for (const events of [seen.all, seen.byType, seen.streamed, seen.subscribed]) {
          expect(events).toHaveLength(expected)
          expect(events.every((event) => tenantOf(event.data) === tenant)).toBe(true)
        }
        expect(seen.loaded.state).toStrictEqual(Array.from({ length: tenant === "acme" ? 3 : 5 }, (_, n) => `${tenant}:${n}`))
      }
      expect(yield* as("globex")(Effect.flatMap(EventStore.EventStore, (store) => store.getAggregateVersion("only-acme")))).toStrictEqual(
        Option.none()
      )

      // Positions and checkpoints taken from one tenant are only numbers to the other.
      const acmePositions = (yield* as("acme")(Effect.flatMap(EventStore.EventStore, (store) =>
        store.readEvents({ fromPosition: 0n, limit: 100 })))).map((event) => event.position)
      for (const position of [0n, ...acmePositions, acmePositions[0]! - 1n, 2n ** 63n - 1n]) {
        const fromOther = yield* as("globex")(Effect.flatMap(EventStore.EventStore, (store) =>
          store.readEvents({ fromPosition: position, limit: 100 })))
        expect(fromOther.every((event) => tenantOf(event.data) === "globex")).toBe(true)
        const subscribed = yield* as("globex")(Effect.flatMap(EventStore.EventStore, (store) =>
          store.subscribe({ from: Checkpoint.fromPosition(position) }).pipe(
            Stream.interruptAfter("300 millis"),
            Stream.runCollect
          )))
        expect(Chunk.toReadonlyArray(subscribed).every((event) => tenantOf(event.data) === "globex")).toBe(true)
      }

      // The same projection name in both tenants: separate checkpoints, separate read models
      // (each in its tenant's schema, through the tenant's SqlClient with unqualified names).
      const totals = Projection.make({
        name: "totals",
        aggregateTypes: ["Account"],
        handle: (event) =>
          Effect.flatMap(SqlClient.SqlClient, (sql) =>
            sql`INSERT INTO totals (event_id, tenant) VALUES (${event.eventId}, ${tenantOf(event.data)})`)
      })
      for (const tenant of ["acme", "globex"]) {
        yield* as(tenant)(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql`CREATE TABLE totals (event_id text PRIMARY KEY, tenant text NOT NULL)`
          const running = yield* Projection.run(totals)
          yield* running.whenCaughtUp
        }).pipe(Effect.scoped))
      }
      for (const [tenant, expected] of [["acme", 5], ["globex", 5]] as const) {
        const rows = yield* as(tenant)(Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql<{ readonly tenant: string }>`SELECT tenant FROM totals`))
        expect(rows).toHaveLength(expected)
        expect(rows.every((row) => row.tenant === tenant)).toBe(true)
        const checkpoints = yield* as(tenant)(Effect.flatMap(ProjectionStore.ProjectionStore, (store) => store.list))
        expect(checkpoints.map((checkpoint) => checkpoint.name)).toStrictEqual(["totals"])
      }
      // A read model table that exists only in another tenant's schema is not found, not borrowed.
      yield* as("acme")(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`CREATE TABLE acme_only (id int)`))
      const borrowed = yield* Effect.exit(as("globex")(Effect.flatMap(SqlClient.SqlClient, (sql) => sql`SELECT * FROM acme_only`)))
      expect(Exit.isFailure(borrowed)).toBe(true)
      // Nor does a connection that served one tenant keep its search path for the next.
      const paths = yield* Effect.all(
        Array.from({ length: 40 }, (_, i) => {
          const tenant = i % 2 === 0 ? "acme" : "globex"
          return as(tenant)(Effect.flatMap(SqlClient.SqlClient, (sql) =>
            Effect.map(sql<{ readonly path: string }>`SELECT current_setting('search_path') AS path`, ([row]) => [tenant, row!.path] as const)))
        }),
        { concurrency: 8 }
      )
      for (const [tenant, path] of paths) expect(path).toBe(`${config.schemaPrefix}${tenant}`)
    }).pipe(Effect.scoped), 60_000)

  it.live("Tenants.layer per request runs handlers written against EventStore unchanged", () =>
    Effect.gen(function*() {
      const config = freshConfig()
      const tenantsLayer = PgTenants.layer(config)
      const handler = (n: number) =>
        Effect.flatMap(EventStore.EventStore, (store) => store.append("Counter", "c", [{ eventType: "Ticked", data: { n } }]))
      const program = Effect.gen(function*() {
        const tenants = yield* Tenants.Tenants
        yield* tenants.create("one")
        yield* tenants.create("two")
        yield* handler(1).pipe(Effect.provide(Tenants.layer("one")))
        yield* handler(2).pipe(Effect.provide(Tenants.layer("two")))
        yield* handler(3).pipe(Tenants.provide("one"))
        const one = yield* Effect.flatMap(EventStore.EventStore, (store) => store.loadEvents("c")).pipe(Tenants.provide("one"))
        const two = yield* Effect.scoped(Effect.flatMap(Tenants.store("two"), (store) => store.loadEvents("c")))
        expect(one.map((event) => event.data)).toStrictEqual([{ n: 1 }, { n: 3 }])
        expect(two.map((event) => event.data)).toStrictEqual([{ n: 2 }])
        expect(yield* tenants.list).toStrictEqual(["one", "two"])
      })
      yield* program.pipe(Effect.provide(tenantsLayer))
    }), 60_000)

  it.live("an idle tenant is closed and opens again on its next use", () =>
    Effect.gen(function*() {
      const config = freshConfig(undefined, { idleTimeToLive: "100 millis" })
      const applicationName = `tenants-${config.schemaPrefix}`
      const tenants = yield* PgTenants.make({ ...config, applicationName })
      yield* tenants.create("sleepy")
      const append = PgTenants.provide("sleepy")(
        Effect.flatMap(EventStore.EventStore, (store) => store.append("Counter", "c", [{ eventType: "Ticked", data: {} }]))
      ).pipe(Effect.provideService(PgTenants.PgTenants, tenants))
      yield* append
      const connections = Effect.map(
        queryServer<{ readonly n: number }>(serverUrl, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [applicationName]),
        ([row]) => row!.n
      )
      expect(yield* connections).toBeGreaterThan(0)
      yield* Effect.sleep("1 second")
      expect(yield* connections).toBe(0)
      yield* append
      const events = yield* PgTenants.provide("sleepy")(Effect.flatMap(EventStore.EventStore, (store) => store.loadEvents("c"))).pipe(
        Effect.provideService(PgTenants.PgTenants, tenants)
      )
      expect(events).toHaveLength(2)
    }).pipe(Effect.scoped), 60_000)
})

