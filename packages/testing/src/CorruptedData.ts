/**
 * Stored data changed by hand: a backend's test gives the SQL that corrupts one stored event
 * (invalid JSON, wrong types, missing values); every read of it must fail with a tagged error
 * that says what is wrong (never a defect, never garbage in an envelope), the other aggregates
 * must read as before, and nothing may be written.
 *
 * @example
 * ```ts
 * CorruptedData.run("SqliteEventStore", () => ({ layer: SqliteEventStore.layer({ filename: ":memory:" }), table: "eventuali_events" }), [
 *   { name: "data that is not JSON", corrupt: (table) => [`UPDATE ${table} SET data = '{not json'`], expect: { _tag: "SerializationError", message: /not valid JSON/ } }
 * ])
 * ```
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, EventStore, type ProjectionStore } from "@eventuali/core"
import { Chunk, Effect, Either, type Layer, Option, Schema, Stream } from "effect"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}

/** The aggregate the cases corrupt: `corrupted` holds one event, `intact` another. */
const Account = Aggregate.make({
  type: "Account",
  events: [Deposited],
  initialState: 0,
  evolve: (balance: number, event) => balance + event.amount
})

/**
 * What a read of the corrupted event must do: fail with this tag and a message matching
 * `message`, or (`"reads"`) succeed.
 *
 * @since 0.1.0
 * @category models
 */
export type Expectation = { readonly _tag: string; readonly message: RegExp } | "reads"

/**
 * One corruption: statements run on the store's database after an event of aggregate
 * `corrupted` (type `Account`, event type `Deposited`, data `{"amount":1}`) is saved, and what
 * the reads must do. `load` defaults to `expect`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Case {
  readonly name: string
  /** The statements, given the events table (schema-qualified on PostgreSQL). */
  readonly corrupt: (table: string) => ReadonlyArray<string>
  /** What the reads of events (`loadEvents`, `loadEventsByType`, `readEvents`, `subscribe`, `streamAll`) must do. */
  readonly expect: Expectation
  /** What `load(Account, "corrupted")` must do. */
  readonly load?: Expectation | undefined
  /** What `loadEvents("corrupted")` must do (default `expect`). */
  readonly loadEvents?: Expectation | undefined
  /** What `loadEventsByType("Account")` must do (default `expect`). */
  readonly byType?: Expectation | undefined
}

const check = <A, E extends { readonly _tag: string; readonly message: string }>(
  what: string,
  result: Either.Either<A, E>,
  expectation: Expectation
) => {
  if (expectation === "reads") {
    expect(Either.isRight(result), `${what}: ${Either.isLeft(result) ? `${result.left._tag}: ${result.left.message}` : ""}`).toBe(true)
    return
  }
  if (Either.isRight(result)) return expect.fail(`${what}: expected a ${expectation._tag}, but it succeeded`)
  expect(result.left._tag, `${what}: ${result.left.message}`).toBe(expectation._tag)
  expect(result.left.message, what).toMatch(expectation.message)
}

/**
 * Declares one test per case, each on the fresh database (or schema) `open` gives it.
 *
 * @since 0.1.0
 * @category tests
 */
export const run = (
  name: string,
  /** A fresh database (or schema) per test, and its events table. */
  open: () => {
    readonly layer: Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore | SqlClient.SqlClient, unknown>
    readonly table: string
  },
  cases: ReadonlyArray<Case>
): void => {
  describe(name, () => {
    for (const corruption of cases) {
      it.live(`${corruption.name}: every read fails with a tagged error saying so, and nothing is written`, () => {
        const { layer, table } = open()
        return Effect.gen(function*() {
          const store = yield* EventStore.EventStore
          const sql = yield* SqlClient.SqlClient
          yield* store.save(Aggregate.apply(Aggregate.empty(Account, "corrupted"), new Deposited({ amount: 1 })))
          yield* store.save(Aggregate.apply(Aggregate.empty(Account, "intact"), new Deposited({ amount: 2 })))
          for (const statement of corruption.corrupt(table)) yield* sql.unsafe(statement)
          const snapshot = sql.unsafe<Record<string, unknown>>(`SELECT * FROM ${table} ORDER BY position`)
          const before = yield* snapshot

          const reads = corruption.expect
          check("loadEvents", yield* Effect.either(store.loadEvents("corrupted")), corruption.loadEvents ?? reads)
          check("loadEventsByType", yield* Effect.either(store.loadEventsByType("Account")), corruption.byType ?? reads)
          check("readEvents", yield* Effect.either(store.readEvents({ limit: 10 })), reads)
          check("streamAll", yield* Effect.either(Stream.runCollect(store.streamAll())), reads)
          check(
            "subscribe",
            yield* Effect.either(Stream.runCollect(Stream.take(store.subscribe(), 2)).pipe(Effect.timeout("10 seconds"))),
            reads
          )
          check("load", yield* Effect.either(store.load(Account, "corrupted")), corruption.load ?? corruption.loadEvents ?? reads)

          // The other aggregate reads as before; the store still takes saves.
          const intact = Option.getOrThrow(yield* store.load(Account, "intact"))
          expect(intact.state).toBe(2)
          expect((yield* store.loadEvents("intact")).map((event) => event.data)).toEqual([{ amount: 2 }])
          yield* store.save(Aggregate.apply(intact, new Deposited({ amount: 3 })))
          expect(Chunk.size(yield* Stream.runCollect(store.streamEventsByType("Other")))).toBe(0)

          // Reading wrote nothing: the corrupt row is as it was, and only the new save was added.
          const after = yield* snapshot
          expect(after.slice(0, before.length)).toEqual(before)
          expect(after.length).toBe(before.length + 1)
        }).pipe(Effect.provide(layer))
      })
    }
  })
}
