/**
 * 06 — Testing with the in-memory store: a service that depends on `EventStore` (never on a
 * database), tested by providing `InMemoryEventStore.layer` — a fresh, empty store per test with
 * the semantics of the SQLite and PostgreSQL stores (the same optimistic concurrency, versions and
 * positions), so nothing is mocked.
 *
 *   npx tsx examples/06-testing.ts     # always in memory: EVENTUALI_URL is not read
 *
 * The tests run here as a program that prints its results. In a project they are `it.effect`
 * tests: `@effect/vitest`, with `TestEventStore.provide` from `@eventuali/testing` doing what
 * `test` does below (see docs/guides/testing.md).
 */
import { Console, Data, Effect, Layer, Option, Schema } from "effect"
import { Aggregate, CommandHandler, EventStore, InMemoryEventStore } from "eventuali"
import * as assert from "node:assert"

// --- The code under test: a loyalty card, and a service over the store --------------------------

class PointsEarned extends Schema.TaggedClass<PointsEarned>()("PointsEarned", { points: Schema.Int, reason: Schema.String }) {}
class PointsRedeemed extends Schema.TaggedClass<PointsRedeemed>()("PointsRedeemed", { points: Schema.Int }) {}

class Earn extends Data.TaggedClass("Earn")<{ readonly points: number; readonly reason: string }> {}
class Redeem extends Data.TaggedClass("Redeem")<{ readonly points: number }> {}
class NotEnoughPoints extends Data.TaggedError("NotEnoughPoints")<{ readonly balance: number; readonly requested: number }> {}

const LoyaltyCard = Aggregate.make({
  type: "LoyaltyCard",
  events: [PointsEarned, PointsRedeemed],
  initialState: { points: 0 },
  evolve: (state, event) => ({ points: state.points + (event._tag === "PointsEarned" ? event.points : -event.points) }),
  decide: (command: Earn | Redeem, state) =>
    command._tag === "Earn"
      ? Effect.succeed([new PointsEarned({ points: command.points, reason: command.reason })])
      : command.points > state.points
      ? Effect.fail(new NotEnoughPoints({ balance: state.points, requested: command.points }))
      : Effect.succeed([new PointsRedeemed({ points: command.points })])
})

/** The service: all it needs is an `EventStore`, whichever layer provides it. */
class LoyaltyCards extends Effect.Service<LoyaltyCards>()("examples/LoyaltyCards", {
  effect: Effect.gen(function*() {
    const store = yield* EventStore
    const handle = (cardId: string, command: Earn | Redeem) =>
      Effect.map(CommandHandler.handle(LoyaltyCard, cardId, command), ({ root }) => root.state.points).pipe(
        Effect.provideService(EventStore, store)
      )
    return {
      earn: (cardId: string, points: number, reason: string) => handle(cardId, new Earn({ points, reason })),
      redeem: (cardId: string, points: number) => handle(cardId, new Redeem({ points })),
      balance: (cardId: string) =>
        Effect.map(store.load(LoyaltyCard, cardId), Option.match({ onNone: () => 0, onSome: (card) => card.state.points }))
    }
  })
}) {}

// --- The tests -----------------------------------------------------------------------------------

/** The service over a fresh in-memory store: `Effect.provide` builds the layer anew for each test. */
const TestLayer = LoyaltyCards.Default.pipe(Layer.provideMerge(InMemoryEventStore.layer))

const expectEqual = <A>(actual: A, expected: A) =>
  Effect.try({ try: () => assert.deepStrictEqual(actual, expected), catch: (error) => String(error) })

/** Runs one test on its own store and prints its outcome; succeeds with whether it passed. */
const test = <E>(name: string, body: Effect.Effect<void, E, LoyaltyCards | EventStore>) =>
  body.pipe(
    Effect.provide(TestLayer),
    Effect.match({
      onSuccess: () => ({ passed: true, line: `✓ ${name}` }),
      onFailure: (error) => ({ passed: false, line: `✗ ${name}\n    ${String(error)}` })
    }),
    Effect.tap(({ line }) => Console.log(line)),
    Effect.map(({ passed }) => passed)
  )

const tests = [
  test(
    "earning adds points, and the store holds what happened",
    Effect.gen(function*() {
      const cards = yield* LoyaltyCards
      yield* cards.earn("card-1", 100, "signup")
      yield* expectEqual(yield* cards.earn("card-1", 50, "order #1"), 150)
      const events = yield* (yield* EventStore).loadEvents("card-1")
      yield* expectEqual(events.map((event) => `${event.aggregateVersion}:${event.eventType}`), ["1:PointsEarned", "2:PointsEarned"])
    })
  ),
  test(
    "redeeming more than the balance fails with NotEnoughPoints and stores nothing",
    Effect.gen(function*() {
      const store = yield* EventStore
      // Given a history: events saved straight into the test's store.
      yield* store.save(Aggregate.applyAll(Aggregate.empty(LoyaltyCard, "card-1"), [new PointsEarned({ points: 30, reason: "signup" })]))
      const error = yield* Effect.flip((yield* LoyaltyCards).redeem("card-1", 50))
      yield* expectEqual<unknown>({ ...error }, { _tag: "NotEnoughPoints", balance: 30, requested: 50 })
      yield* expectEqual(yield* store.getAggregateVersion("card-1"), Option.some(1))
    })
  ),
  test(
    "every test starts from an empty store",
    Effect.gen(function*() {
      yield* expectEqual((yield* (yield* EventStore).loadEventsByType("LoyaltyCard")).length, 0)
    })
  ),
  test(
    "concurrent redemptions never overspend: the in-memory store has real optimistic concurrency",
    Effect.gen(function*() {
      const cards = yield* LoyaltyCards
      yield* cards.earn("card-1", 100, "signup")
      const outcomes = yield* Effect.all([1, 2, 3, 4, 5].map(() => Effect.either(cards.redeem("card-1", 30))), { concurrency: "unbounded" })
      yield* expectEqual(outcomes.filter((outcome) => outcome._tag === "Right").length, 3)
      yield* expectEqual(yield* cards.balance("card-1"), 10)
    })
  )
]

const main = Effect.gen(function*() {
  const results = yield* Effect.all(tests)
  const failed = results.filter((passed) => !passed).length
  yield* Console.log(`\n${results.length - failed} passed, ${failed} failed`)
  if (failed > 0) return yield* Effect.fail(`${failed} failed`)
  yield* Console.log("done")
})

Effect.runPromise(main)
