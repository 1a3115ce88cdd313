/**
 * A transaction that begins at its first statement: a projection's batch runs its handler inside
 * one, so that the handler's writes commit with the checkpoint (exactly once) while a handler
 * that only calls another service holds no connection while it waits. Only the statements run,
 * and then the commit, hold a connection (SQLite's one connection, a PostgreSQL pool's client).
 *
 * It is an `@effect/sql` `Connection` provided as the fiber's `TransactionConnection`, so every
 * `SqlClient` statement, and `withTransaction` inside it (a savepoint), runs through it: the
 * first one reserves a connection from the client (`sql.reserve`), sends `BEGIN` and runs the
 * owner's `onBegin` on it (a projection store takes its checkpoint's lock there). Drivers that
 * recognise their own connection by identity (the SQLite store's direct statements) ask
 * {@link underlying} for the connection a lazy one runs on.
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, ExecutionStrategy, Option, Scope, Stream } from "effect"

/**
 * @since 0.2.0
 * @category models
 */
export interface LazyTransaction {
  /** Runs `effect` with this transaction as its `TransactionConnection`: its statements join it. */
  readonly provide: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  /** Begins the transaction unless it has begun; the connection it runs on. Fails again with the first failure. */
  readonly begin: Effect.Effect<SqlConnection.Connection, SqlError>
  /** Whether it has begun (and neither committed nor failed to begin). */
  readonly isOpen: Effect.Effect<boolean>
  /** Commits it if it is open (the scope rolls back one that was not committed). */
  readonly commit: Effect.Effect<void, SqlError>
}

type State =
  | { readonly _tag: "Idle" }
  | { readonly _tag: "Open"; readonly connection: SqlConnection.Connection }
  | { readonly _tag: "Failed"; readonly error: SqlError }
  | { readonly _tag: "Done" }

/** The lazy connections alive, and how each reaches its connection. */
const lazyConnections = new WeakMap<SqlConnection.Connection, Effect.Effect<SqlConnection.Connection, SqlError>>()

/**
 * For a connection a {@link LazyTransaction} provides, the effect that begins it (unless it has
 * begun) and succeeds with the connection it runs on; `None` for any other connection.
 *
 * @since 0.2.0
 * @category drivers
 */
export const underlying = (
  connection: SqlConnection.Connection
): Option.Option<Effect.Effect<SqlConnection.Connection, SqlError>> => Option.fromNullable(lazyConnections.get(connection))

/**
 * A lazy transaction on `sql`, rolled back when the scope closes unless it was committed.
 * `onBegin` runs right after `BEGIN`, in the transaction; if it fails, the transaction stays
 * unusable: every statement fails with that error until the scope closes.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  sql: SqlClient.SqlClient,
  onBegin: Effect.Effect<void, SqlError> = Effect.void
): Effect.Effect<LazyTransaction, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const mutex = yield* Effect.makeSemaphore(1)
    let state: State = { _tag: "Idle" }
    const within = <A, E, R>(connection: SqlConnection.Connection, effect: Effect.Effect<A, E, R>) =>
      Effect.provideService(effect, SqlClient.TransactionConnection, [connection, 0])

    const open = Effect.gen(function*() {
      const held = yield* Scope.fork(scope, ExecutionStrategy.sequential)
      const connection = yield* Scope.extend(sql.reserve, held)
      yield* connection.executeUnprepared("BEGIN", [], undefined)
      state = { _tag: "Open", connection }
      // Runs before the connection goes back (finalizers run last added first).
      yield* Scope.addFinalizer(
        held,
        Effect.suspend(() => {
          if (state._tag === "Done") return Effect.void
          state = { _tag: "Done" }
          return Effect.ignoreLogged(connection.executeUnprepared("ROLLBACK", [], undefined))
        })
      )
      yield* within(connection, onBegin)
      return connection
    })

    const begin: Effect.Effect<SqlConnection.Connection, SqlError> = mutex.withPermits(1)(Effect.suspend(() => {
      switch (state._tag) {
        case "Open":
          return Effect.succeed(state.connection)
        case "Failed":
          return Effect.fail(state.error)
        case "Done":
          return Effect.dieMessage("A lazy transaction was used after it ended")
        case "Idle":
          return Effect.tapError(Effect.uninterruptible(open), (error) => Effect.sync(() => state = { _tag: "Failed", error }))
      }
    }))

    const connection: SqlConnection.Connection = {
      execute: (text, params, transformRows) => Effect.flatMap(begin, (conn) => conn.execute(text, params, transformRows)),
      executeRaw: (text, params) => Effect.flatMap(begin, (conn) => conn.executeRaw(text, params)),
      executeValues: (text, params) => Effect.flatMap(begin, (conn) => conn.executeValues(text, params)),
      executeUnprepared: (text, params, transformRows) =>
        Effect.flatMap(begin, (conn) => conn.executeUnprepared(text, params, transformRows)),
      executeStream: (text, params, transformRows) =>
        Stream.unwrap(Effect.map(begin, (conn) => conn.executeStream(text, params, transformRows)))
    }
    lazyConnections.set(connection, begin)
    yield* Effect.addFinalizer(() => Effect.sync(() => lazyConnections.delete(connection)))

    return {
      provide: (effect) => within(connection, effect),
      begin,
      isOpen: Effect.sync(() => state._tag === "Open"),
      commit: mutex.withPermits(1)(Effect.suspend(() => {
        if (state._tag !== "Open") return Effect.void
        const open = state.connection
        return Effect.uninterruptible(Effect.zipRight(
          open.executeUnprepared("COMMIT", [], undefined),
          Effect.sync(() => state = { _tag: "Done" })
        ))
      }))
    }
  })
