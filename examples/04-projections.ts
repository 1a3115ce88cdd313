/**
 * 04 — Projections: account balances as a SQL table in the store's own database, kept up to date
 * in the background (each batch in one transaction with its checkpoint: exactly once), a live
 * subscription, and a rebuild.
 *
 *   npx tsx examples/04-projections.ts                          # sqlite://.data/demo.db
 *   EVENTUALI_URL=sqlite:///tmp/bank.db npx tsx examples/04-projections.ts
 *
 * The read model lives in SQLite here (05 shows the store on PostgreSQL). Account ids are fresh on
 * every run and the table is created if missing, so it runs again and again on the same file: a
 * second run's projection resumes from the checkpoint the first one stored.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { Config, Console, Context, Effect, Fiber, Layer, Option, Redacted, Schema, Stream } from "effect"
import { SqliteEventStore } from "@eventuali/sqlite"
import { Aggregate, ConnectionString, DatabaseError, EventStore, Projection, ProjectionStore } from "eventuali"

// --- The domain ---------------------------------------------------------------------------------

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}
class Withdrawn extends Schema.TaggedClass<Withdrawn>()("Withdrawn", { amount: Schema.Number }) {}

const Account = Aggregate.make({
  type: "Account",
  events: [Deposited, Withdrawn],
  initialState: { balance: 0 },
  evolve: (state, event) => ({ balance: state.balance + (event._tag === "Deposited" ? event.amount : -event.amount) })
})

// --- The read model: a table written through the store's SqlClient ------------------------------

const AccountBalances = Projection.make({
  name: "account-balances", // the checkpoint's key: keep it stable
  aggregateTypes: ["Account"], // filtered in the database
  handle: (event) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient // inside the batch's transaction
      // `data` is decoded with the registered classes (see BalancesLive).
      const change = event.data instanceof Deposited ? event.data.amount : event.data instanceof Withdrawn ? -event.data.amount : 0
      yield* sql`INSERT INTO account_balances (account_id, balance) VALUES (${event.aggregateId}, ${change})
        ON CONFLICT (account_id) DO UPDATE SET balance = account_balances.balance + excluded.balance`
    }),
  reset: Effect.flatMap(SqlClient.SqlClient, (sql) => sql`DELETE FROM account_balances`)
})

/** The running projection, for `whenCaughtUp` and `rebuild`. */
class Balances extends Context.Tag("examples/Balances")<Balances, Projection.Running<SqlError>>() {}

/** Registers the events, creates the table, and runs the projection in the background, for the life of the layer. */
const BalancesLive = Layer.scoped(
  Balances,
  Effect.gen(function*() {
    const store = yield* EventStore
    yield* store.registerEventClass("Deposited", Deposited)
    yield* store.registerEventClass("Withdrawn", Withdrawn)
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS account_balances (account_id TEXT PRIMARY KEY, balance INTEGER NOT NULL)`
    // The checkpoint is a row in the same database (eventuali_checkpoints): a restart resumes.
    const stored = yield* (yield* ProjectionStore.ProjectionStore).get(AccountBalances.name)
    yield* Console.log(Option.match(stored, {
      onNone: () => `${AccountBalances.name}: no checkpoint yet, starting from the beginning of the log`,
      onSome: (checkpoint) => `${AccountBalances.name}: resuming after position ${checkpoint.position}`
    }))
    return yield* Projection.run(AccountBalances)
  })
)

// --- The walk-through ---------------------------------------------------------------------------

const program = Effect.gen(function*() {
  const store = yield* EventStore
  const sql = yield* SqlClient.SqlClient
  const balances = yield* Balances
  const run = crypto.randomUUID().slice(0, 8)
  const [alice, bob] = [`acc-${run}-alice`, `acc-${run}-bob`]

  const printBalances = Effect.gen(function*() {
    const rows = yield* sql<{ readonly account_id: string; readonly balance: number }>`
      SELECT account_id, balance FROM account_balances WHERE account_id IN ${sql.in([alice, bob])} ORDER BY account_id`
    for (const row of rows) yield* Console.log(`  ${row.account_id}: ${row.balance}`)
  })
  const deposit = (id: string, amount: number) =>
    Effect.flatMap(store.load(Account, id), (loaded) =>
      store.save(Aggregate.apply(Option.getOrElse(loaded, () => Aggregate.empty(Account, id)), new Deposited({ amount }))))
  const withdraw = (id: string, amount: number) =>
    Effect.flatMap(store.loadOrFail(Account, id), (account) => store.save(Aggregate.apply(account, new Withdrawn({ amount }))))

  yield* Console.log("# the projection follows the log in the background")
  yield* deposit(alice, 100)
  yield* withdraw(alice, 30)
  yield* deposit(bob, 50)
  yield* balances.whenCaughtUp // every event committed so far is in the table
  yield* Console.log("balances after whenCaughtUp:")
  yield* printBalances

  yield* Console.log("\n# a live subscription: deposits only, from now on")
  // Take the checkpoint first: the subscription then sees exactly what is written after it.
  const now = yield* store.currentCheckpoint
  const live = yield* store.subscribe({ from: now, aggregateTypes: ["Account"], eventTypes: ["Deposited"] }).pipe(
    Stream.take(2), // ends the subscription after two events
    Stream.runForEach((event) =>
      Console.log(`live: ${event.eventType} ${event.data instanceof Deposited ? event.data.amount : "?"} to ${event.aggregateId}`)
    ),
    Effect.fork
  )
  yield* withdraw(alice, 20) // filtered out in the database
  yield* deposit(alice, 5)
  yield* deposit(bob, 7)
  yield* Fiber.join(live)

  yield* Console.log("\n# rebuild: clear the table and replay the whole log into it")
  yield* balances.rebuild // reset and checkpoint back to the beginning, in one transaction
  yield* balances.whenCaughtUp
  yield* Console.log("balances after rebuild:")
  yield* printBalances
})

// --- Wiring: SQLite from EVENTUALI_URL; the driver layer also provides its SqlClient -------------

const StoreLive = Layer.unwrapEffect(Effect.gen(function*() {
  const url = yield* Config.redacted("EVENTUALI_URL").pipe(Config.withDefault(Redacted.make("sqlite://.data/demo.db")))
  const parsed = yield* ConnectionString.parse(Redacted.value(url))
  if (parsed._tag !== "Sqlite") {
    return yield* new DatabaseError({ message: "04-projections keeps its read model in SQLite: use a sqlite:// EVENTUALI_URL" })
  }
  return SqliteEventStore.layer({ filename: parsed.filename, synchronous: parsed.synchronous })
}))

program.pipe(
  Effect.provide(BalancesLive.pipe(Layer.provideMerge(StoreLive))),
  Effect.zipRight(Console.log("\ndone")),
  Effect.runPromise
)
