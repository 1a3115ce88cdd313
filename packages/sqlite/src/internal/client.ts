/**
 * The SQLite client: `@effect/sql-sqlite-node`'s client, built here so that the store can also
 * use its connection synchronously. It is that package's `SqliteClient.make` (one better-sqlite3
 * connection behind a one-permit semaphore, a prepared-statement cache, WAL), plus a
 * `SyncConnection` that runs statements on the same connection, respecting the same semaphore:
 * the store's own statements skip `@effect/sql`'s per-statement pipeline, which costs more than
 * most of them take to run.
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type { Session, SyncConnection } from "@eventuali/sql/SyncConnection"
import Sqlite from "better-sqlite3"
import { Cache, Context, Duration, Effect, Scope } from "effect"

export interface Options {
  readonly filename: string
  readonly readonly: boolean
}

const failed = (message: string) => (cause: unknown) => new SqlError({ cause, message })

export const make = (
  options: Options
): Effect.Effect<{ readonly client: SqliteClient.SqliteClient; readonly connection: SyncConnection }, never, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const db = new Sqlite(options.filename, { readonly: options.readonly })
    yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
    // Read-only: the journal mode is the file's own (setting WAL would be a write).
    if (!options.readonly) db.pragma("journal_mode = WAL")

    const prepareCache = yield* Cache.make({
      capacity: 200,
      timeToLive: Duration.minutes(10),
      lookup: (sql: string) => Effect.try({ try: () => db.prepare(sql), catch: failed("Failed to prepare statement") })
    })

    const runStatement = (statement: Sqlite.Statement, params: ReadonlyArray<unknown>, raw: boolean) =>
      Effect.withFiberRuntime<ReadonlyArray<any>, SqlError>((fiber) => {
        if (Context.get(fiber.currentContext, Client.SafeIntegers)) statement.safeIntegers(true)
        try {
          if (statement.reader) return Effect.succeed(statement.all(...params))
          const result = statement.run(...params)
          return Effect.succeed(raw ? result as unknown as ReadonlyArray<any> : [])
        } catch (cause) {
          return Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
        }
      })

    const run = (sql: string, params: ReadonlyArray<unknown>, raw = false) =>
      Effect.flatMap(prepareCache.get(sql), (statement) => runStatement(statement, params, raw))

    const connection: Connection = {
      execute: (sql, params, transformRows) =>
        transformRows ? Effect.map(run(sql, params), transformRows) : run(sql, params),
      executeRaw: (sql, params) => run(sql, params, true),
      executeValues: (sql, params) =>
        Effect.acquireUseRelease(
          prepareCache.get(sql),
          (statement) =>
            Effect.try({
              try: () => {
                if (statement.reader) {
                  statement.raw(true)
                  return statement.all(...params) as ReadonlyArray<ReadonlyArray<unknown>>
                }
                statement.run(...params)
                return []
              },
              catch: failed("Failed to execute statement")
            }),
          (statement) => Effect.sync(() => statement.reader && statement.raw(false))
        ),
      executeUnprepared: (sql, params, transformRows) => {
        const effect = Effect.flatMap(
          Effect.try({ try: () => db.prepare(sql), catch: failed("Failed to prepare statement") }),
          (statement) => runStatement(statement, params ?? [], false)
        )
        return transformRows ? Effect.map(effect, transformRows) : effect
      },
      executeStream: () => Effect.dieMessage("executeStream not implemented")
    }

    const semaphore = yield* Effect.makeSemaphore(1)
    // Statements hold the permit only to get the connection (they run synchronously); a
    // transaction holds it until it ends. Counted, so that the store's statements can see at
    // once that no transaction is open and run without taking the permit.
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
    const sqlClient = yield* Client.make({
      acquirer,
      compiler: Statement.makeCompilerSqlite(),
      transactionAcquirer,
      spanAttributes: [["db.system.name", "sqlite"]]
    })
    const config: SqliteClient.SqliteClientConfig = { filename: options.filename, readonly: options.readonly, disableWAL: options.readonly }
    // Typed as SqliteClient (whose `updateValues` SQLite lacks) the way SqliteClient.make does.
    const client: SqliteClient.SqliteClient = Object.assign(sqlClient as SqliteClient.SqliteClient, {
      [SqliteClient.TypeId]: SqliteClient.TypeId as SqliteClient.TypeId,
      config,
      export: semaphore.withPermits(1)(Effect.try({ try: () => db.serialize(), catch: failed("Failed to export database") })),
      backup: (destination: string) =>
        semaphore.withPermits(1)(Effect.tryPromise({ try: () => db.backup(destination), catch: failed("Failed to backup database") })),
      loadExtension: (path: string) =>
        semaphore.withPermits(1)(Effect.zipRight(
          Effect.try({ try: () => db.loadExtension(path), catch: failed("Failed to load extension") }),
          prepareCache.invalidateAll
        ))
    })

    // The store's statements, prepared once each: a bounded set of texts (the SQL store builds them).
    const prepared = new Map<string, Sqlite.Statement>()
    const prepare = (text: string) => {
      let statement = prepared.get(text)
      if (statement === undefined) {
        statement = db.prepare(text)
        prepared.set(text, statement)
      }
      return statement
    }
    const session: Session = {
      all: (text, params) => {
        const statement = prepare(text)
        if (statement.reader) return statement.all(...params)
        statement.run(...params)
        return []
      },
      run: (text, params) => prepare(text).run(...params),
      transaction: <A>(body: () => A): A => db.transaction(body).immediate()
    }
    // Synchronous: nothing can start a transaction while it runs.
    const exclusive = <A>(body: (session: Session) => A) => {
      const run = Effect.try({ try: () => body(session), catch: failed("Failed to execute statement") })
      return Effect.suspend(() => transactions === 0 ? run : semaphore.withPermits(1)(run))
    }
    return { client, connection: { exclusive } }
  })
