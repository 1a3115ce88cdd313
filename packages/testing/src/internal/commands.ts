/** Command handling: load, decide, save; domain errors pass through; conflicts decide again. */
import { expect } from "@effect/vitest"
import { CommandHandler } from "@eventuali/core"
import { Effect, Option, Schedule } from "effect"
import {
  counter,
  depositCommand,
  InsufficientFunds,
  makeBank,
  makeCollidingBank,
  open,
  withdraw
} from "./decider.js"
import { expectFailure, expectVersion, Opened, type Test, unique, Withdrawn } from "./fixtures.js"

/** Retries without delay: the suite runs on the test clock. */
const retry = Schedule.recurs(10)

export const commands = (test: Test): void => {
  test(
    "a command to a new aggregate is decided on the initial state; its events are saved and returned with the committed root",
    (store) =>
      Effect.gen(function*() {
        const bank = makeBank()
        const id = unique("account")
        const result = yield* CommandHandler.handle(bank, id, open("Ada"), { retry })
        expect(result.events).toStrictEqual([new Opened({ owner: "Ada" })])
        expect(result.root.version).toBe(1)
        expect(result.root.uncommittedEvents).toEqual([])
        expect(result.root.state.owner).toBe("Ada")
        const loaded = Option.getOrThrow(yield* store.load(bank, id))
        expect(loaded.version).toBe(1)
        expect(loaded.state).toEqual(result.root.state)
        expect((yield* store.loadEvents(id)).map((event) => event.eventType)).toEqual(["Opened"])
      })
  )

  test("a command to an existing aggregate is decided on its loaded state", (store) =>
    Effect.gen(function*() {
      const bank = makeBank()
      const id = unique("account")
      yield* CommandHandler.handle(bank, id, open(), { retry })
      yield* CommandHandler.handle(bank, id, depositCommand(100), { retry })
      const result = yield* CommandHandler.handle(bank, id, withdraw(30), { retry })
      expect(result.events).toStrictEqual([new Withdrawn({ amount: 30 })])
      expect(result.root.version).toBe(3)
      expect(result.root.state).toEqual({ owner: "Ada", balance: 70, movements: [100, -30] })
      expect(Option.getOrThrow(yield* store.load(bank, id)).state).toEqual(result.root.state)
    }))

  test("CommandHandler.make binds a decider and its options once", () =>
    Effect.gen(function*() {
      const handle = CommandHandler.make(makeBank(), { retry })
      const id = unique("account")
      yield* handle(id, open())
      const result = yield* handle(id, depositCommand(5))
      expect(result.root.state.balance).toBe(5)
      yield* expectVersion(id, 2)
    }))

  test("deciding no events saves nothing: no new version, no aggregate created", (store) =>
    Effect.gen(function*() {
      const bank = makeBank()
      const id = unique("account")
      yield* CommandHandler.handle(bank, id, open(), { retry })
      const nothing = yield* CommandHandler.handle(bank, id, depositCommand(0), { retry })
      expect(nothing.events).toEqual([])
      expect(nothing.root.version).toBe(1)
      yield* expectVersion(id, 1)

      const never = unique("account")
      const refused = yield* expectFailure(CommandHandler.handle(bank, never, depositCommand(0), { retry }), "NotOpen")
      expect(refused._tag).toBe("NotOpen")
      expect(yield* store.getAggregateVersion(never)).toEqual(Option.none())
    }))

  test("a domain error passes through typed, saves nothing and is never retried", () =>
    Effect.gen(function*() {
      const decisions = yield* counter
      const bank = makeBank(decisions.tick)
      const id = unique("account")
      yield* CommandHandler.handle(bank, id, open(), { retry })
      yield* CommandHandler.handle(bank, id, depositCommand(10), { retry })
      const before = yield* decisions.count
      const error = yield* CommandHandler.handle(bank, id, withdraw(25), { retry }).pipe(
        Effect.flip,
        Effect.map((error) => error._tag === "InsufficientFunds" ? error : undefined)
      )
      expect(error).toStrictEqual(new InsufficientFunds({ balance: 10, amount: 25 }))
      expect((yield* decisions.count) - before).toBe(1)
      yield* expectVersion(id, 2)
      // Typed: the domain error can be caught by its tag.
      const recovered = yield* CommandHandler.handle(bank, id, withdraw(25), { retry }).pipe(
        Effect.map(() => "paid"),
        Effect.catchTag("InsufficientFunds", (refusal) => Effect.succeed(`refused: ${refusal.balance} < ${refusal.amount}`))
      )
      expect(recovered).toBe("refused: 10 < 25")
    }))

  test(
    "after a conflict the command is loaded and decided again on the fresh state (here it is then refused)",
    (store) =>
      Effect.gen(function*() {
        const decisions = yield* counter
        const { bank, collide } = yield* makeCollidingBank(2, decisions.tick)
        const id = unique("account")
        yield* CommandHandler.handle(bank, id, open(), { retry })
        yield* CommandHandler.handle(bank, id, depositCommand(100), { retry })
        yield* collide
        const before = yield* decisions.count
        const results = yield* Effect.all(
          [CommandHandler.handle(bank, id, withdraw(60), { retry }), CommandHandler.handle(bank, id, withdraw(60), { retry })],
          { concurrency: "unbounded", mode: "either" }
        )
        const paid = results.filter((result) => result._tag === "Right")
        const refused = results.flatMap((result) => result._tag === "Left" ? [result.left] : [])
        expect(paid).toHaveLength(1)
        expect(refused).toStrictEqual([new InsufficientFunds({ balance: 40, amount: 60 })])
        // Both decided once on version 2; the loser decided again on version 3.
        expect((yield* decisions.count) - before).toBe(3)
        const account = Option.getOrThrow(yield* store.load(bank, id))
        expect(account.version).toBe(3)
        expect(account.state.balance).toBe(40)
      })
  )

  test("concurrent commands that collide all commit through retries: none lost, none doubled", (store) =>
    Effect.gen(function*() {
      const decisions = yield* counter
      const { bank, collide } = yield* makeCollidingBank(5, decisions.tick)
      const id = unique("account")
      yield* CommandHandler.handle(bank, id, open(), { retry })
      yield* collide
      const before = yield* decisions.count
      const results = yield* Effect.all(
        [1, 2, 3, 4, 5].map((amount) => CommandHandler.handle(bank, id, depositCommand(amount), { retry })),
        { concurrency: "unbounded" }
      )
      expect(results.map((result) => result.root.version).sort()).toEqual([2, 3, 4, 5, 6])
      const account = Option.getOrThrow(yield* store.load(bank, id))
      expect(account.version).toBe(6)
      expect(account.state.balance).toBe(15)
      expect([...account.state.movements].sort()).toEqual([1, 2, 3, 4, 5])
      // Every first attempt decided on version 1, so four of them had to decide again at least once.
      expect((yield* decisions.count) - before).toBeGreaterThanOrEqual(9)
      yield* expectVersion(id, 6)
    }))

  test("when the retry schedule gives up, the OptimisticConcurrencyError is returned with the actual version", (store) =>
    Effect.gen(function*() {
      const { bank, collide } = yield* makeCollidingBank(2)
      const id = unique("account")
      yield* CommandHandler.handle(bank, id, open(), { retry })
      yield* collide
      const results = yield* Effect.all(
        [1, 2].map((amount) => CommandHandler.handle(bank, id, depositCommand(amount), { retry: Schedule.stop })),
        { concurrency: "unbounded", mode: "either" }
      )
      const failures = results.flatMap((result) => result._tag === "Left" ? [result.left] : [])
      expect(failures).toHaveLength(1)
      expect(failures[0]!._tag).toBe("OptimisticConcurrencyError")
      if (failures[0]!._tag === "OptimisticConcurrencyError") expect(failures[0]!.actualVersion).toBe(2)
      const account = Option.getOrThrow(yield* store.load(bank, id))
      expect(account.version).toBe(2)
      expect(account.state.movements).toHaveLength(1)
      expect([1, 2]).toContain(account.state.movements[0])
    }))
}
