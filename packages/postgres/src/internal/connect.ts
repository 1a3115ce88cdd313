/**
 * Opening a server: the pool (`pool.ts`), a first query that proves the server answers, and the
 * `@effect/sql-pg` client on the pool. A store opens one (`PgEventStore`); tenants open one per
 * server and share it (`PgTenants`).
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import { DatabaseError } from "@eventuali/core/Errors"
import * as Redaction from "@eventuali/core/Redaction"
import * as SqlErrors from "@eventuali/sql/SqlErrors"
import { Duration, Effect, Option, Redacted, type Scope } from "effect"
import type * as Pg from "pg"
import * as Pool from "./pool.js"

/** How a server is opened. */
export interface Options {
  /** The URL without `?schema=`. */
  readonly url: string
  readonly maxConnections: number
  readonly applicationName: string
  readonly connectTimeout: Duration.Duration
  readonly connectionWaitTimeout: Duration.Duration
}

/** The pool settings of the public configurations (`PgEventStoreConfig`, `PgTenantsConfig`). */
export interface Settings {
  readonly maxConnections?: number | undefined
  readonly applicationName?: string | undefined
  readonly connectTimeout?: Duration.DurationInput | undefined
  readonly connectionWaitTimeout?: Duration.DurationInput | undefined
  /** See `PgEventStoreConfig.preparedStatements`. */
  readonly preparedStatements?: boolean | undefined
}

/** A configured URL as text. */
export const textOf = (url: string | Redacted.Redacted<string>): string => Redacted.isRedacted(url) ? Redacted.value(url) : url

/**
 * A duration option refused unless it is finite and above zero (`infinite`: or infinite). Checked
 * before use: `Duration.decode` throws on a text such as "soon", and reads -1 or NaN as zero.
 */
export const checkDuration = (
  name: string,
  value: Duration.DurationInput | undefined,
  allow: { readonly infinite?: boolean } = {}
): Effect.Effect<void, DatabaseError> => {
  if (value === undefined) return Effect.void
  const valid = Option.exists(
    Duration.decodeUnknown(value),
    (duration) => Duration.isFinite(duration) ? Duration.toMillis(duration) > 0 : allow.infinite === true
  )
  return valid ? Effect.void : Effect.fail(new DatabaseError({ message: `Invalid ${name} ${String(value)}: it must be a positive duration` }))
}

/**
 * The pool settings refused before anything is opened: a pool of 0 or 1.5 connections, or a
 * timeout that is not a positive duration (a text such as "soon" made `options` throw).
 */
export const checkSettings = (settings: Settings): Effect.Effect<void, DatabaseError> => {
  const { maxConnections } = settings
  if (maxConnections !== undefined && !(Number.isSafeInteger(maxConnections) && maxConnections >= 1)) {
    return Effect.fail(new DatabaseError({ message: `Invalid maxConnections ${String(maxConnections)}: it must be a positive integer` }))
  }
  return Effect.zipRight(
    checkDuration("connectTimeout", settings.connectTimeout),
    checkDuration("connectionWaitTimeout", settings.connectionWaitTimeout)
  )
}

/**
 * Refuses a URL that gives `?schema=` more than once: which one was meant cannot be known, and
 * `parseUrl` would silently take the first.
 */
export const checkSchemaParameter = (url: string): Effect.Effect<void, DatabaseError> => {
  const queryStart = url.indexOf("?")
  const count = queryStart === -1 ? 0 : new URLSearchParams(url.slice(queryStart + 1)).getAll("schema").length
  return count > 1
    ? Effect.fail(
      new DatabaseError({ message: `Invalid connection string ${Redaction.redactUrl(url)}: ?schema= is given ${count} times; give it once` })
    )
    : Effect.void
}

/** The settings, with their documented defaults. */
export const options = (url: string, settings: Settings): Options => ({
  url,
  maxConnections: settings.maxConnections ?? 10,
  applicationName: settings.applicationName ?? "eventuali",
  connectTimeout: Duration.decode(settings.connectTimeout ?? Duration.seconds(5)),
  connectionWaitTimeout: Duration.decode(settings.connectionWaitTimeout ?? Duration.seconds(30))
})

/** An open server. */
export interface Server {
  readonly pool: Pool.StorePool
  readonly client: PgClient.PgClient
}

/**
 * The `@effect/sql-pg` client on a pool (which the caller closes), JSON payloads kept as stored.
 * Making it sends nothing to the server (its one failure is not reachable from here).
 */
export const clientOf = (pool: Pg.Pool): Effect.Effect<PgClient.PgClient, never, Scope.Scope> =>
  PgClient.fromPool({ acquire: Effect.succeed(pool), transformJson: false }).pipe(
    Effect.provide(Reactivity.layer),
    Effect.orDie
  )

/** Opens the pool and checks the server answers within the connect timeout. */
export const connect = (options: Options): Effect.Effect<Server, DatabaseError, Scope.Scope> => {
  const shown = Redaction.redactUrl(options.url)
  const failure = (error: unknown) =>
    new DatabaseError({
      message: `Cannot connect to PostgreSQL at ${shown}: ${Redaction.redactUrl(SqlErrors.driverMessageOf(error))}`
    })
  return Effect.gen(function*() {
    const pool = yield* Pool.make({
      url: options.url,
      max: options.maxConnections,
      applicationName: options.applicationName,
      connectTimeoutMillis: Duration.toMillis(options.connectTimeout),
      waitTimeoutMillis: Duration.toMillis(options.connectionWaitTimeout)
    })
    // The callback form: a first query abandoned by the timeout is answered when the pool
    // closes, and its promise's rejection would be unhandled.
    yield* Effect.async<void, Error>((resume) => {
      pool.query("SELECT 1", (error) => resume(error ? Effect.fail(error) : Effect.void))
    }).pipe(
      Effect.timeoutFail({
        duration: options.connectTimeout,
        onTimeout: () => new Error(`no answer within ${Duration.format(options.connectTimeout)}`)
      })
    )
    return { pool, client: yield* clientOf(pool) }
  }).pipe(
    Effect.mapError(failure),
    Effect.catchAllDefect((defect) => Effect.fail(failure(defect)))
  )
}
