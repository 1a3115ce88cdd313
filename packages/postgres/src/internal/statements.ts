/**
 * How the store runs its own statements (the append, the reads): outside a caller's transaction,
 * directly on a pooled `pg` connection as NAMED statements, which each connection parses and
 * plans once and then only binds and executes; inside one, through `@effect/sql` on that
 * transaction's connection. The same text either way.
 *
 * Measured hot path (docs/performance.md, "PostgreSQL: what each change bought"): unnamed
 * statements make the server parse and plan the append on every call (its planning took longer
 * than its execution), and `@effect/sql-pg`'s per-statement pipeline (spans, the connection's
 * Effect wrapper, interruption by `pg_cancel_backend`) costs more client CPU than the rest of a
 * save. A statement run here is not cancelled on the server when its fiber is interrupted; the
 * store's statements are short, and the answer is then dropped.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import { Effect, Option } from "effect"
import * as Pg from "pg"

/** Runs one of the store's statements, in the caller's transaction when it holds one. */
export type Run = <Row extends object>(text: string, params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Row>, SqlError>

/**
 * One name per text for the process's life: a connection prepares a name once and reuses it.
 * Per process, not per store: stores sharing a pool (the tenants of one server, `PgTenants`) have
 * different texts (their schemas), and node-postgres refuses a name prepared for another text.
 */
const names = new Map<string, string>()
const nameOf = (text: string): string => {
  let name = names.get(text)
  if (name === undefined) {
    name = `eventuali_${names.size + 1}`
    names.set(text, name)
  }
  return name
}

/**
 * A query of the store's, made from its text: node-postgres copies a query given as a config
 * object property by property (`cloneQueryConfig`, 3–6 µs per statement measured here, more than
 * parsing a load's rows), but takes a `Query` as it is. Its name is set after the constructor, which
 * takes the name only from a config object.
 */
class StoreQuery<Row extends object> extends Pg.Query<Row> {
  declare name: string | undefined
  constructor(
    name: string | undefined,
    text: string,
    values: Array<unknown>,
    callback: (error: Error | undefined, result: Pg.QueryResult<Row>) => void
  ) {
    super(text, values, callback)
    this.name = name
  }
}

/**
 * The runner on `pool`, falling back to `sql` inside a transaction. `prepared: false` runs the
 * statements unnamed, for poolers that cannot keep a connection's named statements (see the
 * `preparedStatements` option).
 */
export const make = (sql: SqlClient.SqlClient, pool: Pg.Pool, options: { readonly prepared: boolean }): Run => {
  const nameFor = options.prepared ? nameOf : () => undefined

  const onPool = <Row extends object>(text: string, params: ReadonlyArray<unknown>) =>
    Effect.async<ReadonlyArray<Row>, SqlError>((resume) => {
      pool.connect((connectError, client, release) => {
        if (connectError !== undefined || client === undefined) {
          return resume(Effect.fail(new SqlError({ cause: connectError, message: "Failed to acquire connection" })))
        }
        // A connection that breaks during the statement leaves the pool (released with the error);
        // one whose statement failed (a unique violation, …) is fine and returns to it.
        let released = false
        const onError = (error: Error) => {
          if (released) return
          released = true
          release(error)
          resume(Effect.fail(new SqlError({ cause: error, message: "Connection error" })))
        }
        client.once("error", onError)
        client.query(
          new StoreQuery<Row>(nameFor(text), text, params as Array<unknown>, (error, result) => {
            client.off("error", onError)
            if (released) return
            released = true
            release()
            resume(
              error ? Effect.fail(new SqlError({ cause: error, message: "Failed to execute statement" })) : Effect.succeed(result.rows)
            )
          })
        )
      })
    })

  return <Row extends object>(text: string, params: ReadonlyArray<unknown>) =>
    Effect.flatMap(
      Effect.serviceOption(SqlClient.TransactionConnection),
      (transaction) => Option.isSome(transaction) ? sql.unsafe<Row>(text, params) : onPool<Row>(text, params)
    )
}
