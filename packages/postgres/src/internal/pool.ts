/**
 * The store's connection pool: node-postgres's pool, with a bounded wait for a free connection
 * and a close that answers every waiter.
 *
 * node-postgres never answers a request for a connection that waits in its queue when the pool
 * ends, and `@effect/sql` asks for a transaction's connection in an uninterruptible step. So a
 * projection (or any transaction) that asked for a connection just before the store closed
 * would wait forever, and closing the store with it: the fiber cannot be interrupted, and the
 * pool ends only after it. Here every request has a deadline, and closing the store first
 * refuses every request still waiting (and every later one), so each such step ends, with an
 * error, and closing finishes: at once for the store's own fibers, by the deadline for fibers
 * closed before the store whose connection is held elsewhere.
 *
 * It also answers `@effect/sql-pg`'s cancel of an interrupted statement, which that library runs
 * through the pool, with a cancel request that needs no pooled connection (`cancel.ts`).
 */
import { Effect, type Scope } from "effect"
import * as Pg from "pg"
import * as Cancel from "./cancel.js"

/** How the pool is made. */
export interface Options {
  readonly url: string
  readonly max: number
  readonly applicationName: string
  /** The limit on opening a connection. */
  readonly connectTimeoutMillis: number
  /** The limit on waiting for a connection, free or new. */
  readonly waitTimeoutMillis: number
}

/** What node-postgres's pool `connect` answers. */
export type ConnectCallback = (error: Error | undefined, client: Pg.PoolClient | undefined, release: (release?: unknown) => void) => void

/** The promise form of a pool's `connect`, for pools that override the callback form. */
export const promised = (connect: (callback: ConnectCallback) => void): Promise<Pg.PoolClient> =>
  new Promise((resolve, reject) => {
    connect((error, client) => error !== undefined || client === undefined ? reject(error) : resolve(client))
  })

const noRelease = () => {}

/**
 * A pool that answers `@effect/sql-pg`'s cancel of an interrupted statement
 * (`SELECT pg_cancel_backend(PID)`, run through the pool's `query`) with a cancel request that needs
 * no pooled connection and has reached the backend before the connection goes back to the pool
 * (see `cancel.ts`). Every other query runs as node-postgres runs it.
 */
export abstract class CancellingPool extends Pg.Pool {
  override query<T extends Pg.Submittable>(queryStream: T): T
  override query<R extends Pg.QueryResultRow>(text: string | Pg.QueryConfig, values?: Array<unknown>): Promise<Pg.QueryResult<R>>
  override query<R extends Pg.QueryResultRow>(text: string | Pg.QueryConfig, callback: (error: Error, result: Pg.QueryResult<R>) => void): void
  override query<R extends Pg.QueryResultRow>(
    text: string,
    values: Array<unknown>,
    callback: (error: Error, result: Pg.QueryResult<R>) => void
  ): void
  override query(text: unknown, values?: unknown, callback?: unknown): unknown {
    const pid = Cancel.cancelledPid(text)
    if (pid !== undefined && typeof values === "function") return this.cancelBackend(pid, () => values())
    return Reflect.apply(Pg.Pool.prototype.query, this, [text, values, callback])
  }

  /** Cancels the statement that the connection to backend `pid` runs; `done` once the server has the cancel. */
  abstract cancelBackend(pid: number, done: () => void): void
}

/** The pool, and `refuseWaiters` to run before it ends. */
export class StorePool extends CancellingPool {
  private closing = false
  private readonly waiting = new Set<(error: Error) => void>()
  private readonly waitTimeoutMillis: number
  private readonly connectTimeoutMillis: number
  /** The pool's connections by backend pid, for cancel requests (`cancel.ts`). */
  private readonly backends = new Map<number, Pg.Client>()
  /**
   * The connections whose cancel requests are on their way, each with the count of them and what
   * waits for them to land. `@effect/sql-pg` gives an interrupted statement's connection back when
   * that statement answers, which may be before its cancel has reached the server: the connection
   * then goes back to the pool only once it has (see {@link afterCancels}).
   */
  private readonly cancelling = new Map<Pg.Client, { count: number; readonly then: Array<() => void> }>()

  constructor(options: Options) {
    // A pool's `connectionTimeoutMillis` would apply to waiting for a free connection too, and
    // operations queued behind a busy pool must wait longer than a connection takes to open: the
    // connect timeout is set on the pool's connections instead. Without one, a server that accepts
    // connections but never answers would hold the layer, and every later connection, forever.
    class Connection extends Pg.Client {
      constructor(config?: Pg.ClientConfig) {
        super({ ...config, connectionTimeoutMillis: options.connectTimeoutMillis })
      }
    }
    super({ connectionString: options.url, max: options.max, application_name: options.applicationName, Client: Connection })
    this.waitTimeoutMillis = options.waitTimeoutMillis
    this.connectTimeoutMillis = options.connectTimeoutMillis
    this.on("connect", (client) => {
      const key = Cancel.keyOf(client)
      if (key !== undefined) this.backends.set(key.pid, client)
    })
    this.on("remove", (client) => {
      const key = Cancel.keyOf(client)
      if (key !== undefined && this.backends.get(key.pid) === client) this.backends.delete(key.pid)
    })
  }

  /** Cancels the statement the pool's connection to backend `pid` runs; `done` once the server has it. */
  override cancelBackend(pid: number, done: () => void): void {
    const client = this.backends.get(pid)
    const key = client === undefined ? undefined : Cancel.keyOf(client)
    if (client === undefined || key === undefined) return done()
    const pending = this.cancelling.get(client)
    if (pending === undefined) this.cancelling.set(client, { count: 1, then: [] })
    else pending.count++
    Cancel.cancel(client, key, this.connectTimeoutMillis, () => {
      const landed = this.cancelling.get(client)
      if (landed !== undefined && --landed.count === 0) {
        this.cancelling.delete(client)
        for (const action of landed.then) action()
      }
      done()
    })
  }

  /**
   * Runs `action` (giving the connection back) once no cancel request for `client` is on its way:
   * a cancel that lands after the connection ran its next statement would cancel that statement
   * — another operation's, another tenant's (SQLSTATE 57014). Landed, it finds the backend idle
   * and is ignored.
   */
  private afterCancels(client: Pg.Client, action: () => void): void {
    const pending = this.cancelling.get(client)
    if (pending === undefined) action()
    else pending.then.push(action)
  }

  /** The connection as handed out, its `release` waiting for cancels on their way ({@link afterCancels}). */
  private handOut(client: Pg.PoolClient): (release?: unknown) => void {
    const release = client.release
    const waiting = (error?: unknown) => this.afterCancels(client, () => release.call(client, error as Error | boolean | undefined))
    client.release = waiting
    return waiting
  }

  override connect(): Promise<Pg.PoolClient>
  override connect(callback: ConnectCallback): void
  override connect(callback?: ConnectCallback): Promise<Pg.PoolClient> | void {
    if (callback === undefined) return promised((answer) => this.connect(answer))
    if (this.closing) return callback(closingError(), undefined, noRelease)
    let answered = false
    const refuse = (error: Error) => {
      if (answered) return
      answered = true
      clearTimeout(deadline)
      this.waiting.delete(refuse)
      callback(error, undefined, noRelease)
    }
    // With a connection idle for it, node-postgres hands it over on the next tick (or, if it broke
    // meanwhile, opens one, within the connect timeout): no deadline needed. Every operation comes
    // here, and a timer set and cleared is measurable on that path.
    const deadline = this.idleCount > this.waitingCount ? undefined : setTimeout(
      () => refuse(new Error(`no connection to PostgreSQL became free within ${this.waitTimeoutMillis} ms`)),
      this.waitTimeoutMillis
    )
    deadline?.unref()
    this.waiting.add(refuse)
    super.connect((error, client, release) => {
      if (answered) {
        // Refused already (deadline or closing): give the connection back.
        if (client !== undefined) release()
        return
      }
      answered = true
      clearTimeout(deadline)
      this.waiting.delete(refuse)
      callback(error, client, client === undefined ? release : this.handOut(client))
    })
  }

  /** Refuses every request waiting for a connection, and every later one. */
  refuseWaiters(): void {
    this.closing = true
    for (const refuse of Array.from(this.waiting)) refuse(closingError())
  }
}

const closingError = () => new Error("the event store is closing")

/**
 * The pool, for as long as the scope lives. Closing the scope refuses waiting requests (see
 * {@link StorePool}) and ends the pool, waiting at most a second for connections still in use.
 */
export const make = (options: Options): Effect.Effect<StorePool, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const pool = new StorePool(options)
      // An idle connection that breaks (the server restarted) leaves the pool; the next operation
      // opens a new one. Without a listener the error would crash the process.
      pool.on("error", () => {})
      return pool
    }),
    (pool) =>
      Effect.sync(() => pool.refuseWaiters()).pipe(
        Effect.zipRight(Effect.promise(() => pool.end()).pipe(Effect.interruptible, Effect.timeoutOption(1000)))
      )
  )
