/**
 * Operations survive connections the server closed while they sat idle in the pool (a proxy
 * restarted, `idle_session_timeout`, a failover, `pg_terminate_backend`): the pool notices a
 * closed connection only when the socket's end has been read, so an operation can be handed one
 * just before, and fail on it — and the connection goes back to the pool as if alive, until that
 * end is read. Such an operation is tried again after a pause that lets the pool drop the closed
 * connections (a few times: each closed connection fails at most the operations handed it before
 * its end was read).
 *
 * Safe for every operation of the store: reads read again, and an append is tried again with the
 * same request — its event ids were settled before the first attempt. If the first attempt
 * committed before its answer was lost, the second is refused (its expected version no longer
 * holds, or its event ids are stored: the statement inserts nothing), and the store's refusal
 * path (`inspect`) recognises the request's own events and answers with them: stored once.
 *
 * A statement cancelled though its caller asked for nothing (57014 "canceling statement due to
 * user request", `SqlErrors.isStrayCancel`) is tried again the same way: an operator's
 * `pg_cancel_backend`, or a cancel that reached the connection after the statement it was meant
 * for (our pools make that impossible for the cancels `@effect/sql-pg` sends, see `cancel.ts`; a
 * `pg_cancel_backend` of the application's own stays possible). A fiber that was interrupted never
 * sees its statement's answer, so this is never the caller's own cancel. Not a statement that hit
 * `statement_timeout` (57014 "due to statement timeout"): the caller's limit, which another attempt
 * would hit again.
 *
 * Never inside a caller's transaction: the transaction died with its connection (or was aborted
 * by the cancel), and what it did before is gone; only the caller can start it again.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { isStrayCancel } from "@eventuali/sql/SqlErrors"
import { Effect, Option, Predicate } from "effect"

/** SQLSTATEs of a connection the server ended: class 08, and 57P01–57P05 (shutdown, idle timeout). */
const closedByServer = (code: string): boolean => code.startsWith("08") || /^57P0[1-5]$/.test(code)

/**
 * node-postgres's errors for a connection that is gone, and the socket's. Not "Connection
 * terminated due to connection timeout": a new connection that did not open in time is a server
 * that does not answer, and trying again would only multiply the wait.
 */
const lostConnectionMessages = new Set([
  "Connection terminated unexpectedly",
  "Client has encountered a connection error and is not queryable",
  "Client was closed and is not queryable"
])
const lostSocketCodes = new Set(["ECONNRESET", "EPIPE"])

/** Whether a statement failed because its connection was closed under it. */
export const isClosedConnection = (error: SqlError): boolean => {
  const cause: unknown = error.cause
  const code = Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : undefined
  if (code !== undefined && (closedByServer(code) || lostSocketCodes.has(code))) return true
  const message = cause instanceof Error ? cause.message : ""
  return lostConnectionMessages.has(message)
}

/** Whether another attempt of a statement outside a caller's transaction is safe and may succeed. */
export const isRetryable = (error: SqlError): boolean => isClosedConnection(error) || isStrayCancel(error)

/**
 * Runs `operation`, and again when its connection turned out closed or its statement was cancelled
 * by a stray cancel (outside a caller's transaction).
 */
export const retryOnClosedOrCancelled = <A, R>(operation: Effect.Effect<A, SqlError, R>): Effect.Effect<A, SqlError, R> =>
  Effect.catchIf(operation, isRetryable, (error) =>
    Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) => {
      if (Option.isSome(transaction)) return Effect.fail(error)
      // Three more attempts at most: the first now (after the pause), two retries.
      const later = Effect.retry(Effect.delay(operation, "10 millis"), { times: 2, while: isRetryable })
      const what = isStrayCancel(error) ? "a statement was cancelled by a stray cancel" : "a connection was closed by the server"
      return Effect.zipRight(Effect.logDebug(`eventuali: ${what}, retrying`, error.cause), later)
    }))
