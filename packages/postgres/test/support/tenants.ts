/**
 * Tenants on the test servers: a schema prefix and a directory schema unique to each use, so test
 * files never see each other's tenants.
 */
import { PgTenants } from "@eventuali/postgres"
import { Effect, Layer } from "effect"
import Pg from "pg"
import { freshSchema, serverUrl } from "./pg.js"

/** A tenant schema prefix unique to this call (at most 15 characters). */
export const freshPrefix = (): string => `t${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}_`

/** A configuration on the given servers (default: the test run's), its directory in a fresh schema on the first. */
export const freshConfig = (
  servers: Readonly<Record<string, string>> = { main: serverUrl },
  extra: Partial<PgTenants.PgTenantsConfig> = {}
): PgTenants.PgTenantsConfig => ({
  servers,
  control: `${Object.values(servers)[0]}?schema=${freshSchema("dir")}`,
  schemaPrefix: freshPrefix(),
  ...extra
})

/** One tenant's services, the tenant created first, on tenants of their own. */
export const tenantLayer = (config: PgTenants.PgTenantsConfig, tenantId: string) =>
  Layer.scopedContext(Effect.gen(function*() {
    const tenants = yield* PgTenants.make(config)
    yield* tenants.create(tenantId)
    return yield* tenants.context(tenantId)
  }))

/** The rows of one query on its own connection to `url`, around the stores under test. */
export const queryServer = <Row extends object>(url: string, text: string, params: ReadonlyArray<unknown> = []) =>
  Effect.promise(async () => {
    const client = new Pg.Client({ connectionString: url })
    await client.connect()
    try {
      return (await client.query<Row>(text, [...params])).rows
    } finally {
      await client.end()
    }
  })

/**
 * A URL of `url`'s server as a role that is not a superuser (a superuser bypasses row-level
 * security, even forced): a new role with the right to create schemas, when `url`'s role is a
 * superuser (the embedded server's `postgres`); `url` itself otherwise (CI's own role).
 */
export const ordinaryRoleUrl = (url: string) =>
  Effect.gen(function*() {
    const [me] = yield* queryServer<{ readonly super: boolean; readonly db: string }>(
      url,
      "SELECT rolsuper AS super, current_database() AS db FROM pg_roles WHERE rolname = current_user"
    )
    if (me?.super !== true) return url
    const role = `app_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`
    yield* queryServer(url, `CREATE ROLE ${role} LOGIN PASSWORD '${role}'`)
    yield* queryServer(url, `GRANT CREATE ON DATABASE ${Pg.escapeIdentifier(me.db)} TO ${role}`)
    const parsed = new URL(url)
    parsed.username = role
    parsed.password = role
    return parsed.toString()
  })
