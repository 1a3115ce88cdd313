/**
 * The account of the fixtures as a decider (commands, domain errors, `decide`), and a barrier
 * that makes concurrent commands collide on purpose.
 */
import { Aggregate } from "@eventuali/core"
import { Data, Effect, Ref } from "effect"
import { type AccountEvent, type AccountState, Deposited, makeAccount, Opened, Withdrawn } from "./fixtures.js"

export type AccountCommand =
  | { readonly _tag: "Open"; readonly owner: string }
  /** A deposit of 0 decides nothing. */
  | { readonly _tag: "Deposit"; readonly amount: number }
  | { readonly _tag: "Withdraw"; readonly amount: number }

export const open = (owner = "Ada"): AccountCommand => ({ _tag: "Open", owner })
export const depositCommand = (amount: number): AccountCommand => ({ _tag: "Deposit", amount })
export const withdraw = (amount: number): AccountCommand => ({ _tag: "Withdraw", amount })

export class AlreadyOpen extends Data.TaggedError("AlreadyOpen")<{ readonly owner: string }> {}
export class NotOpen extends Data.TaggedError("NotOpen")<{}> {}
export class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{
  readonly balance: number
  readonly amount: number
}> {}

export type AccountError = AlreadyOpen | NotOpen | InsufficientFunds

const decideAccount = (
  command: AccountCommand,
  state: AccountState
): Effect.Effect<ReadonlyArray<AccountEvent>, AccountError> => {
  if (command._tag === "Open") {
    return state.owner === ""
      ? Effect.succeed([new Opened({ owner: command.owner })])
      : Effect.fail(new AlreadyOpen({ owner: state.owner }))
  }
  if (state.owner === "") return Effect.fail(new NotOpen())
  switch (command._tag) {
    case "Deposit":
      return Effect.succeed(command.amount === 0 ? [] : [new Deposited({ amount: command.amount })])
    case "Withdraw":
      return command.amount > state.balance
        ? Effect.fail(new InsufficientFunds({ balance: state.balance, amount: command.amount }))
        : Effect.succeed([new Withdrawn({ amount: command.amount })])
  }
}

export type Bank = Aggregate.Decider<AccountState, AccountEvent, AccountCommand, AccountError>

/**
 * The account decider under an aggregate type of its own. `beforeDecide` runs before every
 * decision (tests count decisions or hold them at a barrier with it).
 */
export const makeBank = (beforeDecide: Effect.Effect<void> = Effect.void): Bank => {
  const account = makeAccount()
  return Aggregate.make({
    type: account.type,
    events: [Opened, Deposited, Withdrawn],
    initialState: account.initialState,
    evolve: account.evolve,
    decide: (command: AccountCommand, state) => Effect.zipRight(beforeDecide, decideAccount(command, state))
  })
}

/**
 * An effect that holds the first `parties` callers until all of them have arrived, and lets
 * every later caller through.
 */
const barrier = (parties: number) =>
  Effect.gen(function*() {
    const arrived = yield* Ref.make(0)
    const allArrived = yield* Effect.makeLatch(false)
    return Effect.flatMap(Ref.updateAndGet(arrived, (n) => n + 1), (n) =>
      n > parties ? Effect.void : n === parties ? allArrived.open : allArrived.await)
  })

/**
 * A bank whose decisions, once `collide` has run, wait until `parties` of them have started:
 * `parties` concurrent commands then all decide on the same loaded version, so all but one of
 * their saves conflict. Decisions after those go straight through. `beforeDecide` runs before
 * every decision.
 */
export const makeCollidingBank = (parties: number, beforeDecide: Effect.Effect<void> = Effect.void) =>
  Effect.gen(function*() {
    const allLoaded = yield* barrier(parties)
    let colliding = false
    const bank = makeBank(Effect.zipRight(beforeDecide, Effect.suspend(() => colliding ? allLoaded : Effect.void)))
    return { bank, collide: Effect.sync(() => { colliding = true }) }
  })

/** Counts the calls of an effect. */
export const counter = Effect.map(Ref.make(0), (count) => ({
  count: Ref.get(count),
  tick: Ref.update(count, (n) => n + 1)
}))
