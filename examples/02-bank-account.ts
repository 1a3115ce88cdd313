/**
 * 02 — A bank account as a decider (see BankAccount.ts), driven by CommandHandler: commands,
 * typed domain errors, concurrent withdrawals resolved by retries, and causation/correlation
 * ids that link a transfer's two halves.
 *
 *   npx tsx examples/02-bank-account.ts                                # sqlite://.data/demo.db
 *   EVENTUALI_URL=sqlite://:memory: npx tsx examples/02-bank-account.ts
 *
 * Tests of the decider: test/bank-account.test.ts.
 */
import { Config, Console, Effect, Option, Redacted, Schedule } from "effect"
import { Causation, CommandHandler, ConnectionString, EventStore, type OptimisticConcurrencyError } from "eventuali"
import { BankAccount, CloseAccount, Deposit, OpenAccount, Withdraw } from "./BankAccount.js"

const program = Effect.gen(function*() {
  const store = yield* EventStore
  const run = crypto.randomUUID().slice(0, 8)
  const checking = `checking-${run}`
  const savings = `savings-${run}`

  yield* Console.log("\n# Commands: load, decide, save")
  const opened = yield* CommandHandler.handle(BankAccount, checking, new OpenAccount({ owner: "Ada" }))
  yield* Console.log(`opened ${checking} for ${opened.root.state.owner} (version ${opened.root.version})`)
  const deposited = yield* CommandHandler.handle(BankAccount, checking, new Deposit({ amount: 100 }))
  yield* Console.log(`deposited 100: balance ${deposited.root.state.balance} (version ${deposited.root.version})`)

  yield* Console.log("\n# Domain errors are typed values; nothing is saved")
  yield* CommandHandler.handle(BankAccount, checking, new Withdraw({ amount: 500 })).pipe(
    Effect.catchTag("InsufficientFunds", (error) =>
      Console.log(`withdraw 500: refused, ${error._tag} (balance ${error.balance} < ${error.amount})`))
  )
  yield* CommandHandler.handle(BankAccount, checking, new Deposit({ amount: -5 })).pipe(
    Effect.catchTag("InvalidAmount", (error) => Console.log(`deposit -5: refused, ${error._tag}`))
  )
  const version = yield* store.getAggregateVersion(checking)
  yield* Console.log(`still at version ${Option.getOrElse(version, () => 0)}`)

  yield* Console.log("\n# Five tellers withdraw 30 at once")
  // Each load answers 20 ms late, as over a slow network, so the tellers' reads overlap: they
  // all decide on the same version, one save wins, the others conflict and decide again.
  const slowStore: typeof store = {
    ...store,
    load: (definition, id) => Effect.zipLeft(store.load(definition, id), Effect.sleep("20 millis"))
  }
  const teller = (n: number) =>
    CommandHandler.handle(BankAccount, checking, new Withdraw({ amount: 30 }), {
      // The default schedule (jittered exponential, 5 retries), announcing each retry.
      retry: CommandHandler.defaultRetry.pipe(
        Schedule.tapInput((conflict: OptimisticConcurrencyError) =>
          Console.log(`  teller ${n}: conflict, the account is at version ${conflict.actualVersion}; deciding again`))
      )
    }).pipe(
      Effect.as("paid"),
      Effect.catchTag("InsufficientFunds", () => Effect.succeed("refused"))
    )
  const outcomes = yield* Effect.all([1, 2, 3, 4, 5].map(teller), { concurrency: "unbounded" }).pipe(
    Effect.provideService(EventStore, slowStore)
  )
  const afterTellers = yield* store.loadOrFail(BankAccount, checking)
  yield* Console.log(
    `withdrawals: ${outcomes.filter((o) => o === "paid").length} paid, ${
      outcomes.filter((o) => o === "refused").length
    } refused (insufficient funds)`
  )
  yield* Console.log(`balance ${afterTellers.state.balance} at version ${afterTellers.version}`)

  yield* Console.log("\n# Causation and correlation: a transfer to savings")
  yield* CommandHandler.handle(BankAccount, savings, new OpenAccount({ owner: "Ada" }))
  const transfer = `transfer-${run}`
  yield* Effect.gen(function*() {
    const { root } = yield* CommandHandler.handle(BankAccount, checking, new Withdraw({ amount: 10 }))
    // The withdrawal causes the deposit: in a process manager, `withdrawn` is the event it handles.
    const [withdrawn] = yield* store.loadEvents(checking, root.version - 1)
    yield* CommandHandler.handle(BankAccount, savings, new Deposit({ amount: 10 })).pipe(Causation.causedBy(withdrawn!))
  }).pipe(Causation.withCorrelation(transfer))
  const [withdrawal] = yield* store.loadEvents(checking, afterTellers.version)
  const [, deposit] = yield* store.loadEvents(savings)
  for (const event of [withdrawal!, deposit!]) {
    yield* Console.log(
      `${event.eventType} ${event.eventId.slice(0, 8)} on ${event.aggregateId.split("-")[0]}: correlation ${
        event.metadata.correlationId
      }, caused by ${event.metadata.causationId?.slice(0, 8) ?? "-"}`
    )
  }
  yield* Console.log(
    `linked: ${deposit!.metadata.causationId === withdrawal!.eventId && deposit!.metadata.correlationId === transfer}`
  )

  yield* Console.log("\n# Closing")
  yield* CommandHandler.handle(BankAccount, savings, new CloseAccount()).pipe(
    Effect.catchTag("BalanceNotZero", (error) => Console.log(`close savings: refused, ${error._tag} (${error.balance})`))
  )
  const closed = yield* CommandHandler.handle(BankAccount, checking, new CloseAccount())
  yield* Console.log(`closed ${checking} at version ${closed.root.version} (${closed.root.state.status})`)
  const again = yield* CommandHandler.handle(BankAccount, checking, new CloseAccount())
  yield* Console.log(`closing again decides nothing: ${again.events.length} events, version ${again.root.version}`)
  yield* CommandHandler.handle(BankAccount, checking, new Deposit({ amount: 1 })).pipe(
    Effect.catchTag("AccountIsClosed", (error) => Console.log(`deposit after closing: refused, ${error._tag}`))
  )
})

const url = Config.redacted("EVENTUALI_URL").pipe(Config.withDefault(Redacted.make("sqlite://.data/demo.db")))

const main = Effect.gen(function*() {
  yield* Console.log(`# EventStore.layerConfig(${ConnectionString.redact(Redacted.value(yield* url))})`)
  yield* program
  yield* Console.log("\ndone")
}).pipe(Effect.provide(EventStore.layerConfig(url)))

Effect.runPromise(main)
