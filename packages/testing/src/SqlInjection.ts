/**
 * SQL injection through every string the store's API accepts: aggregate types and ids, event
 * types and ids, metadata (correlation, causation and user ids, header names and values),
 * payload keys and values, read filters (one value and several), registered event types,
 * projection names and checkpoint strings. Each is stored and read back verbatim, filters match
 * exactly (no `LIKE` wildcards), and a canary table and the store's own tables survive.
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { type Checkpoint, EventStore, Projection, ProjectionStore } from "@eventuali/core"
import { Chunk, Effect, Either, type Layer, Option, Schema, Stream } from "effect"

/**
 * Strings that would change a statement built by concatenation, in SQLite's or PostgreSQL's
 * syntax: quotes, comments, statement separators, placeholders of every style, dollar quoting,
 * `LIKE` wildcards, escapes.
 *
 * @since 0.1.0
 * @category constants
 */
export const payloads: ReadonlyArray<string> = [
  "'",
  "''",
  "\"",
  "`",
  "\\",
  "'; DROP TABLE eventuali_canary; --",
  "\"; DROP TABLE eventuali_canary; --",
  "'); DELETE FROM eventuali_events; --",
  "' OR '1'='1",
  "\" OR \"\"=\"",
  "1; DELETE FROM eventuali_events",
  "') UNION SELECT name, name, name FROM sqlite_master --",
  "' UNION SELECT usename FROM pg_user --",
  "$1",
  "?",
  "?1",
  ":name",
  "@p",
  "%",
  "_",
  "\\'; DROP TABLE eventuali_canary; --",
  "/* comment */ DROP TABLE eventuali_canary",
  "-- comment",
  "\n; DROP TABLE eventuali_canary;\n",
  "$$; DROP TABLE eventuali_canary; $$",
  "E'\\''; DROP TABLE eventuali_canary; --",
  "Robert'); DROP TABLE Students;--",
  "\u2019; DROP TABLE eventuali_canary; --",
  "\"eventuali_events\"",
  "eventuali_events WHERE 1=1"
]

const Amount = Schema.Struct({ amount: Schema.String })

/** The payloads that name this test's own tables (schema-qualified on PostgreSQL). */
const aimedAt = (tables: { readonly events: string; readonly canary: string }): ReadonlyArray<string> => [
  `'; DROP TABLE ${tables.canary}; --`,
  `"; DELETE FROM ${tables.events}; --`,
  `'); DROP TABLE ${tables.events}; --`,
  `$$; DROP TABLE ${tables.canary}; $$`
]

/**
 * Declares the tests for a SQL store. `open` gives a fresh database or schema per test, with
 * the store's events table and a name for the canary table, as statements name them.
 *
 * @since 0.1.0
 * @category tests
 */
export const run = (
  name: string,
  open: () => {
    readonly layer: Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore | SqlClient.SqlClient, unknown>
    readonly events: string
    readonly canary: string
  }
): void => {
  describe(name, () => {
    it.live(`${payloads.length + 4} injection strings in every string the API takes are stored verbatim, match exactly, and break nothing`, () => {
      const { canary, events: table, layer } = open()
      const all = [...payloads, ...aimedAt({ events: table, canary })]
      return Effect.gen(function*() {
        const store = yield* EventStore.EventStore
        const projections = yield* ProjectionStore.ProjectionStore
        const sql = yield* SqlClient.SqlClient
        yield* sql.unsafe(`CREATE TABLE ${canary} (note TEXT NOT NULL)`)
        yield* sql.unsafe(`INSERT INTO ${canary} (note) VALUES ('alive')`)

        for (const [i, payload] of all.entries()) {
          const aggregateType = `T${i}${payload}`
          const aggregateId = `id${i}${payload}`
          const eventType = `E${i}${payload}`
          const metadata = { correlationId: payload, causationId: `c${payload}`, userId: `u${payload}`, headers: { [payload]: payload } }
          const written = yield* store.append(aggregateType, aggregateId, [
            { eventType, eventId: `ev${i}${payload}`, data: { [payload]: payload, amount: payload }, metadata },
            { eventType: `other${i}`, data: { amount: payload } }
          ])
          expect(written.version, payload).toBe(2)

          // Read back verbatim, by aggregate, by type, and through filters of one value and of several.
          const [first] = yield* store.loadEvents(aggregateId)
          expect(first, payload).toMatchObject({ aggregateType, aggregateId, eventType, eventId: `ev${i}${payload}`, metadata })
          expect(first!.data, payload).toEqual({ [payload]: payload, amount: payload })
          expect((yield* store.loadEventsByType(aggregateType)).map((event) => event.eventType), payload).toEqual([eventType, `other${i}`])
          expect(yield* store.getAggregateVersion(aggregateId), payload).toEqual(Option.some(2))
          const filtered = yield* store.readEvents({ aggregateTypes: [aggregateType], eventTypes: [eventType] })
          expect(filtered.map((event) => event.eventId), payload).toEqual([`ev${i}${payload}`])
          const several = yield* store.readEvents({ aggregateTypes: [aggregateType, `${aggregateType}x`], eventTypes: [eventType, "Nothing"] })
          expect(several.map((event) => event.eventId), payload).toEqual([`ev${i}${payload}`])
          const subscribed = yield* Stream.runCollect(Stream.take(store.subscribe({ aggregateTypes: [aggregateType], eventTypes: [eventType, `other${i}`] }), 2))
          expect(Chunk.size(subscribed), payload).toBe(2)

          // Registered under the injection string, it decodes.
          yield* store.registerEventClass(`other${i}`, Amount)
          yield* store.registerEventClass(eventType, Amount)
          expect((yield* store.loadEvents(aggregateId)).map((event) => event.data), payload).toEqual([{ amount: payload }, { amount: payload }])

          // A checkpoint is digits only: an injection string is refused before any SQL.
          const refused = yield* Effect.either(Stream.runCollect(Stream.take(store.subscribe({ from: payload as Checkpoint.Checkpoint }), 1)))
          expect(Either.isLeft(refused) && refused.left._tag === "EventStoreError", payload).toBe(true)

          // A projection under the injection string keeps its checkpoint under that name.
          const projectionName = `p${i}${payload}`
          yield* Effect.scoped(Effect.flatMap(
            Projection.run(Projection.make({ name: projectionName, aggregateTypes: [aggregateType], handle: () => Effect.void })),
            (running) => running.whenCaughtUp
          ))
          const checkpoint = yield* projections.get(projectionName)
          expect(Option.map(checkpoint, (stored) => stored.name), payload).toEqual(Option.some(projectionName))
          // At or past its last event (past it where the backend's visible head is further on).
          expect(Option.map(checkpoint, (stored) => stored.position >= written.events[1]!.position), payload).toEqual(Option.some(true))
        }

        // Wildcards are characters: "%" and "_" match only themselves.
        expect(yield* store.loadEventsByType("T%"), "T%").toEqual([])
        expect(yield* store.readEvents({ aggregateTypes: ["T_"] }), "T_").toEqual([])

        // Nothing was dropped, deleted or added behind the store's back.
        expect(yield* sql.unsafe(`SELECT note FROM ${canary}`)).toEqual([{ note: "alive" }])
        const [row] = yield* sql.unsafe<{ readonly n: number | string }>(`SELECT count(*) AS n FROM ${table}`)
        expect(Number(row?.n)).toBe(all.length * 2)
      }).pipe(Effect.provide(layer))
    }, 120_000)
  })
}
