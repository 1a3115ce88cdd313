/**
 * 05 — The same store on PostgreSQL: the layer from a postgresql:// URL, save and load, concurrent
 * saves of one aggregate (one wins, the others get OptimisticConcurrencyError), and a live
 * subscription woken through LISTEN/NOTIFY by the commits of a second store (as another process
 * would write).
 *
 *   EVENTUALI_URL='postgresql://user:password@localhost:5432/app?schema=examples' npx tsx examples/05-postgres.ts
 *
 * `?schema=` keeps the store's tables in a schema of their own (created if missing). Ids are fresh
 * on every run, so it runs again and again on the same database.
 */
import { Config, Console, Effect, Fiber, Redacted, Schema, Stream } from "effect"
import { Aggregate, ConnectionString, DatabaseError, EventStore } from "eventuali"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}

const Account = Aggregate.make({
  type: "Account",
  events: [Deposited],
  initialState: { balance: 0 },
  evolve: (state, event) => ({ balance: state.balance + event.amount })
})

const program = (url: Redacted.Redacted<string>) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const accountId = `acc-${crypto.randomUUID().slice(0, 8)}`

    yield* Console.log("# save and load")
    const opened = yield* store.save(Aggregate.apply(Aggregate.empty(Account, accountId), new Deposited({ amount: 100 })))
    const loaded = yield* store.loadOrFail(Account, accountId)
    yield* Console.log(`${loaded.id} at version ${loaded.version}: balance ${loaded.state.balance}`)
    const [first] = yield* store.loadEvents(accountId)
    // Positions carry the writing transaction's id: large, increasing, gap-safe for readers.
    yield* Console.log(`its first event is at position ${first?.position}`)

    yield* Console.log("\n# three concurrent saves from the same version")
    const attempts = yield* Effect.all(
      [10, 20, 30].map((amount) =>
        store.save(Aggregate.apply(opened, new Deposited({ amount }))).pipe(
          Effect.map((saved) => `saved at version ${saved.version}`),
          Effect.catchTag("OptimisticConcurrencyError", (error) =>
            Effect.succeed(`${error._tag}: ${error.message} (actualVersion = ${error.actualVersion})`))
        )
      ),
      { concurrency: "unbounded" }
    )
    for (const line of attempts.sort()) yield* Console.log(line) // exactly one wins, whichever it is

    yield* Console.log("\n# a live subscription, woken by another store's commits")
    const elsewhere = yield* EventStore.create(url) // its own pool: what another process would do
    const now = yield* store.currentCheckpoint
    const live = yield* store.subscribe({ from: now, aggregateTypes: ["Account"] }).pipe(
      Stream.take(3),
      Stream.runForEach((event) => Console.log(`live: ${event.eventType} on ${event.aggregateId} v${event.aggregateVersion}`)),
      Effect.fork
    )
    let account = yield* elsewhere.loadOrFail(Account, accountId)
    for (const amount of [1, 2, 3]) account = yield* elsewhere.save(Aggregate.apply(account, new Deposited({ amount })))
    yield* Fiber.join(live)
  }).pipe(Effect.scoped)

const main = Effect.gen(function*() {
  const url = yield* Config.redacted("EVENTUALI_URL")
  const parsed = yield* ConnectionString.parse(Redacted.value(url))
  if (parsed._tag !== "Postgres") {
    return yield* new DatabaseError({ message: "05-postgres needs a postgresql:// EVENTUALI_URL" })
  }
  yield* Console.log(`# EventStore.layer(${ConnectionString.redact(parsed.url)})\n`)
  yield* program(url).pipe(Effect.provide(EventStore.layer(url)))
  yield* Console.log("\ndone")
})

Effect.runPromise(main)
