/**
 * A bank account as a decider: events (what happened), commands (what is asked), domain errors
 * (why a command is refused), `evolve` and `decide`. Pure: no store here. Used by
 * `02-bank-account.ts` and tested in `test/bank-account.test.ts`.
 */
import { Data, Effect, Schema } from "effect"
import { Aggregate } from "eventuali"

// --- Events --------------------------------------------------------------------------------------

export class AccountOpened extends Schema.TaggedClass<AccountOpened>()("AccountOpened", { owner: Schema.String }) {}
export class MoneyDeposited extends Schema.TaggedClass<MoneyDeposited>()("MoneyDeposited", { amount: Schema.Positive }) {}
export class MoneyWithdrawn extends Schema.TaggedClass<MoneyWithdrawn>()("MoneyWithdrawn", { amount: Schema.Positive }) {}
export class AccountClosed extends Schema.TaggedClass<AccountClosed>()("AccountClosed", {}) {}

// --- Commands ------------------------------------------------------------------------------------

export class OpenAccount extends Data.TaggedClass("OpenAccount")<{ readonly owner: string }> {}
export class Deposit extends Data.TaggedClass("Deposit")<{ readonly amount: number }> {}
export class Withdraw extends Data.TaggedClass("Withdraw")<{ readonly amount: number }> {}
export class CloseAccount extends Data.TaggedClass("CloseAccount")<{}> {}

export type AccountCommand = OpenAccount | Deposit | Withdraw | CloseAccount

// --- Domain errors -------------------------------------------------------------------------------

export class AccountAlreadyOpen extends Data.TaggedError("AccountAlreadyOpen")<{}> {}
export class AccountNotOpen extends Data.TaggedError("AccountNotOpen")<{}> {}
export class AccountIsClosed extends Data.TaggedError("AccountIsClosed")<{}> {}
export class InvalidAmount extends Data.TaggedError("InvalidAmount")<{ readonly amount: number }> {}
export class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{
  readonly balance: number
  readonly amount: number
}> {}
export class BalanceNotZero extends Data.TaggedError("BalanceNotZero")<{ readonly balance: number }> {}

// --- State and fold ------------------------------------------------------------------------------

export interface AccountState {
  readonly status: "new" | "open" | "closed"
  readonly owner: string
  readonly balance: number
}

const initialState: AccountState = { status: "new", owner: "", balance: 0 }

/** How a snapshot stores the state (bump the snapshot version when this or `evolve` changes). */
const AccountStateSchema = Schema.Struct({
  status: Schema.Literal("new", "open", "closed"),
  owner: Schema.String,
  balance: Schema.Number
})

const evolve = (state: AccountState, event: AccountOpened | MoneyDeposited | MoneyWithdrawn | AccountClosed): AccountState => {
  switch (event._tag) {
    case "AccountOpened":
      return { ...state, status: "open", owner: event.owner }
    case "MoneyDeposited":
      return { ...state, balance: state.balance + event.amount }
    case "MoneyWithdrawn":
      return { ...state, balance: state.balance - event.amount }
    case "AccountClosed":
      return { ...state, status: "closed" }
  }
}

// --- Decisions -----------------------------------------------------------------------------------

const mustBeOpen = (state: AccountState) =>
  state.status === "open"
    ? Effect.void
    : Effect.fail(state.status === "new" ? new AccountNotOpen() : new AccountIsClosed())

const mustBePositive = (amount: number) => amount > 0 ? Effect.void : Effect.fail(new InvalidAmount({ amount }))

const decide = (command: AccountCommand, state: AccountState) =>
  Effect.gen(function*() {
    switch (command._tag) {
      case "OpenAccount":
        if (state.status !== "new") return yield* new AccountAlreadyOpen()
        return [new AccountOpened({ owner: command.owner })]
      case "Deposit":
        yield* mustBeOpen(state)
        yield* mustBePositive(command.amount)
        return [new MoneyDeposited({ amount: command.amount })]
      case "Withdraw":
        yield* mustBeOpen(state)
        yield* mustBePositive(command.amount)
        if (command.amount > state.balance) {
          return yield* new InsufficientFunds({ balance: state.balance, amount: command.amount })
        }
        return [new MoneyWithdrawn({ amount: command.amount })]
      case "CloseAccount":
        if (state.status === "closed") return [] // closing twice changes nothing
        yield* mustBeOpen(state)
        if (state.balance !== 0) return yield* new BalanceNotZero({ balance: state.balance })
        return [new AccountClosed()]
    }
  })

// --- The aggregate -------------------------------------------------------------------------------

export const BankAccount = Aggregate.make({
  type: "BankAccount",
  events: [AccountOpened, MoneyDeposited, MoneyWithdrawn, AccountClosed],
  initialState,
  evolve,
  decide,
  // Long-lived accounts load from their newest snapshot and fold only the events after it.
  snapshot: { every: 100, schema: AccountStateSchema, version: 1 }
})
