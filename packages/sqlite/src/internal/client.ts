/**
 * The SQLite `SqlClient` of a store: `@effect/sql`'s own client (`SqlClient.make` with its SQLite
 * compiler) over the store's better-sqlite3 connection (`connection.ts`), which the store's own
 * statements also use directly. Built here rather than with `@effect/sql-sqlite-node`'s
 * `SqliteClient.make` because that one opens its connection where nothing else can reach it.
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Statement from "@effect/sql/Statement"
import { Effect, type Scope } from "effect"
import * as Connection from "./connection.js"

/** The database, open: the same connection two ways. */
export interface Opened {
  /** The application's client, for migrations, checkpoints and read models. */
  readonly client: SqlClient.SqlClient
  /** The same connection for the store's own statements. */
  readonly connection: Connection.SyncConnection
}

/** Opens the database (closed with the scope) and builds the client on its connection. */
export const make = (options: Connection.Options): Effect.Effect<Opened, never, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const shared = yield* Connection.make(options)
    const client = yield* SqlClient.make({
      acquirer: shared.acquirer,
      transactionAcquirer: shared.transactionAcquirer,
      compiler: Statement.makeCompilerSqlite(),
      spanAttributes: [["db.system.name", "sqlite"]]
    })
    return { client, connection: shared.sync }
  })
