/**
 * Causation and correlation: command handlers stamp the fiber's context on the events they save;
 * `causedBy(event)` links a reaction to the event it reacts to.
 */
import { expect } from "@effect/vitest"
import { Causation, CommandHandler, EventStore, Projection } from "@eventuali/core"
import { Effect, Option, Schedule } from "effect"
import { depositCommand, makeBank, makeCollidingBank, open } from "./decider.js"
import { type Test, unique } from "./fixtures.js"

const retry = Schedule.recurs(10)

/** The metadata of the aggregate's events, by version. */
const metadataOf = (aggregateId: string) =>
  Effect.map(
    Effect.flatMap(EventStore.EventStore, (store) => store.loadEvents(aggregateId)),
    (events) => events.map((event) => event.metadata)
  )

export const causation = (test: Test): void => {
  test("outside any context, a command's events carry no correlation or causation id", () =>
    Effect.gen(function*() {
      const id = unique("account")
      yield* CommandHandler.handle(makeBank(), id, open(), { retry })
      expect(yield* metadataOf(id)).toEqual([{ headers: {} }])
      expect(yield* Causation.current).toEqual({ headers: {} })
    }))

  test("inside withCorrelation, every event the commands save carries the correlation id", () =>
    Effect.gen(function*() {
      const bank = makeBank()
      const [a, b] = [unique("account"), unique("account")]
      const correlationId = unique("request")
      yield* Effect.gen(function*() {
        yield* CommandHandler.handle(bank, a, open(), { retry })
        yield* CommandHandler.handle(bank, a, depositCommand(5), { retry })
        // Forked fibers inherit the context.
        yield* Effect.fork(CommandHandler.handle(bank, b, open(), { retry })).pipe(Effect.flatMap((fiber) => fiber.await))
      }).pipe(Causation.withCorrelation(correlationId))
      yield* CommandHandler.handle(bank, a, depositCommand(1), { retry })
      expect(yield* metadataOf(a)).toEqual([{ correlationId, headers: {} }, { correlationId, headers: {} }, { headers: {} }])
      expect(yield* metadataOf(b)).toEqual([{ correlationId, headers: {} }])
    }))

  test("causedBy(event): the causation id is the event's id, the correlation id is the event's", (store) =>
    Effect.gen(function*() {
      const bank = makeBank()
      const [source, target] = [unique("account"), unique("account")]
      const correlationId = unique("transfer")
      yield* CommandHandler.handle(bank, source, open(), { retry }).pipe(Causation.withCorrelation(correlationId))
      const [cause] = yield* store.loadEvents(source)
      yield* CommandHandler.handle(bank, target, open(), { retry }).pipe(Causation.causedBy(cause!))
      const [effect] = yield* store.loadEvents(target)
      expect(effect!.metadata).toEqual({ correlationId, causationId: cause!.eventId, headers: {} })
      // And one step further down the chain, the correlation id still holds.
      yield* CommandHandler.handle(bank, target, depositCommand(3), { retry }).pipe(Causation.causedBy(effect!))
      const [, next] = yield* store.loadEvents(target)
      expect(next!.metadata).toEqual({ correlationId, causationId: effect!.eventId, headers: {} })
    }))

  test("causedBy an event without a correlation id starts the correlation at that event", (store) =>
    Effect.gen(function*() {
      const bank = makeBank()
      const [source, target] = [unique("account"), unique("account")]
      yield* CommandHandler.handle(bank, source, open(), { retry })
      const [cause] = yield* store.loadEvents(source)
      yield* CommandHandler.handle(bank, target, open(), { retry }).pipe(Causation.causedBy(cause!))
      expect(yield* metadataOf(target)).toEqual([{ correlationId: cause!.eventId, causationId: cause!.eventId, headers: {} }])
    }))

  test(
    "a process manager (a projection issuing commands) links each command's events to the event it handled",
    (store) =>
      Effect.gen(function*() {
        const bank = makeBank()
        const correlationId = unique("signup")
        const accounts = [unique("account"), unique("account")]
        // For every account opened, open its savings account.
        const savings = (id: string) => `${id}-savings`
        const running = yield* Projection.run(Projection.make({
          name: unique("savings-opener"),
          aggregateTypes: [bank.type],
          eventTypes: ["Opened"],
          handle: (event) =>
            event.aggregateId.endsWith("-savings")
              ? Effect.void
              : CommandHandler.handle(bank, savings(event.aggregateId), open("savings"), { retry }).pipe(
                Causation.causedBy(event),
                Effect.orDie
              )
        }))
        for (const id of accounts) {
          yield* CommandHandler.handle(bank, id, open(), { retry }).pipe(Causation.withCorrelation(correlationId))
        }
        yield* running.whenCaughtUp
        for (const id of accounts) {
          const [opened] = yield* store.loadEvents(id)
          expect(yield* metadataOf(savings(id))).toEqual([{ correlationId, causationId: opened!.eventId, headers: {} }])
        }
      }).pipe(Effect.scoped)
  )

  test("withMetadata adds a user id and headers; a command's own metadata option overrides the context", () =>
    Effect.gen(function*() {
      const bank = makeBank()
      const [a, b] = [unique("account"), unique("account")]
      yield* Effect.gen(function*() {
        yield* CommandHandler.handle(bank, a, open(), { retry })
        yield* CommandHandler.handle(bank, b, open(), {
          retry,
          metadata: { userId: "bob", headers: { channel: "api" } }
        })
      }).pipe(
        Causation.withMetadata({ userId: "ann", headers: { tenant: "acme" } }),
        Causation.withCorrelation("outer")
      )
      expect(yield* metadataOf(a)).toEqual([{ correlationId: "outer", userId: "ann", headers: { tenant: "acme" } }])
      expect(yield* metadataOf(b)).toEqual([
        { correlationId: "outer", userId: "bob", headers: { tenant: "acme", channel: "api" } }
      ])
    }))

  test("a command decided again after a conflict keeps its context", (store) =>
    Effect.gen(function*() {
      const { bank, collide } = yield* makeCollidingBank(2)
      const id = unique("account")
      yield* CommandHandler.handle(bank, id, open(), { retry })
      yield* collide
      yield* Effect.all(
        ["first", "second"].map((correlationId, i) =>
          CommandHandler.handle(bank, id, depositCommand(i + 1), { retry }).pipe(Causation.withCorrelation(correlationId))
        ),
        { concurrency: "unbounded" }
      )
      const events = (yield* store.loadEvents(id)).slice(1)
      const byAmount = new Map(events.map((event) => [(event.data as { readonly amount: number }).amount, event.metadata]))
      expect(byAmount.get(1)).toEqual({ correlationId: "first", headers: {} })
      expect(byAmount.get(2)).toEqual({ correlationId: "second", headers: {} })
      expect(Option.getOrThrow(yield* store.getAggregateVersion(id))).toBe(3)
    }))
}
