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
import * as SqlBackend from "@eventuali/sql/SqlBackend"
import { Context, Effect, Option } from "effect"
import * as Pg from "pg"

/** Runs one of the store's statements, in the caller's transaction when it holds one. */
export interface Run {
  <Row extends object>(text: string, params: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<Row>, SqlError>
  /**
   * Runs one of the reads of events (`SqlBackend.EVENT_COLUMNS`): outside a transaction each
   * column's value is the text the server sent (see {@link EventsQuery}), which the store's row
   * checks read as they read the driver's values.
   */
  readonly events: <Row extends object>(text: string, params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Row>, SqlError>
}

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

/** What node-postgres hands a query for each row: the columns' values, as text (NULL as null). */
interface DataRow {
  readonly fields: ReadonlyArray<string | null>
}

const column = (name: string): number => SqlBackend.EVENT_COLUMNS.indexOf(name)
const POSITION = column("position")
const EVENT_ID = column("event_id")
const EVENT_TYPE = column("event_type")
const EVENT_VERSION = column("event_version")
const AGGREGATE_ID = column("aggregate_id")
const AGGREGATE_TYPE = column("aggregate_type")
const AGGREGATE_VERSION = column("aggregate_version")
const DATA = column("data")
const METADATA = column("metadata")
const TIMESTAMP = column("timestamp")

/**
 * A read of events whose rows are made straight from the values the server sent, as text.
 *
 * Measured hot path (every load and read; docs/performance.md, "PostgreSQL loads"): node-postgres
 * looks up a type parser per column on every statement's row description, then builds each row by
 * copying an empty row object and storing each column under its name through its parser — for a
 * 10-event load, more client CPU than the row checks and the fold together. The store's row checks
 * take integers as text (`packages/sql/src/internal/rows.ts`), and the reads select their columns
 * in the order `SqlBackend.EVENT_COLUMNS` names (JSON and timestamps already as text), so a row is
 * one object literal of the sent values. node-postgres calls these two methods of a query for each
 * row description and row (as it does for `pg-cursor`'s).
 */
class EventsQuery<Row extends object> extends StoreQuery<Row> {
  readonly events: Array<Row> = []
  handleRowDescription(): void {}
  handleDataRow(row: DataRow): void {
    const fields = row.fields
    // The shape the store's row checks read (`EventRow` there); `Row` is what the caller reads it as.
    const event = {
      position: fields[POSITION],
      event_id: fields[EVENT_ID],
      event_type: fields[EVENT_TYPE],
      event_version: fields[EVENT_VERSION],
      aggregate_id: fields[AGGREGATE_ID],
      aggregate_type: fields[AGGREGATE_TYPE],
      aggregate_version: fields[AGGREGATE_VERSION],
      data: fields[DATA],
      metadata: fields[METADATA],
      timestamp: fields[TIMESTAMP]
    }
    this.events.push(event as unknown as Row)
  }
}

/**
 * The runner on `pool`, falling back to `sql` inside a transaction. `prepared: false` runs the
 * statements unnamed, for poolers that cannot keep a connection's named statements (see the
 * `preparedStatements` option).
 */
export const make = (sql: SqlClient.SqlClient, pool: Pg.Pool, options: { readonly prepared: boolean }): Run => {
  const nameFor = options.prepared ? nameOf : () => undefined

  const onPool = <Row extends object>(text: string, params: ReadonlyArray<unknown>, events: boolean) =>
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
        const done = (error: Error | undefined, rows: ReadonlyArray<Row>) => {
          client.off("error", onError)
          if (released) return
          released = true
          release()
          resume(error ? Effect.fail(new SqlError({ cause: error, message: "Failed to execute statement" })) : Effect.succeed(rows))
        }
        const name = nameFor(text)
        const values = params as Array<unknown>
        if (events) {
          const query: EventsQuery<Row> = new EventsQuery<Row>(name, text, values, (error) => done(error, query.events))
          client.query(query)
        } else {
          client.query(new StoreQuery<Row>(name, text, values, (error, result) => done(error, result?.rows)))
        }
      })
    })

  // One step to see whether the fiber holds a transaction (`serviceOption` then `flatMap` are three).
  const runner = (events: boolean) => <Row extends object>(text: string, params: ReadonlyArray<unknown>) =>
    Effect.withFiberRuntime<ReadonlyArray<Row>, SqlError>((fiber) =>
      Option.isSome(Context.getOption(fiber.currentContext, SqlClient.TransactionConnection))
        ? sql.unsafe<Row>(text, params)
        : onPool<Row>(text, params, events)
    )
  return Object.assign(runner(false), { events: runner(true) })
}
