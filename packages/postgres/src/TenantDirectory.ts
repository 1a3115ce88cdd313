/**
 * Where each tenant lives when tenants are spread over several PostgreSQL servers: a directory
 * maps a tenant to the name of its server, and a placement policy chooses the server of a new
 * tenant. The directory is a table on a control database (`eventuali_tenants`), or a fixed map
 * from configuration.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { DatabaseError } from "@eventuali/core/Errors"
import * as SqlErrors from "@eventuali/sql/SqlErrors"
import { Effect, Option } from "effect"

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * A tenant and the server it lives on.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly tenantId: string
  readonly server: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TenantDirectory {
  /** The server of a tenant, if it has one. */
  readonly lookup: (tenantId: string) => Effect.Effect<Option.Option<string>, DatabaseError>
  /**
   * Places a tenant on `server` unless it has a server already; returns the tenant's server
   * (the existing one, when two processes place the same tenant at once).
   */
  readonly place: (tenantId: string, server: string) => Effect.Effect<string, DatabaseError>
  /** Moves a placed tenant to another server (`PgTenants.move` does the copying first). */
  readonly move: (tenantId: string, server: string) => Effect.Effect<void, DatabaseError>
  /** Every tenant, by id. */
  readonly list: Effect.Effect<ReadonlyArray<Entry>, DatabaseError>
}

/**
 * A directory fixed by configuration (`{ acme: "eu1", globex: "us1" }`): nothing can be placed
 * or moved, placing a tenant it does not list fails.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fixed = (servers: Readonly<Record<string, string>>): TenantDirectory => {
  const entries = Object.entries(servers).map(([tenantId, server]) => ({ tenantId, server }))
    .sort((a, b) => a.tenantId < b.tenantId ? -1 : a.tenantId > b.tenantId ? 1 : 0)
  const lookup = (tenantId: string) => Option.fromNullable(Object.hasOwn(servers, tenantId) ? servers[tenantId] : undefined)
  const refuse = (tenantId: string, what: string) =>
    Effect.fail(new DatabaseError({ message: `Cannot ${what} tenant ${JSON.stringify(tenantId)}: the tenant directory is fixed by configuration` }))
  return {
    lookup: (tenantId) => Effect.succeed(lookup(tenantId)),
    place: (tenantId) => Option.match(lookup(tenantId), { onNone: () => refuse(tenantId, "place"), onSome: Effect.succeed }),
    move: (tenantId) => refuse(tenantId, "move"),
    list: Effect.succeed(entries)
  }
}

/**
 * The directory's table (`eventuali_tenants`, in `schema` if given — created if missing — or
 * else in the client's search path) on the current `SqlClient`: the control database every
 * process of the deployment shares.
 *
 * @since 0.1.0
 * @category constructors
 */
export const table = (
  options: { readonly schema?: string | undefined } = {}
): Effect.Effect<TenantDirectory, DatabaseError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const error = SqlErrors.toDatabaseError("The tenant directory")
    const { schema } = options
    if (schema !== undefined && !SCHEMA_NAME.test(schema)) {
      return yield* new DatabaseError({ message: `Invalid schema name ${JSON.stringify(schema)} for the tenant directory` })
    }
    const tenants = sql(schema === undefined ? "eventuali_tenants" : `${schema}.eventuali_tenants`)
    if (schema !== undefined) yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`.pipe(Effect.mapError(error))
    yield* sql`CREATE TABLE IF NOT EXISTS ${tenants} (
      tenant_id text PRIMARY KEY,
      server text NOT NULL,
      placed_at timestamptz NOT NULL DEFAULT now()
    )`.pipe(Effect.mapError(error))
    const lookup = (tenantId: string) =>
      sql<{ readonly server: string }>`SELECT server FROM ${tenants} WHERE tenant_id = ${tenantId}`.pipe(
        Effect.map(([row]) => Option.map(Option.fromNullable(row), (found) => found.server))
      )
    const directory: TenantDirectory = {
      lookup: (tenantId) => Effect.mapError(lookup(tenantId), error),
      place: (tenantId, server) =>
        sql`INSERT INTO ${tenants} (tenant_id, server) VALUES (${tenantId}, ${server}) ON CONFLICT (tenant_id) DO NOTHING`.pipe(
          Effect.zipRight(lookup(tenantId)),
          Effect.map(Option.getOrElse(() => server)),
          Effect.mapError(error)
        ),
      move: (tenantId, server) =>
        Effect.asVoid(sql`UPDATE ${tenants} SET server = ${server} WHERE tenant_id = ${tenantId}`).pipe(Effect.mapError(error)),
      list: sql<{ readonly tenant_id: string; readonly server: string }>`SELECT tenant_id, server FROM ${tenants} ORDER BY tenant_id`
        .pipe(
          Effect.map((rows) => rows.map((row) => ({ tenantId: row.tenant_id, server: row.server }))),
          Effect.mapError(error)
        )
    }
    return directory
  })

/**
 * The directory of a single server without a table: its tenants are the schemas named with the
 * prefix (`tenant_acme` is tenant `acme`), on the current `SqlClient`, all on `server`. Placing a
 * tenant creates its schema; moving is refused.
 *
 * @since 0.1.0
 * @category constructors
 */
export const schemas = (
  options: { readonly prefix: string; readonly server: string }
): Effect.Effect<TenantDirectory, never, SqlClient.SqlClient> =>
  Effect.map(SqlClient.SqlClient, (sql) => {
    const error = SqlErrors.toDatabaseError("The tenant directory")
    const tenantSchemas = sql<{ readonly nspname: string }>`SELECT nspname FROM pg_namespace
      WHERE starts_with(nspname, ${options.prefix}) ORDER BY nspname`
    const list = tenantSchemas.pipe(
      Effect.map((rows) => rows.map((row) => ({ tenantId: row.nspname.slice(options.prefix.length), server: options.server }))),
      Effect.mapError(error)
    )
    return {
      lookup: (tenantId) =>
        sql<{ readonly found: number }>`SELECT 1 AS found FROM pg_namespace WHERE nspname = ${options.prefix + tenantId}`.pipe(
          Effect.map((rows) => rows.length > 0 ? Option.some(options.server) : Option.none()),
          Effect.mapError(error)
        ),
      // The schema is the record: creating it places the tenant (opening it then migrates it).
      place: (tenantId) =>
        sql`CREATE SCHEMA IF NOT EXISTS ${sql(options.prefix + tenantId)}`.pipe(Effect.as(options.server), Effect.mapError(error)),
      move: (tenantId) =>
        Effect.fail(new DatabaseError({ message: `Cannot move tenant ${JSON.stringify(tenantId)}: its directory is the schemas of one server` })),
      list
    }
  })

/**
 * Chooses the server of a new tenant, given every server's name and how many tenants it holds
 * (servers in the order of the configuration).
 *
 * @since 0.1.0
 * @category placement
 */
export type Placement = (
  tenantId: string,
  servers: ReadonlyArray<{ readonly name: string; readonly tenants: number }>
) => string

const utf8 = new TextEncoder()

/** FNV-1a, 32 bits: stable across processes and versions, unlike anything seeded. */
const fnv1a32 = (value: string): number => {
  let hash = 0x811c9dc5
  for (const byte of utf8.encode(value)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0
  return hash
}

/**
 * A hash of the tenant id picks the server: every process places a tenant on the same server
 * without asking anyone, and servers fill evenly over many tenants (adding a server changes the
 * choice for new tenants only: placed tenants stay where the directory says).
 *
 * @since 0.1.0
 * @category placement
 */
export const hash: Placement = (tenantId, servers) => servers[fnv1a32(tenantId) % servers.length]!.name

/**
 * The server holding the fewest tenants (the first of them on a tie): fills a newly added server
 * first.
 *
 * @since 0.1.0
 * @category placement
 */
export const leastLoaded: Placement = (_tenantId, servers) =>
  servers.reduce((best, server) => server.tenants < best.tenants ? server : best).name
