/**
 * Appends on a synchronous connection (SQLite through better-sqlite3), a group at a time.
 *
 * Inside one transaction that holds SQLite's write lock from its start (`BEGIN IMMEDIATE`), the
 * heads of the group's aggregates are read with one statement, each append is checked against
 * its aggregate's head as the group's earlier appends leave it (expected version, owner type),
 * and the accepted events go in with plain multi-row INSERTs. Under the write lock nothing can
 * change between the check and the insert, so the insert needs no condition of its own — and a
 * conditional `INSERT … SELECT` from the table it inserts into makes SQLite stage its rows in a
 * temporary table first, which doubled the cost of a one-event append.
 *
 * If an insert breaks a unique index anyway (an idempotent retry's event ids are stored
 * already), SQLite undoes that statement only; the group is then appended again one by one, each
 * in a savepoint with its own check, so that the one append is refused and the others go in.
 */
import type { AppendRequest, StoredEvent } from "@eventuali/core/EventStorage"
import * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import { Option } from "effect"
import type { Session } from "../SyncConnection.js"
import { isUniqueError } from "./errors.js"
import { memoized, type Statements } from "./statements.js"

export type AppendOutcome = Option.Option<ReadonlyArray<StoredEvent>>

interface Head {
  readonly version: number
  readonly type: string | undefined
}

const NO_EVENTS: Head = { version: 0, type: undefined }

/**
 * Most rows per INSERT. Every row count is its own prepared statement, kept for the life of the
 * connection: 100 bounds them to 100 statements of at most 900 parameters, and one statement
 * still takes a 100-event save or a group of 100 one-event saves.
 */
const MAX_ROWS = 100

/** An accepted append: its events take versions `from + 1, from + 2, …`. */
interface Accepted {
  readonly index: number
  readonly request: AppendRequest
  readonly from: number
}

export const make = (statements: Statements) => {
  const streamHeads = statements.streamHeads!
  const insertText = memoized(statements.insertRows!)

  const readHeads = (session: Session, requests: ReadonlyArray<AppendRequest>): Map<string, Head> => {
    const heads = new Map<string, Head>()
    if (requests.length === 1) {
      const [row] = session.all(statements.streamHead, [requests[0]!.aggregateId]) as ReadonlyArray<{ version: number; type: string | null }>
      if (row !== undefined && row.type !== null) heads.set(requests[0]!.aggregateId, { version: Number(row.version), type: row.type })
      return heads
    }
    const ids = [...new Set(requests.map((request) => request.aggregateId))]
    const rows = session.all(streamHeads, [JSON.stringify(ids)]) as ReadonlyArray<{ aggregate_id: string; version: number; type: string }>
    for (const row of rows) heads.set(row.aggregate_id, { version: Number(row.version), type: row.type })
    return heads
  }

  /**
   * Inserts the accepted appends' events in order and returns each one's stored events. An
   * INTEGER PRIMARY KEY takes one more than the largest in the table, row after row in the order
   * of the VALUES list, so a statement's positions are the consecutive numbers ending at its
   * last inserted rowid.
   */
  const insert = (session: Session, accepted: ReadonlyArray<Accepted>): Array<Array<StoredEvent>> => {
    const written = accepted.map(() => [] as Array<StoredEvent>)
    const rows: Array<{ readonly owner: number; readonly version: number; readonly event: AppendRequest["events"][number] }> = []
    accepted.forEach(({ from, request }, owner) =>
      request.events.forEach((event, i) => rows.push({ owner, version: from + i + 1, event }))
    )
    let start = 0
    while (start < rows.length) {
      const count = Math.min(MAX_ROWS, rows.length - start)
      const params: Array<unknown> = []
      for (let i = start; i < start + count; i++) {
        const { event, owner, version } = rows[i]!
        const request = accepted[owner]!.request
        params.push(
          event.eventId,
          request.aggregateId,
          request.aggregateType,
          version,
          event.eventType,
          event.eventVersion,
          event.dataJson,
          event.metadataJson,
          event.timestamp.getTime()
        )
      }
      const { changes, lastInsertRowid } = session.run(insertText(count), params)
      if (changes !== count) throw new Error(`An insert of ${count} events changed ${changes} rows`)
      const first = BigInt(lastInsertRowid) - BigInt(count - 1)
      for (let i = 0; i < count; i++) {
        const { event, owner, version } = rows[start + i]!
        const request = accepted[owner]!.request
        written[owner]!.push({
          eventId: event.eventId,
          eventType: event.eventType,
          eventVersion: event.eventVersion,
          aggregateId: request.aggregateId,
          aggregateType: request.aggregateType,
          aggregateVersion: version,
          position: first + BigInt(i),
          timestamp: event.timestamp,
          metadata: event.metadata,
          data: event.data
        })
      }
      start += count
    }
    for (let i = 0; i < accepted.length; i++) {
      const { request } = accepted[i]!
      if (request.snapshot === undefined) continue
      session.run(statements.writeSnapshot, [
        request.aggregateId,
        request.aggregateType,
        accepted[i]!.from + request.events.length,
        request.snapshot.schemaVersion,
        request.snapshot.stateJson
      ])
    }
    return written
  }

  /** Checks the group's appends in order against their heads, and inserts those accepted. */
  const appendChecked = (session: Session, requests: ReadonlyArray<AppendRequest>): Array<AppendOutcome> => {
    const heads = readHeads(session, requests)
    const outcomes: Array<AppendOutcome> = requests.map(() => Option.none())
    const accepted: Array<Accepted> = []
    requests.forEach((request, index) => {
      const head = heads.get(request.aggregateId) ?? NO_EVENTS
      if ((head.type !== undefined && head.type !== request.aggregateType) || !ExpectedVersion.isSatisfiedBy(request.expectedVersion, head.version)) return
      accepted.push({ index, request, from: head.version })
      heads.set(request.aggregateId, { version: head.version + request.events.length, type: request.aggregateType })
    })
    insert(session, accepted).forEach((events, i) => {
      outcomes[accepted[i]!.index] = Option.some(events)
    })
    return outcomes
  }

  /** One append in a savepoint (or as its one statement): refused (undone) when it breaks a unique index. */
  const appendAlone = (session: Session, request: AppendRequest, savepoint = true): AppendOutcome => {
    try {
      return savepoint ? session.transaction(() => appendChecked(session, [request])[0]!) : appendChecked(session, [request])[0]!
    } catch (error) {
      if (isUniqueError(error)) return Option.none()
      throw error
    }
  }

  /** Appends a group in one transaction: an outcome per append, none for one refused. */
  return (session: Session, requests: ReadonlyArray<AppendRequest>): Array<AppendOutcome> => {
    const rows = requests.reduce((sum, request) => sum + request.events.length, 0)
    const oneStatement = rows <= MAX_ROWS && requests.every((request) => request.snapshot === undefined)
    // One append written by one statement needs no transaction: the statement is atomic, and
    // should another process append to the aggregate between the check and the insert, the
    // insert takes a version that process took and the unique index refuses it.
    if (oneStatement && requests.length === 1) return [appendAlone(session, requests[0]!, false)]
    return session.transaction(() => {
      try {
        // A failing statement undoes only itself: a savepoint is needed only where the group
        // writes with more than one.
        return oneStatement ? appendChecked(session, requests) : session.transaction(() => appendChecked(session, requests))
      } catch (error) {
        if (!isUniqueError(error)) throw error
        return requests.map((request) => appendAlone(session, request))
      }
    })
  }
}
