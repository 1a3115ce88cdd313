/**
 * The PostgreSQL backend of the shared SQL store: the store's statements go through the
 * `@effect/sql-pg` client (its pool), appends are one conditional statement (`append.ts`) and
 * wake other processes' subscribers after they commit (`notifier.ts`, `listen.ts`), and one-shot
 * reads first wait for transactions in flight (`catchUp.ts`). Every statement is tried once more
 * when the server had closed its connection (`reconnect.ts`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as SqlBackend from "@eventuali/sql/SqlBackend"
import * as SqlErrors from "@eventuali/sql/SqlErrors"
import { Effect, Option, type Scope, type Stream } from "effect"
import type * as Pg from "pg"
import * as Append from "./append.js"
import * as CatchUp from "./catchUp.js"
import * as Notifier from "./notifier.js"
import { retryOnClosedConnection } from "./reconnect.js"
import * as Statements from "./statements.js"

const appendError = SqlErrors.toDatabaseError("Appending events")

/** What the driver settled before building the backend. */
export interface Options {
  readonly schema: string | undefined
  /** The notification channel of the store (see `Tables.channel`). */
  readonly channel: string
  /** Wake-ups from other processes' appends (`listen.ts`). */
  readonly notifications: Stream.Stream<void> | undefined
  /** Whether the store's statements run as named (prepared) statements (`statements.ts`). */
  readonly preparedStatements: boolean
}

/** The backend on the client; its notifier lives as long as the scope. */
export const make = (
  sql: SqlClient.SqlClient,
  pool: Pg.Pool,
  options: Options
): Effect.Effect<SqlBackend.SqlBackend, never, Scope.Scope> =>
  Effect.gen(function*() {
    const statements = SqlBackend.statements("pg", options.schema)
    const run = Statements.make(sql, pool, { prepared: options.preparedStatements })
    const append = Append.make(sql, run, statements, options.schema)
    const notifier = yield* Notifier.make(run, options.channel)
    return {
      statements,
      query: <Row extends object>(text: string, params: ReadonlyArray<unknown>) =>
        retryOnClosedConnection(run<Row>(text, params)),
      append: (request) =>
        Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) => {
          const inTransaction = Option.isSome(transaction)
          return Effect.tap(retryOnClosedConnection(append(request, inTransaction)), (outcome) =>
            Option.isNone(outcome) ? Effect.void : inTransaction ? notifier.onCommit : (process.env.NO_NOTIFY ? Effect.void : notifier.afterCommit)).pipe(
              Effect.mapError(appendError)
            )
        }),
      catchUp: retryOnClosedConnection(CatchUp.make(sql)),
      notifications: options.notifications
    }
  })
