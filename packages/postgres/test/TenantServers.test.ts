/**
 * Tenants spread over two PostgreSQL servers (the test run's and one started here): 50 tenants
 * placed by the directory, concurrent writers on all of them, every tenant's log complete and
 * only its own, every tenant's projection seeing only its tenant; one pool per server.
 */
import { expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { EventStore, Projection } from "@eventuali/core"
import { PgTenants, TenantDirectory } from "@eventuali/postgres"
import { Effect } from "effect"
import { startEmbedded } from "./support/embedded.js"
import { describePg, serverUrl } from "./support/pg.js"
import { freshConfig, queryServer } from "./support/tenants.js"

const secondServer = Effect.acquireRelease(Effect.promise(() => startEmbedded()), (server) => Effect.promise(() => server.dispose()))

/** Connections to `url` whose application name is `name`. */
const connectionsOf = (url: string, name: string) =>
  Effect.map(
    queryServer<{ readonly n: number }>(url, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [name]),
    ([row]) => row!.n
  )

/**
 * The 50 tenants share one pool per server, and each tenant's projection stops when its scope
 * closes, interrupting its statements: their cancels reach them before the connections go back to
 * the pool (`internal/cancel.ts`), never another tenant's statement. So nothing here runs again
 * after a 57014 (it once failed CI twice, with the cancel sent through the busy pool).
 */
describePg("PostgreSQL tenants on two servers", () => {
  it.live("50 tenants placed over two servers, written concurrently: each log complete and only its own, projections per tenant", () =>
    Effect.gen(function*() {
      const second = yield* secondServer
      const applicationName = `servers-${crypto.randomUUID().slice(0, 8)}`
      const config = freshConfig({ one: serverUrl, two: second.url }, { applicationName, maxConnections: 6 })
      const tenants = yield* PgTenants.make(config)
      const ids = Array.from({ length: 50 }, (_, i) => `tenant${i}`)
      yield* Effect.forEach(ids, tenants.create, { concurrency: 5, discard: true })

      // Least-loaded placement keeps the servers even (within the 5 creations that race).
      const placed = yield* Effect.forEach(ids, tenants.serverOf)
      const onOne = placed.filter((server) => server === "one").length
      expect(onOne).toBeGreaterThanOrEqual(20)
      expect(onOne).toBeLessThanOrEqual(30)

      // 4 writers per tenant, 10 saves each, all tenants at once; the same aggregate ids everywhere.
      const writersPerTenant = 4
      const savesPerWriter = 10
      yield* Effect.forEach(
        ids.flatMap((tenant) => Array.from({ length: writersPerTenant }, (_, writer) => [tenant, writer] as const)),
        ([tenant, writer]) =>
          PgTenants.provide(tenant)(Effect.flatMap(EventStore.EventStore, (store) =>
            Effect.forEach(
              Array.from({ length: savesPerWriter }, (_, n) => n),
              (n) => store.append("Counter", `writer-${writer}`, [{ eventType: "Ticked", data: { tenant, writer, n } }]),
              { discard: true }
            ))),
        { concurrency: 40, discard: true }
      ).pipe(Effect.provideService(PgTenants.PgTenants, tenants))

      for (const tenant of ids) {
        const events = yield* PgTenants.provide(tenant)(
          Effect.flatMap(EventStore.EventStore, (store) => store.readEvents({ fromPosition: 0n, limit: 1000 }))
        ).pipe(Effect.provideService(PgTenants.PgTenants, tenants))
        expect(events).toHaveLength(writersPerTenant * savesPerWriter)
        const data = events.map((event) => event.data as { readonly tenant: string; readonly writer: number; readonly n: number })
        expect(data.every((entry) => entry.tenant === tenant)).toBe(true)
        for (let writer = 0; writer < writersPerTenant; writer++) {
          expect(data.filter((entry) => entry.writer === writer).map((entry) => entry.n)).toStrictEqual(
            Array.from({ length: savesPerWriter }, (_, n) => n)
          )
        }
      }

      // One projection per tenant, same name everywhere, its read model in the tenant's schema.
      yield* Effect.forEach(
        ids,
        (tenant) =>
          PgTenants.provide(tenant)(Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            yield* sql`CREATE TABLE seen (event_id text PRIMARY KEY, tenant text NOT NULL)`
            const running = yield* Projection.run(Projection.make({
              name: "seen",
              handle: (event) =>
                Effect.flatMap(SqlClient.SqlClient, (sql) =>
                  sql`INSERT INTO seen VALUES (${event.eventId}, ${(event.data as { readonly tenant: string }).tenant})`)
            }))
            yield* running.whenCaughtUp
            const rows = yield* sql<{ readonly tenant: string; readonly n: number }>`SELECT tenant, count(*)::int AS n FROM seen GROUP BY tenant`
            expect(rows).toStrictEqual([{ tenant, n: writersPerTenant * savesPerWriter }])
          }).pipe(Effect.scoped)),
        { concurrency: 10, discard: true }
      ).pipe(Effect.provideService(PgTenants.PgTenants, tenants))

      // One pool per server, whatever the number of tenants: never more connections than its size.
      expect(yield* connectionsOf(serverUrl, applicationName)).toBeLessThanOrEqual(6)
      expect(yield* connectionsOf(second.url, applicationName)).toBeLessThanOrEqual(6)
      expect(yield* connectionsOf(second.url, applicationName)).toBeGreaterThan(0)
    }).pipe(Effect.scoped), 180_000)

  it.live("hash placement is stable and a fixed directory refuses tenants it does not list", () =>
    Effect.gen(function*() {
      const servers = [{ name: "a", tenants: 0 }, { name: "b", tenants: 100 }, { name: "c", tenants: 3 }]
      const chosen = Array.from({ length: 300 }, (_, i) => TenantDirectory.hash(`t${i}`, servers))
      expect(Array.from({ length: 300 }, (_, i) => TenantDirectory.hash(`t${i}`, servers))).toStrictEqual(chosen)
      for (const name of ["a", "b", "c"]) expect(chosen.filter((server) => server === name).length).toBeGreaterThan(60)
      expect(TenantDirectory.leastLoaded("x", servers)).toBe("a")

      const config = freshConfig({ main: serverUrl }, { directory: TenantDirectory.fixed({ listed: "main" }) })
      const tenants = yield* PgTenants.make(config)
      yield* tenants.create("listed")
      expect(yield* tenants.list).toStrictEqual(["listed"])
      const refused = yield* Effect.flip(tenants.create("unlisted"))
      expect(refused._tag).toBe("DatabaseError")
    }).pipe(Effect.scoped), 60_000)
})
