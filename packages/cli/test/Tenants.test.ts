/**
 * `--tenant` on the store commands and `eventuali tenants` (list, create, move), as a user runs
 * them: the built binary against the test run's PostgreSQL server (and a second one for move).
 */
import { PgTenants } from "@eventuali/postgres"
import { Tenants } from "@eventuali/core"
import { Effect } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type EmbeddedServer, startEmbedded } from "../../postgres/test/support/embedded.js"
import { describePg, freshSchema, serverUrl } from "../../postgres/test/support/pg.js"
import { queryServer } from "../../postgres/test/support/tenants.js"
import { run, sqliteUrl } from "./support/cli.js"
import { append } from "./support/seed.js"

const prefix = `c${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}_`
const env = { EVENTUALI_TENANT_PREFIX: prefix }
const tenantUrl = (tenant: string) => `${serverUrl}?schema=${prefix}${tenant}`

describePg("eventuali --tenant", () => {
  it("init creates a tenant; the other commands work on its store only, and refuse a missing or invalid tenant", async () => {
    for (const tenant of ["acme", "globex"]) {
      const created = await run(["init", "--url", serverUrl, "--tenant", tenant], { env })
      expect({ code: created.code, stderr: created.stderr }).toStrictEqual({ code: 0, stderr: "" })
    }
    await append(tenantUrl("acme"), "User", "u1", [{ eventType: "Registered", data: { tenant: "acme" } }])
    await append(tenantUrl("globex"), "User", "u1", [{ eventType: "Registered", data: { tenant: "globex" } }])
    await append(tenantUrl("globex"), "User", "u2", [{ eventType: "Registered", data: { tenant: "globex" } }])

    const acme = await run(["events", "--url", serverUrl, "--tenant", "acme", "--json"], { env })
    expect(acme.code).toBe(0)
    const events = acme.stdout.trim().split("\n").map((line) => JSON.parse(line) as { readonly data: { readonly tenant: string } })
    expect(events.map((event) => event.data.tenant)).toStrictEqual(["acme"])
    const stats = await run(["stats", "--url", serverUrl, "--tenant", "globex", "--json"], { env })
    expect(JSON.parse(stats.stdout)).toMatchObject({ events: 2, aggregates: 2 })

    const missing = await run(["stats", "--url", serverUrl, "--tenant", "ghost"], { env })
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/No tenant "ghost"/)
    const listed = await run(["tenants", "--url", serverUrl, "--json"], { env })
    expect(listed.stdout.trim().split("\n").map((line) => (JSON.parse(line) as { readonly tenantId: string }).tenantId)).toStrictEqual([
      "acme",
      "globex"
    ])

    for (const crafted of ["Acme", "acme; DROP SCHEMA public", "a\"b", "../acme", "x".repeat(49)]) {
      const result = await run(["events", "--url", serverUrl, "--tenant", crafted], { env })
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(/Invalid tenant id/)
    }
    const withSchema = await run(["events", "--url", `${serverUrl}?schema=${freshSchema()}`, "--tenant", "acme"], { env })
    expect(withSchema.code).toBe(1)
    expect(withSchema.stderr).toMatch(/without \?schema=/)
    const sqlite = await run(["events", "--url", sqliteUrl("x"), "--tenant", "acme"], { env })
    expect(sqlite.code).toBe(1)
    expect(sqlite.stderr).toMatch(/--tenant needs a PostgreSQL server/)
  }, 60_000)
})

describePg("eventuali --tenant, conjoined", () => {
  it("with EVENTUALI_TENANT_STRATEGY=conjoined, init creates conjoined tenants; the store commands see each tenant's rows only", async () => {
    const conjoinedPrefix = `k${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}_`
    const shared = freshSchema("shared")
    const conjoinedEnv = { EVENTUALI_TENANT_PREFIX: conjoinedPrefix, EVENTUALI_TENANT_STRATEGY: "conjoined", EVENTUALI_TENANT_SHARED_SCHEMA: shared }
    for (const tenant of ["acme", "globex"]) {
      const created = await run(["init", "--url", serverUrl, "--tenant", tenant], { env: conjoinedEnv })
      expect({ code: created.code, stderr: created.stderr }).toStrictEqual({ code: 0, stderr: "" })
    }
    // Written through the library, as the application does.
    const config = { servers: { main: serverUrl }, directory: "schemas" as const, schemaPrefix: conjoinedPrefix, strategy: "conjoined" as const, conjoinedSchema: shared }
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const tenants = yield* PgTenants.make(config)
      for (const [tenant, users] of [["acme", ["u1"]], ["globex", ["u1", "u2"]]] as const) {
        const store = yield* Tenants.store(tenant).pipe(Effect.provideService(Tenants.Tenants, tenants))
        for (const user of users) yield* store.append("User", user, [{ eventType: "Registered", data: { tenant } }])
      }
    })))
    const [kind] = await Effect.runPromise(queryServer(serverUrl, `SELECT c.relkind::text AS kind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = '${conjoinedPrefix}acme' AND c.relname = 'eventuali_events'`))
    expect(kind).toStrictEqual({ kind: "v" })
    // The store commands need no strategy to open an existing tenant.
    const acme = await run(["events", "--url", serverUrl, "--tenant", "acme", "--json"], { env: { EVENTUALI_TENANT_PREFIX: conjoinedPrefix } })
    expect(acme.code).toBe(0)
    const events = acme.stdout.trim().split("\n").map((line) => JSON.parse(line) as { readonly data: { readonly tenant: string } })
    expect(events.map((event) => event.data.tenant)).toStrictEqual(["acme"])
    const stats = await run(["stats", "--url", serverUrl, "--tenant", "globex", "--json"], { env: conjoinedEnv })
    expect(JSON.parse(stats.stdout)).toMatchObject({ events: 2, aggregates: 2 })
    const bad = await run(["init", "--url", serverUrl, "--tenant", "initech"], { env: { ...conjoinedEnv, EVENTUALI_TENANT_STRATEGY: "rows" } })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/EVENTUALI_TENANT_STRATEGY must be schema or conjoined/)
  }, 60_000)
})

describePg("eventuali tenants on two servers", () => {
  let second: EmbeddedServer
  beforeAll(async () => {
    second = await startEmbedded()
  }, 60_000)
  afterAll(async () => {
    await second?.dispose()
  })

  it("create places tenants over the servers; move copies one to the other server and reports the pause", async () => {
    const control = `${serverUrl}?schema=${freshSchema("dir")}`
    const deployment = ["--server", `one=${serverUrl}`, "--server", `two=${second.url}`, "--control", control]
    for (const tenant of ["alpha", "beta"]) {
      const created = await run(["tenants", "create", tenant, ...deployment], { env })
      expect(created.code).toBe(0)
    }
    const listed = await run(["tenants", ...deployment, "--json"], { env })
    const placed = listed.stdout.trim().split("\n").map((line) => JSON.parse(line) as { readonly tenantId: string; readonly server: string })
    expect(placed).toStrictEqual([{ tenantId: "alpha", server: "one" }, { tenantId: "beta", server: "two" }])

    await append(tenantUrl("alpha"), "Counter", "c", [{ eventType: "Ticked", data: { n: 1 } }, { eventType: "Ticked", data: { n: 2 } }])
    const moved = await run(["tenants", "move", "alpha", "--to", "two", ...deployment, "--json"], { env })
    expect(moved.code).toBe(0)
    expect(JSON.parse(moved.stdout)).toMatchObject({ tenant: "alpha", from: "one", to: "two", events: 2, checkpoints: 0 })
    expect((JSON.parse(moved.stdout) as { readonly pauseMs: number }).pauseMs).toBeGreaterThan(0)
    const after = await run(["events", "--url", second.url, "--tenant", "alpha", "--json"], { env })
    expect(after.stdout.trim().split("\n")).toHaveLength(2)

    const again = await run(["tenants", "move", "alpha", "--to", "two", ...deployment], { env })
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/already/)
    const badServer = await run(["tenants", "create", "gamma", "--server", "=nope", ...deployment], { env })
    expect(badServer.code).toBe(1)
  }, 120_000)
})

it("tenants refuses a URL that is not PostgreSQL's, naming the option (tenants live on PostgreSQL only)", async () => {
  for (
    const [args, option] of [
      [["tenants", "create", "acme", "--url", "sqlite://tenants.db"], "--url"],
      [["tenants", "--url", "memory://"], "--url"],
      [["tenants", "--server", "one=sqlite://one.db"], "--server one"],
      [["tenants", "--server", "one=postgresql://u:s3cret@127.0.0.1:1/db", "--control", "sqlite://control.db"], "--control"]
    ] as const
  ) {
    const result = await run(args)
    expect(result.code, args.join(" ")).toBe(1)
    expect(result.stderr, args.join(" ")).toMatch(new RegExp(`^Error: ${option} needs a PostgreSQL server \\(postgresql://…\\), not [a-z]+://`))
  }
})
