/**
 * How an `@effect/sql` failure becomes the store's `DatabaseError`, in one place for the SQL
 * store, its drivers and the CLI. `SqlError`'s own message is generic ("Failed to execute
 * statement"): what the driver said is in its `cause`, and that is what a message shows.
 *
 * @since 0.1.0
 */
import type { SqlError } from "@effect/sql/SqlError"
import { DatabaseError } from "@eventuali/core/Errors"
import { Predicate } from "effect"

/**
 * Whether a value is an `@effect/sql` `SqlError` (also when it arrives as a defect).
 *
 * @since 0.1.0
 * @category refinements
 */
export const isSqlError = (value: unknown): value is SqlError => Predicate.isTagged(value, "SqlError")

/**
 * Whether a statement was cancelled although its caller asked for nothing: PostgreSQL's 57014
 * with "canceling statement due to user request", the answer to `pg_cancel_backend` or to a
 * protocol cancel request. A caller whose own fiber was interrupted never sees its statement's
 * answer, so such an error reaching a caller comes from elsewhere: an operator, or a cancel meant
 * for a statement that ran earlier on the same connection. Not a statement that hit
 * `statement_timeout` (57014 too, "due to statement timeout"): that limit was the caller's
 * setting, and running the statement again would only hit it again.
 *
 * @since 0.1.0
 * @category refinements
 */
export const isStrayCancel = (error: unknown): boolean => {
  if (!isSqlError(error)) return false
  const cause: unknown = error.cause
  return Predicate.hasProperty(cause, "code") && cause.code === "57014" &&
    Predicate.hasProperty(cause, "message") && typeof cause.message === "string" && cause.message.endsWith("due to user request")
}

/**
 * What an error says: its message, the messages of an `AggregateError`'s errors (node-postgres
 * reports one per address tried), its tag, or the value as text.
 *
 * @since 0.1.0
 * @category messages
 */
export const messageOf = (error: unknown): string => {
  if (error instanceof AggregateError && error.message === "") return error.errors.map(messageOf).join("; ")
  if (Predicate.hasProperty(error, "message") && typeof error.message === "string" && error.message !== "") {
    return error.message
  }
  if (Predicate.hasProperty(error, "_tag") && typeof error._tag === "string") return error._tag
  return String(error)
}

/**
 * What the driver said: the message of the error's `cause` when it has one (a `SqlError` wraps
 * the driver's error), the error's own otherwise.
 *
 * @since 0.1.0
 * @category messages
 */
export const driverMessageOf = (error: unknown): string => {
  const cause = Predicate.hasProperty(error, "cause") ? error.cause : undefined
  return cause instanceof Error && (cause.message !== "" || cause instanceof AggregateError)
    ? messageOf(cause)
    : messageOf(error)
}

/**
 * A `DatabaseError` saying what failed and what the driver said, with its error code:
 * `"Reading events failed: no such table: eventuali_events [SQLITE_ERROR]"`.
 *
 * @since 0.1.0
 * @category errors
 */
export const toDatabaseError = (what: string) => (error: SqlError): DatabaseError => {
  const cause: unknown = error.cause
  const code = Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? ` [${cause.code}]` : ""
  return new DatabaseError({ message: `${what} failed: ${driverMessageOf(error)}${code}`, cause: error })
}
