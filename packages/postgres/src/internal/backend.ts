/**
 * The PostgreSQL backend of the shared SQL store: the store's statements go through the
 * `@effect/sql-pg` client (its pool), appends are one conditional statement (`append.ts`) and
 * wake other processes' subscribers after they commit (`notifier.ts`, `listen.ts`), and one-shot
 * reads first wait for transactions in flight (`catchUp.ts`). Every statement is tried again
 * when the server had closed its connection, or a cancel its caller did not ask for stopped it
 * (`reconnect.ts`). With replicas, the reads of events
 * and snapshots may run on one of them (`replicas.ts`).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as SqlBackend from "@eventuali/sql/SqlBackend"
import * as SqlErrors from "@eventuali/sql/SqlErrors"
import { Effect, Option, type Scope, type Stream } from "effect"
import type * as Pg from "pg"
import * as Append from "./append.js"
import * as CatchUp from "./catchUp.js"
import * as Notifier from "./notifier.js"
import type * as Replicas from "./replicas.js"
import { retryOnClosedOrCancelled } from "./reconnect.js"
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
  /** Where the store's reads may go instead of the primary (`replicas.ts`). */
  readonly replicas?: Replicas.Replicas | undefined
  /** Whether the schema's tables are one tenant's views of shared tables (`conjoined.ts`). */
  readonly conjoined?: boolean | undefined
  /** The server's notification sender, shared by its tenants (`notifier.ts`); default: the store's own. */
  readonly sender?: Notifier.Sender | undefined
}

/**
 * The statements a replica may run: the reads of events and snapshots. Not the stream head and
 * the stored ids (they explain a refused append: the primary's answer), nor versions (appends and
 * the data lifecycle decide on them), nor the key lookups (a forgotten subject must read as
 * forgotten at once).
 */
const replicaReads = (statements: SqlBackend.Statements): ReadonlySet<string> =>
  new Set([
    ...eventReads(statements),
    statements.readSnapshot,
    statements.logHead,
    statements.listStreams,
    statements.firstVersionSince
  ])

/** The statements that read events (their rows: `SqlBackend.EVENT_COLUMNS`), run by `Run.events`. */
const eventReads = (statements: SqlBackend.Statements): ReadonlySet<string> => {
  const texts = new Set([statements.readStream, statements.readArchived])
  const shapes = ["none", "one", "many"] as const
  for (const aggregateTypes of shapes) {
    for (const eventTypes of shapes) {
      for (const limited of [false, true]) texts.add(statements.readAll({ aggregateTypes, eventTypes, limited }))
    }
  }
  return texts
}

/**
 * The statements that remove what a replica read could still return (the data lifecycle's), each
 * with whether it returns a row per removed row (then one that returned none changed nothing).
 * Not `archiveCopy`: the `archiveRemove` that follows it is what changes the reads.
 */
const removals = (statements: SqlBackend.Statements): ReadonlyMap<string, boolean> =>
  new Map([
    [statements.removeEvents, true],
    [statements.removeArchivedEvents, true],
    [statements.archiveRemove, true],
    [statements.removeTombstone, true],
    [statements.removeSnapshot, false]
  ])

/** The backend on the client; its notifier lives as long as the scope. */
export const make = (
  sql: SqlClient.SqlClient,
  pool: Pg.Pool,
  options: Options
): Effect.Effect<SqlBackend.SqlBackend, never, Scope.Scope> =>
  Effect.gen(function*() {
    const statements = SqlBackend.statements("pg", options.schema, { conjoined: options.conjoined })
    const run = Statements.make(sql, pool, { prepared: options.preparedStatements })
    const append = Append.make(sql, run, statements, options.schema)
    const notifier = yield* Notifier.make(run, options.channel, options.sender)
    const readsEvents = eventReads(statements)
    const runOn = (target: Statements.Run) => <Row extends object>(text: string, params: ReadonlyArray<unknown>) =>
      retryOnClosedOrCancelled(readsEvents.has(text) ? target.events<Row>(text, params) : target<Row>(text, params))
    const query = runOn(run)
    const catchUp = retryOnClosedOrCancelled(CatchUp.make(sql))
    const replicas = options.replicas
    if (replicas === undefined) {
      return { statements, query, catchUp, notifications: options.notifications, append: appendOn(append, notifier) }
    }
    const onReplica = replicaReads(statements)
    const removing = removals(statements)
    // A caller's transaction reads on its own connection, on the primary.
    const inTransaction = Effect.map(Effect.serviceOption(SqlClient.TransactionConnection), Option.isSome)
    const route = <A>(onReplicaRun: (target: Replicas.Target) => Effect.Effect<A, SqlError>, onPrimary: Effect.Effect<A, SqlError>) =>
      Effect.flatMap(inTransaction, (held) => held ? onPrimary : replicas.read(onReplicaRun, onPrimary))
    /** A removal, then (if it removed anything) its transaction recorded for read-your-writes. */
    const removal = <Row extends object>(text: string, params: ReadonlyArray<unknown>, reportsRows: boolean) =>
      Effect.tap(query<Row>(text, params), (rows) =>
        reportsRows && rows.length === 0
          ? Effect.void
          : Effect.flatMap(inTransaction, (held) => replicas.removed(held)))
    return {
      statements,
      query: <Row extends object>(text: string, params: ReadonlyArray<unknown>) => {
        if (onReplica.has(text)) return route((target) => runOn(target.run)<Row>(text, params), query<Row>(text, params))
        const reportsRows = removing.get(text)
        return reportsRows === undefined ? query<Row>(text, params) : removal<Row>(text, params, reportsRows)
      },
      catchUp: route((target) => target.catchUp, catchUp),
      notifications: options.notifications === undefined ? undefined : replicas.wakeUps(options.notifications),
      append: (request) =>
        Effect.tap(appendOn(append, notifier)(request), (outcome) =>
          Option.match(outcome, {
            onNone: () => Effect.void,
            onSome: (events) => events.length === 0 ? Effect.void : replicas.wrote(events[events.length - 1]!.position)
          }))
    }
  })

/** The backend's append: the statement, then the wake-up of other processes' subscribers. */
const appendOn = (append: ReturnType<typeof Append.make>, notifier: Notifier.Notifier): SqlBackend.SqlBackend["append"] => (request) =>
  Effect.flatMap(Effect.serviceOption(SqlClient.TransactionConnection), (transaction) => {
    const inTransaction = Option.isSome(transaction)
    return Effect.tap(retryOnClosedOrCancelled(append(request, inTransaction)), (outcome) =>
      Option.isNone(outcome) ? Effect.void : inTransaction ? notifier.onCommit : notifier.afterCommit).pipe(
        Effect.mapError(appendError)
      )
  })

