/**
 * The Overview's counts, maintained rather than counted per request: counting a large table
 * takes seconds (a million events: about one on SQLite), a page must answer in milliseconds. The
 * first Overview request starts one counting pass up to the head of the log, in the background;
 * until it ends the page shows estimates. After it, each request first adds the events committed
 * since (read by position, a few at most between two refreshes of the page).
 */
import type { DatabaseError } from "@eventuali/core/Errors"
import { Effect, Ref, type Scope } from "effect"
import * as Queries from "./queries.js"

const MINUTE = 60_000
/** The chart's span. */
const MINUTES = 60
/** New events read per statement when catching up. */
const BATCH = 5_000

export interface Snapshot {
  readonly exact: boolean
  readonly events: number
  readonly aggregates: number
  readonly aggregateTypes: ReadonlyArray<{ readonly name: string; readonly events: number; readonly aggregates: number }>
  readonly eventTypes: ReadonlyArray<{ readonly name: string; readonly events: number }>
  readonly perMinute: ReadonlyArray<{ readonly minute: Date; readonly events: number }>
}

interface Tally {
  /** Everything at or below this position is counted. */
  cursor: bigint
  readonly aggregateTypes: Map<string, { events: number; aggregates: number }>
  readonly eventTypes: Map<string, number>
  /** Events per epoch minute, for the minutes of the last hour. */
  readonly minutes: Map<number, number>
}

type State =
  | { readonly _tag: "Idle" }
  | { readonly _tag: "Counting" }
  | { readonly _tag: "Failed"; readonly error: DatabaseError }
  | { readonly _tag: "Ready"; readonly tally: Tally }

export interface Counts {
  /** The counts up to `head`: exact once counted, estimated before (and the first call starts counting). */
  readonly read: (head: bigint) => Effect.Effect<Snapshot, DatabaseError>
}

const add = (tally: Tally, aggregateType: string, eventType: string, events: number, aggregates: number) => {
  const byAggregate = tally.aggregateTypes.get(aggregateType) ?? { events: 0, aggregates: 0 }
  byAggregate.events += events
  byAggregate.aggregates += aggregates
  tally.aggregateTypes.set(aggregateType, byAggregate)
  tally.eventTypes.set(eventType, (tally.eventTypes.get(eventType) ?? 0) + events)
}

/** The first pass: counts by type up to `head`, and per minute over the last hour. */
const count = (sql: Queries.Sql, head: bigint): Effect.Effect<Tally, DatabaseError> =>
  Effect.gen(function*() {
    const tally: Tally = { cursor: head, aggregateTypes: new Map(), eventTypes: new Map(), minutes: new Map() }
    for (const row of yield* Queries.typeCounts(sql, head)) add(tally, row.aggregateType, row.eventType, row.events, row.aggregates)
    const hourAgo = new Date(Date.now() - MINUTES * MINUTE)
    const from = yield* Queries.positionBeforeTime(sql, hourAgo, head)
    for (const row of yield* Queries.perMinute(sql, from, head)) tally.minutes.set(row.minute, row.events)
    return tally
  })

/** Adds the events after the tally's cursor, up to `head`. */
const catchUp = (sql: Queries.Sql, tally: Tally, head: bigint): Effect.Effect<void, DatabaseError> =>
  Effect.gen(function*() {
    while (tally.cursor < head) {
      const rows = yield* Queries.typesAfter(sql, tally.cursor, head, BATCH)
      for (const row of rows) {
        add(tally, row.aggregateType, row.eventType, 1, row.first ? 1 : 0)
        const minute = Math.floor(row.timestamp.getTime() / MINUTE)
        tally.minutes.set(minute, (tally.minutes.get(minute) ?? 0) + 1)
      }
      if (rows.length < BATCH) {
        tally.cursor = head
        break
      }
      tally.cursor = rows[rows.length - 1]!.position
    }
    const oldest = Math.floor(Date.now() / MINUTE) - MINUTES
    for (const minute of tally.minutes.keys()) if (minute <= oldest) tally.minutes.delete(minute)
  })

const byCount = <A extends { readonly name: string; readonly events: number }>(a: A, b: A) =>
  b.events - a.events || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

const snapshotOf = (tally: Tally): Snapshot => {
  const aggregateTypes = [...tally.aggregateTypes].map(([name, counts]) => ({ name, ...counts })).sort(byCount)
  const now = Math.floor(Date.now() / MINUTE)
  return {
    exact: true,
    events: aggregateTypes.reduce((sum, row) => sum + row.events, 0),
    aggregates: aggregateTypes.reduce((sum, row) => sum + row.aggregates, 0),
    aggregateTypes,
    eventTypes: [...tally.eventTypes].map(([name, events]) => ({ name, events })).sort(byCount),
    perMinute: Array.from({ length: MINUTES }, (_, index) => {
      const minute = now - MINUTES + 1 + index
      return { minute: new Date(minute * MINUTE), events: tally.minutes.get(minute) ?? 0 }
    })
  }
}

/** Counts for the store of `sql`; the first pass runs in `scope` (the UI's). */
export const make = (sql: Queries.Sql, scope: Scope.Scope): Effect.Effect<Counts> =>
  Effect.gen(function*() {
    const state = yield* Ref.make<State>({ _tag: "Idle" })
    // One request at a time adds new events to the tally.
    const lock = yield* Effect.makeSemaphore(1)
    const start = (head: bigint) =>
      count(sql, head).pipe(
        Effect.matchEffect({
          onFailure: (error) =>
            Effect.zipRight(
              Effect.logWarning("Eventuali UI: counting the events failed; the Overview shows estimates", error.message),
              Ref.set(state, { _tag: "Failed", error })
            ),
          onSuccess: (tally) => Ref.set(state, { _tag: "Ready", tally })
        }),
        Effect.forkIn(scope)
      )
    const estimate = Effect.map(Queries.estimatedEvents(sql), (events): Snapshot => ({
      exact: false,
      events,
      aggregates: 0,
      aggregateTypes: [],
      eventTypes: [],
      perMinute: []
    }))
    return {
      read: (head) =>
        lock.withPermits(1)(Effect.gen(function*() {
          const current = yield* Ref.get(state)
          switch (current._tag) {
            case "Ready":
              yield* catchUp(sql, current.tally, head)
              return snapshotOf(current.tally)
            case "Counting":
              return yield* estimate
            case "Idle":
            case "Failed":
              // A failed pass is tried again by the next request.
              yield* Ref.set(state, { _tag: "Counting" })
              yield* start(head)
              return yield* estimate
          }
        }))
    }
  })
