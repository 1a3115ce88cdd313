/**
 * What a driver hands the shared SQL store: its database's one way to append, how it runs the
 * store's shared statements, and — where the database needs them — how reads wait for commits in
 * flight and how other processes' appends wake subscribers. Like `@effect/sql`'s drivers, which
 * hand a compiler and a connection to the shared client, a driver chooses once, when it opens the
 * database; the shared store never asks which database it is on.
 *
 * `@eventuali/sqlite` builds one over its synchronous better-sqlite3 connection (check-then-insert,
 * group commit); `@eventuali/postgres` over its pool (one-statement conditional append, notifier,
 * catch-up wait).
 *
 * @since 0.1.0
 */
import type { SqlError } from "@effect/sql/SqlError"
import type { DatabaseError } from "@eventuali/core/Errors"
import type { AppendOutcome, AppendRequest, EncodedEvent, StoredEvent } from "@eventuali/core/EventStorage"
import type { Effect, Stream } from "effect"
import * as errors from "./internal/errors.js"
import * as internal from "./internal/statements.js"

/**
 * The SQL dialect of the store's shared statements.
 *
 * @since 0.1.0
 * @category models
 */
export type Dialect = "sqlite" | "pg"

/**
 * The shared statement texts of one dialect: the reads, the stream head and the snapshot upsert.
 *
 * @since 0.1.0
 * @category models
 */
export type Statements = internal.Statements

/**
 * A database as the shared store uses it.
 *
 * @since 0.1.0
 * @category models
 */
export interface SqlBackend {
  /** The shared statements in this database's dialect (see {@link statements}). */
  readonly statements: Statements
  /** Runs one of `statements` (in the caller's transaction when it holds one on this database). */
  readonly query: <Row extends object>(text: string, params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Row>, SqlError>
  /**
   * The database's one append algorithm: atomic and conditional as `EventStorage.append` says,
   * in the caller's transaction when it holds one. The store has checked the batch size.
   */
  readonly append: (request: AppendRequest) => Effect.Effect<AppendOutcome, DatabaseError>
  /** See `EventStorage.catchUp` (`Effect.void` where commits are visible at once). */
  readonly catchUp: Effect.Effect<void, SqlError>
  /** See `EventStorage.notifications`. */
  readonly notifications?: Stream.Stream<void> | undefined
}

/**
 * The shared statements of a dialect, on the tables of `schema` (PostgreSQL) or unqualified.
 * `conjoined` (PostgreSQL): the schema's tables are one tenant's views of tables shared by
 * tenants, whose unique keys start with `tenant_id` (`PgTenants`' conjoined strategy).
 *
 * @since 0.1.0
 * @category constructors
 */
export const statements = (dialect: Dialect, schema: string | undefined, options?: { readonly conjoined?: boolean | undefined }): Statements =>
  dialect === "pg" ? internal.pg(schema, options?.conjoined) : internal.sqlite(schema)

/**
 * The columns of a unique key as an upsert's `ON CONFLICT` names them: `tenant_id` first on
 * conjoined tables (see {@link statements}).
 *
 * @since 0.2.0
 * @category constructors
 */
export const conflictKey: (columns: string, conjoined: boolean | undefined) => string = internal.conflictKey

/**
 * A statement text builder that builds each text once (drivers prepare statements by text, so
 * the same shape must give the same string).
 *
 * @since 0.1.0
 * @category constructors
 */
export const memoized: <A>(build: (arg: A) => string) => (arg: A) => string = internal.memoized

/**
 * The columns every read of events (`readStream`, `readArchived`, `readAll`) selects, in this
 * order: a driver that gets a row's values as an array (as PostgreSQL sends them) can name them
 * by position.
 *
 * @since 0.2.0
 * @category constants
 */
export const EVENT_COLUMNS: ReadonlyArray<string> = internal.EVENT_COLUMNS

/**
 * Most events in one append (PostgreSQL's position scheme leaves 20 bits per transaction).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_EVENTS_PER_TRANSACTION: number = internal.MAX_EVENTS_PER_TRANSACTION

/**
 * PostgreSQL positions are `(transaction id << POSITION_SHIFT) + n` (see the shared statements).
 *
 * @since 0.1.0
 * @category constants
 */
export const POSITION_SHIFT: number = internal.POSITION_SHIFT

/**
 * The stored event an append of `event` wrote, at `aggregateVersion` and `position`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const storedEvent = (
  request: AppendRequest,
  event: EncodedEvent,
  aggregateVersion: number,
  position: bigint
): StoredEvent => ({
  eventId: event.eventId,
  eventType: event.eventType,
  eventVersion: event.eventVersion,
  aggregateId: request.aggregateId,
  aggregateType: request.aggregateType,
  aggregateVersion,
  position,
  timestamp: event.timestamp,
  metadata: event.metadata,
  data: event.data
})

/**
 * Whether a statement failed on a unique index (a concurrent append took the version or an id):
 * the append is refused, not failed.
 *
 * @since 0.1.0
 * @category errors
 */
export const isUniqueViolation: (error: SqlError) => boolean = errors.isUniqueViolation

/**
 * {@link isUniqueViolation} for a driver's own error, as a synchronous connection throws it.
 *
 * @since 0.1.0
 * @category errors
 */
export const isUniqueError: (cause: unknown) => boolean = errors.isUniqueError

/**
 * Makes a failing BEGIN, COMMIT or ROLLBACK, which `withTransaction` raises as a defect, the
 * `SqlError` it is again.
 *
 * @since 0.1.0
 * @category errors
 */
export const failedTransactionAsError: <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R> =
  errors.failedTransactionAsError
