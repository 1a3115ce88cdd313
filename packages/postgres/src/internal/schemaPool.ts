/**
 * A tenant's view of its server's pool: the connections are the server's (one pool per server,
 * however many tenants it holds), and each is handed out with its `search_path` set to the
 * tenant's schema, so a read model's unqualified table names are the tenant's tables.
 *
 * The store's own statements name their schema and do not depend on it; the search path is for
 * the application's SQL on the tenant's `SqlClient` (read models, queries). A connection keeps the
 * path it was last given, so `SET` is sent only when a connection passes from one tenant to
 * another. Only the tenant's schema is on the path (besides `pg_catalog`, always searched): a
 * table missing there is an error, never another schema's table of the same name.
 */
import * as Pg from "pg"
import { TENANT_SETTING } from "./conjoined.js"
import { CancellingPool, type ConnectCallback, promised, type StorePool } from "./pool.js"

/** The search path each pooled connection was last given by a tenant's pool. */
const pathOf = new WeakMap<Pg.PoolClient, string>()

const noRelease = () => {}

/** Hands out `server`'s connections with the search path set to `schema`. */
export class SchemaPool extends CancellingPool {
  private readonly setPath: string

  /** `tenantId`: a conjoined tenant's id, which its connections also carry for row-level security. */
  constructor(private readonly server: StorePool, private readonly schema: string, tenantId?: string) {
    // The options are the server's, for `@effect/sql-pg`'s description of the client; this pool
    // opens no connection of its own.
    super(server.options)
    // One round trip either way: two statements in one simple query.
    this.setPath = `SET search_path TO ${Pg.escapeIdentifier(schema)}` +
      (tenantId === undefined ? "" : `; SET ${TENANT_SETTING} TO ${Pg.escapeLiteral(tenantId)}`)
  }

  override connect(): Promise<Pg.PoolClient>
  override connect(callback: ConnectCallback): void
  override connect(callback?: ConnectCallback): Promise<Pg.PoolClient> | void {
    if (callback === undefined) return promised((answer) => this.connect(answer))
    this.server.connect((error, client, release) => {
      if (error !== undefined || client === undefined) return callback(error, client, release)
      if (pathOf.get(client) === this.schema) return callback(undefined, client, release)
      client.query(this.setPath, (setError) => {
        if (setError) {
          // A connection whose path is unknown is not given back to the pool.
          release(setError)
          return callback(setError, undefined, noRelease)
        }
        pathOf.set(client, this.schema)
        callback(undefined, client, release)
      })
    })
  }

  /** The connections are the server pool's, and so is the cancel of their statements. */
  override cancelBackend(pid: number, done: () => void): void {
    this.server.cancelBackend(pid, done)
  }

  /** Ends nothing: the connections belong to the server's pool. */
  override end(): Promise<void>
  override end(callback: () => void): void
  override end(callback?: () => void): Promise<void> | void {
    if (callback === undefined) return Promise.resolve()
    callback()
  }
}
