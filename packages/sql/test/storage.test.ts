/**
 * The storage built from a backend: what it asks the backend to run, and what it makes of the
 * rows and errors that come back. The backend here is a fake that records its statements.
 */
import { describe, expect, it } from "@effect/vitest"
import { SqlError } from "@effect/sql/SqlError"
import { type AppendRequest, refused } from "@eventuali/core/EventStorage"
import * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import { Effect, Option, Stream } from "effect"
import * as SqlBackend from "../src/SqlBackend.js"
import * as SqlEventStore from "../src/SqlEventStore.js"

interface Call {
  readonly text: string
  readonly params: ReadonlyArray<unknown>
}

const fakeBackend = (dialect: SqlBackend.Dialect, answers: (text: string) => ReadonlyArray<object> | SqlError = () => []) => {
  const calls: Array<Call> = []
  const appended: Array<AppendRequest> = []
  const statements = SqlBackend.statements(dialect, undefined)
  const backend: SqlBackend.SqlBackend = {
    statements,
    query: <Row extends object>(text: string, params: ReadonlyArray<unknown>) =>
      Effect.suspend(() => {
        calls.push({ text, params })
        const answer = answers(text)
        return answer instanceof SqlError ? Effect.fail(answer) : Effect.succeed(answer as ReadonlyArray<Row>)
      }),
    append: (request) => Effect.sync(() => (appended.push(request), refused)),
    catchUp: Effect.fail(new SqlError({ cause: new Error("connection lost"), message: "Failed to execute statement" })),
    notifications: Stream.make(undefined)
  }
  return { backend, calls, appended, statements }
}

const request = (count: number): AppendRequest => ({
  aggregateId: "a",
  aggregateType: "T",
  expectedVersion: ExpectedVersion.any,
  events: Array.from({ length: count }, () => ({
    eventId: "e",
    eventType: "E",
    eventVersion: 1,
    timestamp: new Date(0),
    metadata: { headers: {} },
    data: {},
    dataJson: "{}",
    metadataJson: "{\"headers\":{}}"
  }))
})

describe("the SQL storage over a backend", () => {
  it.effect("hands appends to the backend, and refuses a batch above the limit before it", () =>
    Effect.gen(function*() {
      const { appended, backend } = fakeBackend("sqlite")
      const storage = SqlEventStore.makeStorage(backend)
      expect(yield* storage.append(request(2))).toEqual(refused)
      // Only its length counts: a sparse array of that length.
      const tooMany = yield* Effect.flip(storage.append({ ...request(1), events: new Array(SqlBackend.MAX_EVENTS_PER_TRANSACTION + 1) }))
      expect(tooMany._tag).toBe("EventStoreError")
      expect(appended.map((r) => r.events.length)).toEqual([2])
    }))

  it.effect.each(["sqlite", "pg"] as const)("reads with the %s statement of the filters' shape and binds its parameters in order", (dialect) =>
    Effect.gen(function*() {
      const { backend, calls, statements } = fakeBackend(dialect)
      const storage = SqlEventStore.makeStorage(backend)
      yield* storage.readAll({ fromPosition: 5n })
      yield* storage.readAll({ fromPosition: 5n, aggregateTypes: ["A"], eventTypes: ["X", "Y"], limit: 10 })
      yield* storage.readAll({ fromPosition: 5n, aggregateTypes: [], eventTypes: ["X"] })
      expect(calls).toEqual([
        { text: statements.readAll({ aggregateTypes: "none", eventTypes: "none", limited: false }), params: [5n] },
        {
          text: statements.readAll({ aggregateTypes: "one", eventTypes: "many", limited: true }),
          params: [5n, "A", statements.list(["X", "Y"]), 10]
        },
        { text: statements.readAll({ aggregateTypes: "none", eventTypes: "one", limited: false }), params: [5n, "X"] }
      ])
    }))

  it.effect("turns rows into answers: the stream head and stored ids, a snapshot, the log head, a version", () =>
    Effect.gen(function*() {
      const { backend, statements } = fakeBackend("pg", (text) =>
        text === statements.streamHead
          ? [{ version: "4", type: "T" }]
          : text === statements.existingIds
          ? [{ event_id: "e", aggregate_id: "b", aggregate_version: "2" }]
          : text === statements.readSnapshot
          ? [{ aggregate_type: "T", aggregate_version: "4", schema_version: 2, state: "{\"n\":1}" }]
          : text === statements.logHead
          ? [{ head: "41" }]
          : [{ version: null }])
      const storage = SqlEventStore.makeStorage(backend)
      expect(yield* storage.inspect("a", ["e"])).toEqual({
        actualVersion: 4,
        aggregateType: "T",
        deleted: false,
        existing: [{ eventId: "e", aggregateId: "b", aggregateVersion: 2 }]
      })
      expect(yield* storage.readSnapshot("a")).toEqual(
        Option.some({ aggregateId: "a", aggregateType: "T", aggregateVersion: 4, schemaVersion: 2, state: { n: 1 } })
      )
      expect(yield* storage.head).toBe(41n)
      expect(yield* storage.version("a")).toEqual(Option.none())
    }))

  it.effect("reports no head and no snapshot on an empty database", () =>
    Effect.gen(function*() {
      const { backend } = fakeBackend("sqlite", () => [])
      const storage = SqlEventStore.makeStorage(backend)
      expect(yield* storage.inspect("a", [])).toEqual({ actualVersion: 0, aggregateType: undefined, deleted: false, existing: [] })
      expect(yield* storage.readSnapshot("a")).toEqual(Option.none())
      expect(yield* storage.head).toBe(0n)
    }))

  it.effect("fails with a DatabaseError saying what failed and what the driver said", () =>
    Effect.gen(function*() {
      const failure = new SqlError({ cause: Object.assign(new Error("disk I/O error"), { code: "SQLITE_IOERR" }), message: "Failed" })
      const { backend } = fakeBackend("sqlite", () => failure)
      const storage = SqlEventStore.makeStorage(backend)
      const read = yield* Effect.flip(storage.readStream("a", 0))
      expect(read._tag).toBe("DatabaseError")
      expect(read.message).toBe("Reading an aggregate's events failed: disk I/O error [SQLITE_IOERR]")
      expect((yield* Effect.flip(storage.catchUp)).message).toBe("Waiting for transactions in flight failed: connection lost")
    }))

  it("passes the backend's notifications on", () => {
    const { backend } = fakeBackend("pg")
    expect(SqlEventStore.makeStorage(backend).notifications).toBe(backend.notifications)
  })
})
