/**
 * @since 0.1.0
 */

/** The event store on PostgreSQL. @since 0.1.0 */
export * as PgEventStore from "./PgEventStore.js"

/** Tenants on PostgreSQL: a schema per tenant, tenants spread over several servers. @since 0.1.0 */
export * as PgTenants from "./PgTenants.js"

/** Which server holds each tenant, and where a new tenant goes. @since 0.1.0 */
export * as TenantDirectory from "./TenantDirectory.js"
