/**
 * The whole conformance suite, and the read-model suite, through a tenant's store (a schema per
 * tenant on a pool shared with other tenants): a tenant-scoped store is a store like any other.
 */
import { EventStoreConformance, SqlInjection, SqlReadModelConformance } from "@eventuali/testing/vitest"
import { describePg, serverUrl } from "./support/pg.js"
import { freshConfig, tenantLayer } from "./support/tenants.js"

describePg("PostgreSQL tenants", () => {
  const config = serverUrl === "" ? { servers: {} } : freshConfig()
  EventStoreConformance.run("PgTenants (schema per tenant)", tenantLayer(config, "conformance"))
  SqlReadModelConformance.run("PgTenants read models", tenantLayer(config, "read_models"))
  SqlInjection.run("PgTenants", () => {
    const injection = freshConfig()
    const schema = `${injection.schemaPrefix}inject`
    return {
      layer: tenantLayer(injection, "inject"),
      events: `"${schema}".eventuali_events`,
      canary: `"${schema}".eventuali_canary`
    }
  })
})
