/**
 * Tenants on PostgreSQL, a schema per tenant: tenant `acme`'s events, snapshots, checkpoints and
 * read models live in schema `tenant_acme`, on one of several servers. A directory (a table on a
 * control database, `TenantDirectory`) says which server holds a tenant, and a placement policy
 * chooses the server of a new one.
 *
 * Each server has one connection pool and one listening connection, shared by all its tenants,
 * opened when its first tenant is used and closed when none has been used for the idle time. A
 * tenant's store is opened on first use, shared while in use and closed when idle (`Tenants`).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { DatabaseError, type EventStoreError } from "@eventuali/core/Errors"
import * as Tenants from "@eventuali/core/Tenants"
import type * as Privacy from "@eventuali/core/Privacy"
import * as Migrations from "@eventuali/sql/Migrations"
import * as SqlErrors from "@eventuali/sql/SqlErrors"
import * as SqlEventStore from "@eventuali/sql/SqlEventStore"
import * as Tables from "@eventuali/sql/Tables"
import { Context, Duration, Effect, Either, Layer, Option, RcMap, Redacted, type Scope } from "effect"
import * as Backend from "./internal/backend.js"
import * as Conjoined from "./internal/conjoined.js"
import * as Connect from "./internal/connect.js"
import * as Listen from "./internal/listen.js"
import * as Move from "./internal/move.js"
import * as Notifier from "./internal/notifier.js"
import * as Replicas from "./internal/replicas.js"
import { SchemaPool } from "./internal/schemaPool.js"
import * as Statements from "./internal/statements.js"
import { parseUrl, redact } from "./PgEventStore.js"
import * as TenantDirectory from "./TenantDirectory.js"

/**
 * - `servers`: the PostgreSQL servers, by name (`{ eu1: "postgresql://…", eu2: "postgresql://…" }`);
 *   a name is what the directory records, so keep it when a server's URL changes. The URLs take
 *   no `?schema=`: each tenant has its own.
 * - `directory`: where tenants' servers are recorded (default: the `eventuali_tenants` table on
 *   `control`; `TenantDirectory.fixed` for a map in configuration; `"schemas"` for one server
 *   without a table: its tenants are the schemas with the prefix, `TenantDirectory.schemas`).
 * - `control`: the database of the directory table (default: the first server's URL); a
 *   `?schema=NAME` puts the table in that schema.
 * - `placement`: how a new tenant's server is chosen (default `TenantDirectory.leastLoaded`).
 * - `schemaPrefix`: a tenant's schema is the prefix and its id (default `tenant_`; lowercase
 *   letters, digits and `_`, at most 15 characters).
 * - `strategy`: where a new tenant's events live: `"schema"` (default), tables of its own in its
 *   schema; `"conjoined"`, rows in one set of tables shared by the tenants, with a tenant column
 *   leading every key, seen through views in its schema (see `internal/conjoined.ts`). A tenant
 *   is opened as it was created, whichever strategy is configured.
 * - `conjoinedSchema`: the schema of the shared tables (default `eventuali_conjoined`).
 * - `rowLevelSecurity` (conjoined): PostgreSQL row-level security on the shared tables as a
 *   second wall behind the views: each connection carries its tenant and sees only its rows.
 *   Default `false`.
 * - `idleTimeToLive`: how long a tenant's store, and a server's pool, stay open unused
 *   (default 5 minutes).
 * - `replicas`: streaming replicas of servers, by server name (`{ eu1: [url, …] }`, URLs without
 *   `?schema=`): the tenants of such a server read on them as a `PgEventStore` with `replicas`
 *   does (one set of replica pools per server, shared by its tenants), except conjoined tenants
 *   behind row-level security, which read on the primary. Default: none.
 * - `maxConnections` (per server), `connectTimeout`, `connectionWaitTimeout`, `applicationName`,
 *   `pollInterval`, `readFrom`, `replicaWaitTimeout`: as for `PgEventStore`.
 *
 * @since 0.1.0
 * @category models
 */
export interface PgTenantsConfig extends Replicas.Settings {
  readonly servers: Readonly<Record<string, string | Redacted.Redacted<string>>>
  readonly replicas?: Readonly<Record<string, ReadonlyArray<string | Redacted.Redacted<string>>>> | undefined
  readonly directory?: TenantDirectory.TenantDirectory | "schemas" | undefined
  readonly control?: string | Redacted.Redacted<string> | undefined
  readonly placement?: TenantDirectory.Placement | undefined
  readonly schemaPrefix?: string | undefined
  readonly strategy?: "schema" | "conjoined" | undefined
  readonly conjoinedSchema?: string | undefined
  readonly rowLevelSecurity?: boolean | undefined
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * What a tenant's code gets on PostgreSQL beside its stores: its `SqlClient` (and `PgClient`),
 * whose unqualified table names are the tenant schema's, for read models, and its `Privacy`
 * (its subjects' keys are in its schema: `Privacy.forget` forgets a subject of this tenant).
 *
 * @since 0.1.0
 * @category models
 */
export type Sql = SqlClient.SqlClient | PgClient.PgClient | Privacy.Privacy

/**
 * @since 0.1.0
 * @category models
 */
export interface Service extends Tenants.Service<Sql> {
  /** The server a tenant lives on. */
  readonly serverOf: (tenantId: string) => Effect.Effect<string, Tenants.TenantError>
  /** The schema of a tenant's tables. */
  readonly schemaOf: (tenantId: string) => Either.Either<string, EventStoreError>
  /** The configured servers' names. */
  readonly servers: ReadonlyArray<string>
  /**
   * Moves a tenant to another configured server while it is being written: copies its log, then
   * pauses its writes only to copy the rest, verify, switch the directory and close the old copy
   * to writes (see {@link MoveOptions}, {@link Moved}).
   */
  readonly move: (tenantId: string, server: string, options?: MoveOptions) => Effect.Effect<Moved, Tenants.TenantError>
}

/**
 * - `checkpoints`: `"drop"` (default) removes the tenant's projection checkpoints on the new
 *   server, so projections rebuild their read models there (the tenant's own tables are not
 *   copied); `"rebase"` maps each to the new server's positions, for read models copied by other
 *   means (e.g. `pg_dump --schema`) before the move.
 * - `batchSize`: events per copied batch (default 1000).
 *
 * @since 0.1.0
 * @category models
 */
export interface MoveOptions {
  readonly checkpoints?: "rebase" | "drop" | undefined
  readonly batchSize?: number | undefined
}

/**
 * What a move did: events, snapshots and checkpoints copied, and `pause`, how long the tenant's
 * writes waited (the old server's lock on the tenant's events, from taken to released).
 *
 * @since 0.1.0
 * @category models
 */
export type Moved = Move.Moved

/**
 * The service tag (the same service is also provided as `Tenants.Tenants`).
 *
 * @since 0.1.0
 * @category tags
 */
export class PgTenants extends Context.Tag("eventuali/PgTenants")<PgTenants, Service>() {}

const PREFIX = /^[a-z_][a-z0-9_]{0,14}$/

const SHARED_SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/

/** How a tenant's schema holds its store: tables, views of the shared tables, or nothing yet. */
const kindOf = (client: SqlClient.SqlClient, schema: string) =>
  Effect.map(
    client<{ readonly kind: string }>`SELECT c.relkind::text AS kind FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${schema} AND c.relname = ${Tables.names.events}`,
    ([row]) => row === undefined ? "none" as const : row.kind === "v" ? "conjoined" as const : "schema" as const
  )

const invalid = (message: string) => Effect.fail(new DatabaseError({ message }))

const urlOf = Connect.textOf

/** The servers' URLs, checked: at least one, none with a `?schema=`. */
const serversOf = (config: PgTenantsConfig) =>
  Effect.gen(function*() {
    const servers = new Map<string, string>()
    for (const [name, url] of Object.entries(config.servers)) {
      const parsed = parseUrl(urlOf(url))
      if (parsed.schema !== undefined) {
        return yield* invalid(`Server ${JSON.stringify(name)} (${redact(parsed.url)}): a tenant server's URL takes no ?schema= (each tenant has its own schema)`)
      }
      servers.set(name, parsed.url)
    }
    if (servers.size === 0) return yield* invalid("PgTenants: no servers configured")
    return servers
  })

/**
 * Opens the tenants of the configured servers, for as long as the scope lives.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (config: PgTenantsConfig): Effect.Effect<Service, DatabaseError, Scope.Scope> =>
  Effect.gen(function*() {
    const prefix = config.schemaPrefix ?? "tenant_"
    if (!PREFIX.test(prefix)) {
      return yield* invalid(
        `Invalid tenant schema prefix ${JSON.stringify(prefix)}: use at most 15 lowercase letters, digits and _, not starting with a digit`
      )
    }
    const strategy = config.strategy ?? "schema"
    const sharedSchema = config.conjoinedSchema ?? "eventuali_conjoined"
    if (!SHARED_SCHEMA.test(sharedSchema) || sharedSchema.startsWith(prefix)) {
      return yield* invalid(
        `Invalid conjoinedSchema ${JSON.stringify(sharedSchema)}: use lowercase letters, digits and _, not starting with a digit or with the tenant schema prefix`
      )
    }
    if (config.rowLevelSecurity === true && strategy !== "conjoined") {
      return yield* invalid("PgTenants: rowLevelSecurity needs strategy \"conjoined\"")
    }
    yield* Replicas.checkSettings(config)
    yield* SqlEventStore.checkOptions({ pollInterval: config.pollInterval })
    yield* Connect.checkDuration("idleTimeToLive", config.idleTimeToLive, { infinite: true })
    const servers = yield* serversOf(config)
    const names = Array.from(servers.keys())
    const unknownReplicated = Object.keys(config.replicas ?? {}).filter((name) => !servers.has(name))
    if (unknownReplicated.length > 0) {
      return yield* invalid(`PgTenants: replicas of servers that are not configured: ${unknownReplicated.map((name) => JSON.stringify(name)).join(", ")}`)
    }
    const idleTimeToLive = config.idleTimeToLive ?? Duration.minutes(5)
    const directory = config.directory === "schemas"
      ? yield* schemasDirectory(config, names, servers, prefix)
      : config.directory ?? (yield* controlDirectory(config, servers.get(names[0]!)!))
    const placement = config.placement ?? TenantDirectory.leastLoaded

    /** A server's pool, client and listening connection, shared by its open tenants. */
    const open = yield* RcMap.make({
      lookup: (name: string) =>
        Effect.gen(function*() {
          const url = servers.get(name)!
          const server = yield* Connect.connect(Connect.options(url, config))
          const listener = yield* Listen.make(url)
          // One notification statement per interval for all the server's tenants (`notifier.ts`).
          const sender = yield* Notifier.sender(Statements.make(server.client, server.pool, { prepared: config.preparedStatements ?? true }))
          const replicas = yield* Replicas.open(server.client, server.pool, (config.replicas?.[name] ?? []).map(urlOf), config)
          yield* Effect.addFinalizer(() =>
            Effect.sync(() => {
              server.pool.refuseWaiters()
              replicas?.refuseWaiters()
            })
          )
          if (strategy === "conjoined") {
            // The shared tables, once per server and process (idempotent, behind the migration lock).
            yield* Migrations.run({ schema: sharedSchema, migrations: Conjoined.shared }).pipe(Effect.provideService(SqlClient.SqlClient, server.client))
            yield* server.client.withTransaction(Effect.forEach(
              Conjoined.rowLevelSecurity(sharedSchema, config.rowLevelSecurity === true),
              (statement) => server.client.unsafe(statement),
              { discard: true }
            )).pipe(Effect.mapError((error) => new DatabaseError({ message: `Setting row-level security: ${error.message}` })))
          }
          return { ...server, listener, replicas, sender }
        }),
      idleTimeToLive
    })

    const schemaOf = (tenantId: string) => Either.map(Tenants.validateId(tenantId), (id) => `${prefix}${id}`)

    const serverOf = (tenantId: string) =>
      Effect.gen(function*() {
        const id = yield* Tenants.validateId(tenantId)
        const server = yield* directory.lookup(id)
        if (Option.isNone(server)) return yield* Tenants.notFound(id)
        if (!servers.has(server.value)) {
          return yield* invalid(`Tenant ${JSON.stringify(id)} is on server ${JSON.stringify(server.value)}, which is not configured`)
        }
        return server.value
      })

    const openTenant = (tenantId: string) =>
      Effect.gen(function*() {
        const server = yield* RcMap.get(open, yield* serverOf(tenantId))
        const schema = `${prefix}${tenantId}`
        const kind = yield* kindOf(server.client, schema).pipe(Effect.mapError(SqlErrors.toDatabaseError("Opening a tenant")))
        const conjoined = kind === "none" ? strategy === "conjoined" : kind === "conjoined"
        if (conjoined && strategy === "conjoined") {
          yield* Migrations.run({ schema, migrations: Conjoined.views(sharedSchema, tenantId) }).pipe(
            Effect.provideService(SqlClient.SqlClient, server.client)
          )
        }
        const pool = new SchemaPool(server.pool, schema, conjoined ? tenantId : undefined)
        const client = yield* Connect.clientOf(pool)
        const channel = Tables.channel(schema)
        const notifications = Listen.wakeUps(server.listener, channel)
        // The store's statements name the schema: they run on the server's client as they are,
        // but behind row-level security, where a connection must carry its tenant.
        const walled = conjoined && config.rowLevelSecurity === true
        const backend = yield* Backend.make(walled ? client : server.client, walled ? pool : server.pool, {
          schema,
          channel,
          notifications,
          preparedStatements: config.preparedStatements ?? true,
          conjoined,
          sender: server.sender,
          // A replica's connections do not carry the tenant row-level security asks for.
          replicas: walled ? undefined : server.replicas
        })
        const opened = yield* SqlEventStore.open(client, backend, {
          schema,
          pollInterval: config.pollInterval,
          // A conjoined tenant's views were migrated above (or by the deployment that created it).
          migrate: !conjoined,
          conjoined
        })
        return Context.add(SqlEventStore.context(opened), PgClient.PgClient, client)
      })

    const create = (tenantId: string) =>
      Effect.gen(function*() {
        const existing = yield* directory.lookup(tenantId)
        if (Option.isNone(existing)) {
          const counts = new Map(names.map((name) => [name, 0]))
          for (const entry of yield* directory.list) {
            const count = counts.get(entry.server)
            if (count !== undefined) counts.set(entry.server, count + 1)
          }
          const chosen = placement(tenantId, names.map((name) => ({ name, tenants: counts.get(name)! })))
          if (!servers.has(chosen)) return yield* invalid(`The placement chose server ${JSON.stringify(chosen)}, which is not configured`)
          yield* directory.place(tenantId, chosen)
        }
        // Opening migrates: the schema and its tables exist once `create` returns.
        yield* Effect.scoped(openTenant(tenantId)).pipe(
          Effect.catchTag("TenantNotFoundError", (error) => invalid(error.message)),
          Effect.catchTag("EventStoreError", (error) => invalid(error.message))
        )
      })

    const tenants = yield* Tenants.make<Sql>({
      open: openTenant,
      create,
      list: Effect.map(directory.list, (entries) => entries.map((entry) => entry.tenantId)),
      idleTimeToLive,
      // A write refused because the tenant moved (by another process): the next use opens it
      // again, on the server the directory now names.
      reopenAfter: Move.isMoved
    })
    const move = (tenantId: string, to: string, options: MoveOptions = {}) =>
      Effect.gen(function*() {
        const from = yield* serverOf(tenantId)
        const source = yield* RcMap.get(open, from)
        if ((yield* kindOf(source.client, `${prefix}${tenantId}`).pipe(Effect.orElseSucceed(() => "none" as const))) === "conjoined") {
          return yield* invalid(`Cannot move tenant ${JSON.stringify(tenantId)}: it is conjoined (moving is for a schema per tenant)`)
        }
        if (!servers.has(to)) return yield* invalid(`Cannot move tenant ${JSON.stringify(tenantId)} to server ${JSON.stringify(to)}: not configured`)
        if (from === to) return yield* invalid(`Tenant ${JSON.stringify(tenantId)} is on server ${JSON.stringify(to)} already`)
        const batchSize = options.batchSize ?? 1000
        if (!Number.isSafeInteger(batchSize) || batchSize < 1 || batchSize > 10_000) {
          return yield* invalid(`Invalid batchSize ${batchSize}: a whole number from 1 to 10,000`)
        }
        const target = yield* RcMap.get(open, to)
        const moved = yield* Move.move({
          tenantId,
          schema: `${prefix}${tenantId}`,
          source: source.client,
          target: target.client,
          checkpoints: options.checkpoints ?? "drop",
          batchSize,
          switchDirectory: directory.move(tenantId, to)
        })
        yield* tenants.evict(tenantId)
        return moved
      }).pipe(Effect.scoped)

    return {
      ...tenants,
      serverOf,
      schemaOf,
      servers: names,
      move
    }
  })

/** A small pool of its own for the directory's queries. */
const directoryClient = (config: PgTenantsConfig, url: string) =>
  Effect.map(
    Connect.connect(Connect.options(url, {
      ...config,
      maxConnections: 2,
      applicationName: `${config.applicationName ?? "eventuali"}-directory`
    })),
    (server) => server.client
  )

/** The directory table on the control database. */
const controlDirectory = (config: PgTenantsConfig, firstServer: string) =>
  Effect.gen(function*() {
    const control = config.control === undefined ? firstServer : urlOf(config.control)
    yield* Connect.checkSchemaParameter(control)
    const { schema, url } = parseUrl(control)
    const client = yield* directoryClient(config, url)
    return yield* Effect.provideService(TenantDirectory.table({ schema }), SqlClient.SqlClient, client)
  })

/** The schemas of the one configured server. */
const schemasDirectory = (config: PgTenantsConfig, names: ReadonlyArray<string>, servers: ReadonlyMap<string, string>, prefix: string) =>
  Effect.gen(function*() {
    if (names.length !== 1) return yield* invalid("PgTenants: directory \"schemas\" needs exactly one server")
    const client = yield* directoryClient(config, servers.get(names[0]!)!)
    return yield* Effect.provideService(TenantDirectory.schemas({ prefix, server: names[0]! }), SqlClient.SqlClient, client)
  })

/**
 * The tenants as a layer: `PgTenants`, and the same service as `Tenants.Tenants`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (config: PgTenantsConfig): Layer.Layer<PgTenants | Tenants.Tenants, DatabaseError> =>
  Layer.scopedContext(Effect.map(make(config), (service) => Context.make(PgTenants, service).pipe(Context.add(Tenants.Tenants, service))))

/**
 * Runs `self` as the tenant, with the tenant's `SqlClient` for its read models beside its stores.
 *
 * @since 0.1.0
 * @category combinators
 */
export const provide = (tenantId: string) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | Tenants.TenantError, Exclude<R, Tenants.Services | Sql> | PgTenants> =>
  Effect.flatMap(PgTenants, (tenants) => tenants.provide(tenantId, self))

/**
 * The tenant's services (with its `SqlClient`) as a layer, e.g. per request.
 *
 * @since 0.1.0
 * @category layers
 */
export const tenantLayer = (tenantId: string): Layer.Layer<Tenants.Services | Sql, Tenants.TenantError, PgTenants> =>
  Layer.scopedContext(Effect.flatMap(PgTenants, (tenants) => tenants.context(tenantId)))
