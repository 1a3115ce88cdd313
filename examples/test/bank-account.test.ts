/**
 * The bank account decider of `02-bank-account.ts`, specified given/when/then (pure), plus the
 * command handler against a fresh in-memory store.
 */
import { describe, expect, it } from "@effect/vitest"
import { DeciderSpec, TestEventStore } from "@eventuali/testing"
import { Effect, Ref, Schedule } from "effect"
import { Causation, CommandHandler, EventStore } from "eventuali"
import {
  AccountAlreadyOpen,
  AccountClosed,
  AccountIsClosed,
  AccountNotOpen,
  AccountOpened,
  BalanceNotZero,
  BankAccount,
  CloseAccount,
  Deposit,
  InsufficientFunds,
  InvalidAmount,
  MoneyDeposited,
  MoneyWithdrawn,
  OpenAccount,
  Withdraw
} from "../BankAccount.js"

const given = DeciderSpec.make(BankAccount)
const opened = new AccountOpened({ owner: "Ada" })
const deposited = (amount: number) => new MoneyDeposited({ amount })

describe("BankAccount decider", () => {
  describe("open", () => {
    it.effect("a new account opens", () =>
      given([]).when(new OpenAccount({ owner: "Ada" })).then([new AccountOpened({ owner: "Ada" })]))

    it.effect("an open account cannot open again", () =>
      given([opened]).when(new OpenAccount({ owner: "Bob" })).thenFails(new AccountAlreadyOpen()))
  })

  describe("deposit", () => {
    it.effect("money goes into an open account", () =>
      given([opened]).when(new Deposit({ amount: 50 })).then([deposited(50)]))

    it.effect("not into an account that was never opened", () =>
      given([]).when(new Deposit({ amount: 50 })).thenFails(new AccountNotOpen()))

    it.effect("not into a closed account", () =>
      given([opened, new AccountClosed()]).when(new Deposit({ amount: 50 })).thenFails(new AccountIsClosed()))

    it.effect("only positive amounts", () =>
      given([opened]).when(new Deposit({ amount: 0 })).thenFails(new InvalidAmount({ amount: 0 })))
  })

  describe("withdraw", () => {
    it.effect("up to the balance", () =>
      given([opened, deposited(100), new MoneyWithdrawn({ amount: 40 })])
        .when(new Withdraw({ amount: 60 }))
        .then([new MoneyWithdrawn({ amount: 60 })]))

    it.effect("not more than the balance: insufficient funds", () =>
      given([opened, deposited(100), new MoneyWithdrawn({ amount: 40 })])
        .when(new Withdraw({ amount: 61 }))
        .thenFails(new InsufficientFunds({ balance: 60, amount: 61 })))

    it.effect("only positive amounts", () =>
      given([opened, deposited(100)]).when(new Withdraw({ amount: -1 })).thenFails(new InvalidAmount({ amount: -1 })))
  })

  describe("close", () => {
    it.effect("an empty account closes", () =>
      given([opened, deposited(10), new MoneyWithdrawn({ amount: 10 })]).when(new CloseAccount()).then([new AccountClosed()]))

    it.effect("not while money is left", () =>
      given([opened, deposited(10)]).when(new CloseAccount()).thenFails(new BalanceNotZero({ balance: 10 })))

    it.effect("closing a closed account decides nothing", () =>
      given([opened, new AccountClosed()]).when(new CloseAccount()).then([]))
  })
})

describe("BankAccount with a store", () => {
  // No delays between retries: these tests run on the test clock.
  const retry = Schedule.recurs(5)

  it.effect("concurrent withdrawals are decided again on conflict: never more than the balance", () =>
    Effect.gen(function*() {
      yield* TestEventStore.given(BankAccount, "acc-1", [opened, deposited(100)])
      const store = yield* EventStore
      const conflicts = yield* Ref.make(0)
      const countingRetry = retry.pipe(Schedule.tapInput(() => Ref.update(conflicts, (n) => n + 1)))
      // Loads that yield before answering, so the five withdrawals read the same version.
      const interleaved: typeof store = {
        ...store,
        load: (definition, id) => Effect.zipLeft(store.load(definition, id), Effect.yieldNow())
      }
      const outcomes = yield* Effect.all(
        [1, 2, 3, 4, 5].map(() =>
          CommandHandler.handle(BankAccount, "acc-1", new Withdraw({ amount: 30 }), { retry: countingRetry }).pipe(
            Effect.as("paid"),
            Effect.catchTag("InsufficientFunds", () => Effect.succeed("refused"))
          )
        ),
        { concurrency: "unbounded" }
      ).pipe(Effect.provideService(EventStore, interleaved))
      expect(outcomes.filter((outcome) => outcome === "paid")).toHaveLength(3)
      const account = yield* store.loadOrFail(BankAccount, "acc-1")
      expect(account.state.balance).toBe(10)
      expect(account.version).toBe(5)
      // All five read version 2: four lost the first race, three the second, two the third.
      expect(yield* Ref.get(conflicts)).toBe(9)
    }).pipe(TestEventStore.provide))

  it.effect("a transfer's deposit is caused by its withdrawal, under one correlation id", () =>
    Effect.gen(function*() {
      yield* TestEventStore.given(BankAccount, "checking", [opened, deposited(100)])
      yield* TestEventStore.given(BankAccount, "savings", [opened])
      const store = yield* EventStore
      yield* Effect.gen(function*() {
        yield* CommandHandler.handle(BankAccount, "checking", new Withdraw({ amount: 10 }))
        const [withdrawn] = yield* store.loadEvents("checking", 2)
        yield* CommandHandler.handle(BankAccount, "savings", new Deposit({ amount: 10 })).pipe(Causation.causedBy(withdrawn!))
      }).pipe(Causation.withCorrelation("transfer-1"))
      const [withdrawal] = yield* store.loadEvents("checking", 2)
      const [depositEvent] = yield* store.loadEvents("savings", 1)
      expect(withdrawal!.metadata).toEqual({ correlationId: "transfer-1", headers: {} })
      expect(depositEvent!.metadata).toEqual({ correlationId: "transfer-1", causationId: withdrawal!.eventId, headers: {} })
    }).pipe(TestEventStore.provide))
})
