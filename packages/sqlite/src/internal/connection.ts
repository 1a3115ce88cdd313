/**
 * The store's one better-sqlite3 connection, its lock, and the two ways onto it: the
 * `@effect/sql` `Connection` the application's `SqlClient` runs on (`client.ts`), and the
 * `SyncConnection` the store's own statements run on directly.
 *
 * Why the store does not go through the client: every `@effect/sql` statement costs tens of
 * microseconds of pipeline (statement compilation, a span, the lock) around a SQLite statement
 * that itself takes a few, and that was most of a save or a load (docs/performance.md, "What
 * each optimisation bought"). Both ways share one lock and one statement cache, so the store's
 * statements never run inside a transaction another fiber holds open through the client: they
 * would see, and write into, its uncommitted work.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as LazyTransaction from "@eventuali/sql/LazyTransaction"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import Sqlite from "better-sqlite3"
import { Context, Duration, Effect, type Fiber, Option, Schedule, Scope, Stream } from "effect"

/**
 * The connection, used synchronously: a synchronous body cannot interleave with another fiber,
 * so `use` needs the lock only while a transaction is open through the client.
 */
export interface SyncConnection {
  /** Runs a statement and returns its rows (none for a statement that returns none). */
  readonly all: (text: string, params: ReadonlyArray<unknown>) => ReadonlyArray<unknown>
  /** Runs a statement that returns no rows: how many rows it changed, and the last rowid inserted. */
  readonly run: (text: string, params: ReadonlyArray<unknown>) => { readonly changes: number; readonly lastInsertRowid: number | bigint }
  /**
   * Runs `body` in a transaction that takes the write lock at once (`BEGIN IMMEDIATE`; a
   * savepoint inside an open transaction): committed when it returns, rolled back when it throws.
   */
  readonly transaction: <A>(body: () => A) => A
  /**
   * Runs `body`, which may use the methods above: at once when no transaction is open through the
   * client, or inside the caller's own transaction on this connection; otherwise once that
   * transaction has ended, holding the lock. What `body` throws fails the effect as `SqlError`.
   */
  readonly use: <A>(body: () => A) => Effect.Effect<A, SqlError>
  /**
   * Whether `fiber` holds a transaction open on this connection through the client (beginning
   * the fiber's lazy transaction, if it runs in one).
   */
  readonly heldBy: (fiber: Fiber.RuntimeFiber<unknown, unknown>) => Effect.Effect<boolean, SqlError>
}

/** The connection as `client.ts` builds the application's `SqlClient` on it. */
export interface Shared {
  readonly sync: SyncConnection
  readonly connection: SqlConnection.Connection
  /** Lends the connection for one statement (held only while it is handed over). */
  readonly acquirer: SqlConnection.Connection.Acquirer
  /** Lends the connection for a transaction: the lock is held until the scope closes. */
  readonly transactionAcquirer: SqlConnection.Connection.Acquirer
}

/**
 * The file (or `":memory:"`), whether it is opened read-only, and how many milliseconds opening
 * waits for another process that is switching the same new file to WAL.
 */
export interface Options {
  readonly filename: string
  readonly readonly: boolean
  readonly busyTimeout: number
}

/**
 * Most prepared statements kept. The store's own texts are a bounded set (about 130); the rest
 * is room for the application's. An evicted statement is prepared again when next used.
 */
const CACHE_SIZE = 500

const failed = (message: string) => (cause: unknown) => new SqlError({ cause, message })

/** Runs a synchronous body: what it throws fails the effect as `SqlError`. */
const runNow = <A>(body: () => A): Effect.Effect<A, SqlError> => {
  try {
    return Effect.succeed(body())
  } catch (cause) {
    return Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
  }
}

/** Prepared statements by text, for both ways onto the connection. */
const statementCache = (db: Sqlite.Database) => {
  const statements = new Map<string, Sqlite.Statement>()
  return (text: string): Sqlite.Statement => {
    let statement = statements.get(text)
    if (statement === undefined) {
      statement = db.prepare(text)
      if (statements.size >= CACHE_SIZE) statements.delete(statements.keys().next().value!)
      statements.set(text, statement)
    }
    return statement
  }
}

/**
 * Puts the file in WAL mode. Two processes opening a new file at once can both hold its read lock
 * while each wants to write WAL into its header: SQLite fails one of them at once with
 * `SQLITE_BUSY` (waiting out its busy timeout could not help: neither would let go). Tried again,
 * it finds the file in WAL mode already.
 */
const switchToWal = (db: Sqlite.Database, busyTimeout: number): Effect.Effect<void> =>
  Effect.try({ try: () => db.pragma("journal_mode = WAL"), catch: (cause) => cause }).pipe(
    Effect.retry({
      schedule: Schedule.spaced("10 millis").pipe(Schedule.upTo(Duration.millis(busyTimeout))),
      while: (cause) => cause instanceof Sqlite.SqliteError && cause.code === "SQLITE_BUSY"
    }),
    Effect.asVoid,
    Effect.orDie
  )

/** Opens the connection (closed with the scope) and its lock. */
export const make = (options: Options): Effect.Effect<Shared, never, Scope.Scope> =>
  Effect.gen(function*() {
    const db = new Sqlite(options.filename, { readonly: options.readonly })
    yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
    // Read-only: the journal mode is the file's own (setting WAL would be a write).
    if (!options.readonly) yield* switchToWal(db, options.busyTimeout)
    const prepare = statementCache(db)
    const connection = makeConnection(db, prepare)

    const semaphore = yield* Effect.makeSemaphore(1)
    // Statements through the client hold the permit only to get the connection (they run
    // synchronously); a transaction holds it until it ends. Counted, so that `use` sees at once
    // that none is open and runs without taking the permit.
    let transactions = 0
    const acquirer = semaphore.withPermits(1)(Effect.succeed(connection))
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(
          restore(semaphore.take(1)),
          Effect.tap(Effect.scope, (scope) => {
            transactions++
            return Scope.addFinalizer(scope, Effect.zipRight(Effect.sync(() => transactions--), semaphore.release(1)))
          })
        ),
        connection
      )
    )

    // A projection batch's lazy transaction (`LazyTransaction`) stands for this connection once
    // begun: the store's statements join it, beginning it first, as they would join a transaction
    // opened through the client.
    const heldBy = (fiber: Fiber.RuntimeFiber<unknown, unknown>): Effect.Effect<boolean, SqlError> => {
      const held = Context.getOption(fiber.currentContext, SqlClient.TransactionConnection)
      if (Option.isNone(held)) return Effect.succeed(false)
      const lazy = LazyTransaction.underlying(held.value[0])
      if (Option.isSome(lazy)) return Effect.map(lazy.value, (begun) => begun === connection)
      return Effect.succeed(transactions > 0 && held.value[0] === connection)
    }
    const locked = <A>(body: () => A) => semaphore.withPermits(1)(Effect.suspend(() => runNow(body)))
    const use = <A>(body: () => A): Effect.Effect<A, SqlError> =>
      Effect.withFiberRuntime((fiber) => {
        const held = Context.getOption(fiber.currentContext, SqlClient.TransactionConnection)
        if (Option.isNone(held)) return transactions === 0 ? runNow(body) : locked(body)
        if (transactions === 0 && held.value[0] === connection) return runNow(body)
        return Effect.flatMap(heldBy(fiber), (mine) => mine || transactions === 0 ? runNow(body) : locked(body))
      })
    const sync: SyncConnection = {
      all: (text, params) => {
        const statement = prepare(text)
        if (statement.reader) return statement.all(...params)
        statement.run(...params)
        return []
      },
      run: (text, params) => prepare(text).run(...params),
      transaction: (body) => db.transaction(body).immediate(),
      use,
      heldBy
    }
    return { sync, connection, acquirer, transactionAcquirer }
  })

/**
 * The `@effect/sql` connection. `SqlClient.SafeIntegers` applies to the one statement it runs
 * with: the cached statement is switched back, so that the store's reads of the same text are
 * not affected.
 */
const makeConnection = (db: Sqlite.Database, prepare: (text: string) => Sqlite.Statement): SqlConnection.Connection => {
  const execute = (statement: Sqlite.Statement, params: ReadonlyArray<unknown>, raw: boolean) =>
    Effect.withFiberRuntime<ReadonlyArray<any>, SqlError>((fiber) => {
      const safeIntegers = Context.get(fiber.currentContext, SqlClient.SafeIntegers)
      if (safeIntegers) statement.safeIntegers(true)
      try {
        if (statement.reader) return Effect.succeed(statement.all(...params))
        const result = statement.run(...params)
        return Effect.succeed(raw ? result as unknown as ReadonlyArray<any> : [])
      } catch (cause) {
        return Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
      } finally {
        if (safeIntegers) statement.safeIntegers(false)
      }
    })
  const prepared = (text: string) => Effect.try({ try: () => prepare(text), catch: failed("Failed to prepare statement") })
  const unprepared = (text: string) => Effect.try({ try: () => db.prepare(text), catch: failed("Failed to prepare statement") })
  const rows = (statement: Effect.Effect<Sqlite.Statement, SqlError>, params: ReadonlyArray<unknown>, raw = false) =>
    Effect.flatMap(statement, (statement) => execute(statement, params, raw))
  return {
    execute: (text, params, transformRows) =>
      transformRows ? Effect.map(rows(prepared(text), params), transformRows) : rows(prepared(text), params),
    executeRaw: (text, params) => rows(prepared(text), params, true),
    executeValues: (text, params) =>
      Effect.flatMap(prepared(text), (statement) =>
        Effect.try({
          try: () => {
            if (!statement.reader) {
              statement.run(...params)
              return []
            }
            try {
              return statement.raw(true).all(...params) as ReadonlyArray<ReadonlyArray<unknown>>
            } finally {
              statement.raw(false)
            }
          },
          catch: failed("Failed to execute statement")
        })),
    executeUnprepared: (text, params, transformRows) =>
      transformRows ? Effect.map(rows(unprepared(text), params ?? []), transformRows) : rows(unprepared(text), params ?? []),
    // better-sqlite3 cannot run another statement on the connection while an iterator is open on
    // it, and a stream would hold it for as long as its consumer takes: the rows are read at once
    // (under the client's lock, like any statement) and then streamed.
    executeStream: (text, params, transformRows) =>
      Stream.flatMap(
        Stream.fromEffect(rows(prepared(text), params)),
        (result) => Stream.fromIterable(transformRows ? transformRows(result) : result)
      )
  }
}
