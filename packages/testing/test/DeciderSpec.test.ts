import { describe, expect, it } from "@effect/vitest"
import { Aggregate } from "@eventuali/core"
import { DeciderSpec } from "@eventuali/testing"
import { Cause, Data, Effect, Exit, Schema } from "effect"

class Opened extends Schema.TaggedClass<Opened>()("Opened", { owner: Schema.String }) {}
class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}
class Withdrawn extends Schema.TaggedClass<Withdrawn>()("Withdrawn", { amount: Schema.Number }) {}

class Deposit extends Data.TaggedClass("Deposit")<{ readonly amount: number }> {}
class Withdraw extends Data.TaggedClass("Withdraw")<{ readonly amount: number }> {}
class Explode extends Data.TaggedClass("Explode")<{}> {}

class NotOpen extends Data.TaggedError("NotOpen")<{}> {}
class InsufficientFunds extends Data.TaggedError("InsufficientFunds")<{ readonly balance: number; readonly amount: number }> {}

const Account = Aggregate.make({
  type: "Account",
  events: [Opened, Deposited, Withdrawn],
  initialState: { open: false, balance: 0 },
  evolve: (state, event) => {
    switch (event._tag) {
      case "Opened":
        return { ...state, open: true }
      case "Deposited":
        return { ...state, balance: state.balance + event.amount }
      case "Withdrawn":
        return { ...state, balance: state.balance - event.amount }
    }
  },
  decide: (command: Deposit | Withdraw | Explode, state) => {
    if (command._tag === "Explode") return Effect.die(new Error("boom"))
    if (!state.open) return Effect.fail(new NotOpen())
    if (command._tag === "Deposit") return Effect.succeed(command.amount === 0 ? [] : [new Deposited({ amount: command.amount })])
    return command.amount > state.balance
      ? Effect.fail(new InsufficientFunds({ balance: state.balance, amount: command.amount }))
      : Effect.succeed([new Withdrawn({ amount: command.amount })])
  }
})

const given = DeciderSpec.make(Account)
const opened = new Opened({ owner: "Ada" })

/** Runs a specification that must fail the test; succeeds with the failure's message. */
const failureOf = (spec: Effect.Effect<void>) =>
  Effect.map(Effect.exit(spec), (exit) => {
    expect(Exit.isFailure(exit), "the specification fails").toBe(true)
    return Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
  })

describe("DeciderSpec", () => {
  it.effect("then: the events decided on the given history", () =>
    given([opened, new Deposited({ amount: 100 })]).when(new Withdraw({ amount: 30 })).then([new Withdrawn({ amount: 30 })]))

  it.effect("then([]): nothing decided", () => given([opened]).when(new Deposit({ amount: 0 })).then([]))

  it.effect("thenFails: the domain error decided on the given history", () =>
    given([opened, new Deposited({ amount: 10 })])
      .when(new Withdraw({ amount: 30 }))
      .thenFails(new InsufficientFunds({ balance: 10, amount: 30 })))

  it.effect("given([]): the command meets the initial state", () =>
    given([]).when(new Deposit({ amount: 1 })).thenFails(new NotOpen()))

  it.effect("then fails the test when other events are decided", () =>
    Effect.gen(function*() {
      const message = yield* failureOf(
        given([opened, new Deposited({ amount: 100 })]).when(new Withdraw({ amount: 30 })).then([new Withdrawn({ amount: 31 })])
      )
      expect(message).toMatch(/the events decided/)
      yield* failureOf(given([opened]).when(new Deposit({ amount: 5 })).then([]))
      yield* failureOf(given([opened]).when(new Deposit({ amount: 0 })).then([new Deposited({ amount: 0 })]))
    }))

  it.effect("then fails the test when an event is a plain object instead of its class", () =>
    Effect.gen(function*() {
      const plain = { _tag: "Deposited", amount: 5 } as unknown as Deposited
      yield* failureOf(given([opened]).when(new Deposit({ amount: 5 })).then([plain]))
    }))

  it.effect("then fails the test when the command is refused, naming the error", () =>
    Effect.gen(function*() {
      const message = yield* failureOf(given([]).when(new Deposit({ amount: 5 })).then([new Deposited({ amount: 5 })]))
      expect(message).toMatch(/but it failed with .*NotOpen/)
    }))

  it.effect("thenFails fails the test when another error, or none, is decided", () =>
    Effect.gen(function*() {
      yield* failureOf(
        given([opened, new Deposited({ amount: 10 })])
          .when(new Withdraw({ amount: 30 }))
          .thenFails(new InsufficientFunds({ balance: 10, amount: 31 }))
      )
      yield* failureOf(given([]).when(new Withdraw({ amount: 30 })).thenFails(new InsufficientFunds({ balance: 0, amount: 30 })))
      const message = yield* failureOf(given([opened]).when(new Deposit({ amount: 1 })).thenFails(new NotOpen()))
      expect(message).toMatch(/but it decided/)
    }))

  it.effect("a decider that dies fails both then and thenFails", () =>
    Effect.gen(function*() {
      expect(yield* failureOf(given([opened]).when(new Explode()).then([]))).toMatch(/died: .*boom/s)
      expect(yield* failureOf(given([opened]).when(new Explode()).thenFails(new NotOpen()))).toMatch(/died: .*boom/s)
    }))
})
