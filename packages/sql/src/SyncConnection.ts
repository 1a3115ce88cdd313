/**
 * Synchronous access to a driver's one connection (better-sqlite3), for the store's own
 * statements. Every `@effect/sql` statement costs tens of microseconds of pipeline (prepared
 * statement cache, span, lock) around a statement that itself takes a few: an embedded database
 * is fast enough for that to be most of the work. A driver that has such a connection hands it
 * to the store, which then runs its statements directly — never while another fiber holds a
 * transaction open through the client, so they never see or join its uncommitted work.
 *
 * @since 0.1.0
 */
import type { SqlError } from "@effect/sql/SqlError"
import type { Effect } from "effect"

/**
 * The connection, while it is held.
 *
 * @since 0.1.0
 * @category models
 */
export interface Session {
  /** Runs a statement (prepared once per text) and returns its rows (none for a non-query). */
  readonly all: (text: string, params: ReadonlyArray<unknown>) => ReadonlyArray<unknown>
  /** Runs a statement that returns no rows: how many rows it changed, and the last rowid inserted. */
  readonly run: (text: string, params: ReadonlyArray<unknown>) => { readonly changes: number; readonly lastInsertRowid: number | bigint }
  /**
   * Runs `body` in a transaction that takes the write lock at once (a savepoint inside another):
   * committed when it returns, rolled back when it throws.
   */
  readonly transaction: <A>(body: () => A) => A
}

/**
 * A connection the store may use synchronously.
 *
 * @since 0.1.0
 * @category models
 */
export interface SyncConnection {
  /**
   * Runs `body` alone on the connection: at once when no transaction is open through the client
   * (a synchronous `body` cannot interleave with one), else once it has ended, holding the
   * client's lock. Not for use inside a transaction the caller holds through the client (the
   * store checks for one first). What `body` throws fails the effect as `SqlError`.
   */
  readonly exclusive: <A>(body: (session: Session) => A) => Effect.Effect<A, SqlError>
}
