/**
 * Given/when/then specifications for deciders: given the events that happened, when a command
 * arrives, then these events are decided — or this domain error. Pure: no store, no clock, just
 * `evolve` and `decide`. A mismatch throws Node's `AssertionError` (with `actual` and `expected`,
 * which test runners such as vitest show as a diff), so it needs no particular test runner.
 *
 * @example
 * ```ts
 * import { it } from "@effect/vitest"
 * import { DeciderSpec } from "@eventuali/testing"
 *
 * const given = DeciderSpec.make(Account)
 *
 * it.effect("a withdrawal within the balance is paid", () =>
 *   given([new Opened({ owner: "Ada" }), new Deposited({ amount: 100 })])
 *     .when(new Withdraw({ amount: 30 }))
 *     .then([new Withdrawn({ amount: 30 })]))
 *
 * it.effect("a withdrawal above the balance is refused", () =>
 *   given([new Opened({ owner: "Ada" })])
 *     .when(new Withdraw({ amount: 30 }))
 *     .thenFails(new InsufficientFunds({ balance: 0, amount: 30 })))
 * ```
 *
 * @since 0.1.0
 */
import * as Assert from "node:assert"
import type { Aggregate } from "@eventuali/core"
import { Cause, Effect, Exit, Inspectable } from "effect"

/**
 * What a command is expected to do.
 *
 * @since 0.1.0
 * @category models
 */
export interface When<Event, DomainError> {
  /**
   * Succeeds when `decide` returns exactly `expected` (same classes, same fields, same order;
   * `[]` for "nothing happens"), and the new events apply with `evolve`. Fails the test otherwise.
   */
  readonly then: (expected: ReadonlyArray<Event>) => Effect.Effect<void>
  /** Succeeds when `decide` fails with a domain error equal to `expected`. Fails the test otherwise. */
  readonly thenFails: (expected: DomainError) => Effect.Effect<void>
}

/**
 * The history a command meets.
 *
 * @since 0.1.0
 * @category models
 */
export interface Given<Command, Event, DomainError> {
  readonly when: (command: Command) => When<Event, DomainError>
}

/**
 * Starts specifications for a decider: `make(decider)(events)` is "given these events".
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <State, Event extends { readonly _tag: string }, Command, DomainError>(
  decider: Aggregate.Decider<State, Event, Command, DomainError>
) =>
(events: ReadonlyArray<Event>): Given<Command, Event, DomainError> => ({
  when: (command) => {
    const decision = Effect.suspend(() => {
      const state = events.reduce(decider.evolve, decider.initialState)
      return Effect.exit(decider.decide(command, state)).pipe(
        Effect.map((exit) => ({ state, exit }))
      )
    })
    return {
      then: (expected) =>
        Effect.flatMap(decision, ({ exit, state }) =>
          Exit.match(exit, {
            onFailure: (cause) =>
              Effect.sync(() =>
                Assert.fail(`expected the command to decide ${show(expected)}, but it ${describeFailure(cause)}`)
              ),
            onSuccess: (decided) =>
              Effect.sync(() => {
                Assert.deepStrictEqual(decided, expected, "the events decided differ from the expected ones")
                // The decided events must also be events the aggregate can apply.
                decided.reduce(decider.evolve, state)
              })
          })),
      thenFails: (expected) =>
        Effect.flatMap(decision, ({ exit }) =>
          Exit.match(exit, {
            onFailure: (cause) =>
              Effect.sync(() => {
                const failure = Cause.failureOption(cause)
                if (failure._tag === "None") {
                  return Assert.fail(`expected the command to fail with ${show(expected)}, but it ${describeFailure(cause)}`)
                }
                Assert.deepStrictEqual(failure.value, expected, "the domain error differs from the expected one")
              }),
            onSuccess: (decided) =>
              Effect.sync(() =>
                Assert.fail(`expected the command to fail with ${show(expected)}, but it decided ${show(decided)}`)
              )
          }))
    }
  }
})

const show = (value: unknown): string => Inspectable.toStringUnknown(value, 0)

const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const failure = Cause.failureOption(cause)
  return failure._tag === "Some" ? `failed with ${show(failure.value)}` : `died: ${Cause.pretty(cause)}`
}
