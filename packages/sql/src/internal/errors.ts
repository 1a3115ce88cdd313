import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import { ARCHIVED_ID_CONFLICT } from "../Migrations.js"
import { isSqlError } from "../SqlErrors.js"

const causeOf = (error: SqlError): { readonly code?: unknown; readonly message?: unknown } =>
  typeof error.cause === "object" && error.cause !== null ? error.cause : {}

/** Whether a statement failed on a unique index (a concurrent append took the version or id). */
export const isUniqueViolation = (error: SqlError): boolean => isUniqueError(causeOf(error))

/** Whether a driver's own error (as thrown on a synchronous connection) is a unique violation. */
export const isUniqueError = (cause: unknown): boolean =>
  typeof cause === "object" && cause !== null && "code" in cause &&
  (isUniqueCode(cause.code) || isArchivedIdConflict(cause.code, "message" in cause ? cause.message : undefined))

/** The SQLite trigger that refuses an archived event id (migration 9) reports a unique violation across two tables. */
const isArchivedIdConflict = (code: unknown, message: unknown): boolean =>
  code === "SQLITE_CONSTRAINT_TRIGGER" && typeof message === "string" && message.includes(ARCHIVED_ID_CONFLICT)

const isUniqueCode = (code: unknown): boolean =>
  code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY"

/**
 * `withTransaction` turns a failing BEGIN, COMMIT or ROLLBACK (a connection lost in a server
 * restart, a full disk) into a defect: make it the `SqlError` it is again, so that callers map it
 * to a `DatabaseError` and retries apply. Other defects stay defects.
 */
export const failedTransactionAsError = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
  Effect.catchSomeDefect(self, (defect) => isSqlError(defect) ? Option.some(Effect.fail(defect)) : Option.none())
