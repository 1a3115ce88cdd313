/**
 * The whole conformance suite, the read-model suite, SQL injection and personal data, through a
 * conjoined tenant's store: one set of tables shared by the tenants (here with row-level security
 * on, the second wall), seen through the tenant's views, with other tenants' rows in the same
 * tables. A conjoined tenant's store is a store like any other.
 */
import { EventStoreConformance, PrivacyConformance, SqlInjection, SqlReadModelConformance } from "@eventuali/testing/vitest"
import { PgTenants } from "@eventuali/postgres"
import { Effect, Layer } from "effect"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"
import { freshConfig, ordinaryRoleUrl } from "./support/tenants.js"

/** Row-level security binds only a role that is not a superuser: the tenants connect as one. */
const appUrl = serverUrl === "" ? "" : await Effect.runPromise(ordinaryRoleUrl(serverUrl))

/** A tenant's services, among neighbours: another tenant of the same shared tables writes first. */
const conjoinedTenant = (config: PgTenants.PgTenantsConfig, tenantId: string) =>
  Layer.scopedContext(Effect.gen(function*() {
    const tenants = yield* PgTenants.make(config)
    yield* tenants.create("neighbour")
    yield* tenants.create(tenantId)
    return yield* tenants.context(tenantId)
  }))

describePg("PostgreSQL conjoined tenants", () => {
  const conjoined = (rowLevelSecurity: boolean) =>
    serverUrl === ""
      ? { servers: {} }
      : freshConfig({ main: appUrl }, { strategy: "conjoined", conjoinedSchema: freshSchema("shared"), rowLevelSecurity })
  EventStoreConformance.run("PgTenants (conjoined, row-level security)", conjoinedTenant(conjoined(true), "conformance"))
  EventStoreConformance.run("PgTenants (conjoined, views only)", conjoinedTenant(conjoined(false), "conformance"))
  SqlReadModelConformance.run("PgTenants conjoined read models", conjoinedTenant(conjoined(true), "read_models"))
  PrivacyConformance.run("PgTenants conjoined", conjoinedTenant(conjoined(true), "privacy"))
  SqlInjection.run("PgTenants conjoined", () => {
    const injection = conjoined(true) as PgTenants.PgTenantsConfig
    const schema = `${injection.schemaPrefix}inject`
    return {
      layer: conjoinedTenant(injection, "inject"),
      events: `"${schema}".eventuali_events`,
      canary: `"${schema}".eventuali_canary`
    }
  })
})
