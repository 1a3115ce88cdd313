/**
 * The SQLite append: check-then-insert on the store's synchronous connection, for one append or a
 * group committed together (`groupCommit.ts`), also inside a caller's transaction.
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
 *
 * The statements are hand-written placeholder SQL: this is the measured hot path of every save
 * (docs/performance.md, "What each optimisation bought").
 */
import { type AppendOutcome, type AppendRequest, appended, refused, type StoredEvent, TOMBSTONE } from "@eventuali/core/EventStorage"
import * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import * as SqlBackend from "@eventuali/sql/SqlBackend"
import * as Tables from "@eventuali/sql/Tables"
import type { SyncConnection } from "./connection.js"

/**
 * Most rows per INSERT. Every row count is its own prepared statement, kept for the life of the
 * connection: 100 bounds them to 100 statements of at most 900 parameters, and one statement
 * still takes a 100-event save or a group of 100 one-event saves.
 */
export const MAX_ROWS = 100

/** The SQLite append's own statements, beside the shared ones it also uses. */
export const statements = (schema: string | undefined) => {
  const t = Tables.quoted(schema)
  return {
    /** The heads (`aggregate_id, version, type`) of the aggregates in a JSON array of ids that have events. */
    // With one max(), SQLite takes the bare columns from the row that has it: the head's.
    streamHeads: `SELECT aggregate_id, max(aggregate_version) AS version, aggregate_type AS type, event_type AS head_type FROM ${t.events}
      WHERE aggregate_id IN (SELECT value FROM json_each(?)) GROUP BY aggregate_id`,
    /** A plain insert of `count` rows, checked beforehand under the write lock. */
    insertRows: SqlBackend.memoized((count: number) =>
      `INSERT INTO ${t.events}
        (event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
      VALUES ${new Array<string>(count).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`
    )
  }
}

interface Head {
  readonly version: number
  readonly type: string | undefined
  /** The newest event is a tombstone: appends are refused. */
  readonly deleted: boolean
}

const NO_EVENTS: Head = { version: 0, type: undefined, deleted: false }

/** An accepted append: its events take versions `from + 1, from + 2, …`. */
interface Accepted {
  readonly index: number
  readonly request: AppendRequest
  readonly from: number
}

/** One row to insert: an event of the `owner`-th accepted append, at `version`. */
interface Row {
  readonly owner: number
  readonly version: number
  readonly event: AppendRequest["events"][number]
}

/**
 * Makes the append on `connection`, to run inside `connection.use`: an outcome per request, in
 * order, `refused` for one that cannot apply.
 */
export const make = (connection: SyncConnection, shared: SqlBackend.Statements, own: ReturnType<typeof statements>) => {
  const readHeads = (requests: ReadonlyArray<AppendRequest>): Map<string, Head> => {
    const heads = new Map<string, Head>()
    if (requests.length === 1) {
      const [row] = connection.all(shared.streamHead, [requests[0]!.aggregateId]) as ReadonlyArray<
        { version: number; type: string | null; head_type: string | null }
      >
      if (row !== undefined && row.type !== null) {
        heads.set(requests[0]!.aggregateId, { version: Number(row.version), type: row.type, deleted: row.head_type === TOMBSTONE })
      }
      return heads
    }
    const ids = [...new Set(requests.map((request) => request.aggregateId))]
    const rows = connection.all(own.streamHeads, [JSON.stringify(ids)]) as ReadonlyArray<
      { aggregate_id: string; version: number; type: string; head_type: string }
    >
    for (const row of rows) heads.set(row.aggregate_id, { version: Number(row.version), type: row.type, deleted: row.head_type === TOMBSTONE })
    return heads
  }

  /**
   * Inserts `count` rows from `start` with one statement and adds their stored events to
   * `written`. An INTEGER PRIMARY KEY takes one more than the largest in the table, row after row
   * in the order of the VALUES list, so a statement's positions are the consecutive numbers
   * ending at its last inserted rowid.
   */
  const insertRows = (accepted: ReadonlyArray<Accepted>, rows: ReadonlyArray<Row>, start: number, count: number, written: Array<Array<StoredEvent>>) => {
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
    const { changes, lastInsertRowid } = connection.run(own.insertRows(count), params)
    // A statement that inserts fewer rows than it lists cannot happen without an error: this is
    // the driver breaking its own contract, not an outcome.
    if (changes !== count) throw new Error(`An insert of ${count} events changed ${changes} rows`)
    const first = BigInt(lastInsertRowid) - BigInt(count - 1)
    for (let i = 0; i < count; i++) {
      const { event, owner, version } = rows[start + i]!
      written[owner]!.push(SqlBackend.storedEvent(accepted[owner]!.request, event, version, first + BigInt(i)))
    }
  }

  /** Inserts the accepted appends' events in order, then their snapshots: each one's stored events. */
  const insertAccepted = (accepted: ReadonlyArray<Accepted>): Array<Array<StoredEvent>> => {
    const written = accepted.map(() => [] as Array<StoredEvent>)
    const rows: Array<Row> = []
    accepted.forEach(({ from, request }, owner) =>
      request.events.forEach((event, i) => rows.push({ owner, version: from + i + 1, event }))
    )
    for (let start = 0; start < rows.length; start += MAX_ROWS) {
      insertRows(accepted, rows, start, Math.min(MAX_ROWS, rows.length - start), written)
    }
    for (const { from, request } of accepted) {
      if (request.snapshot === undefined) continue
      connection.run(shared.writeSnapshot, [
        request.aggregateId,
        request.aggregateType,
        from + request.events.length,
        request.snapshot.schemaVersion,
        request.snapshot.stateJson
      ])
    }
    return written
  }

  /** Checks the appends in order against their heads, and inserts those accepted. */
  const checkAndInsert = (requests: ReadonlyArray<AppendRequest>): Array<AppendOutcome> => {
    const heads = readHeads(requests)
    const outcomes: Array<AppendOutcome> = requests.map(() => refused)
    const accepted: Array<Accepted> = []
    requests.forEach((request, index) => {
      const head = heads.get(request.aggregateId) ?? NO_EVENTS
      if (
        head.deleted || (head.type !== undefined && head.type !== request.aggregateType) ||
        !ExpectedVersion.isSatisfiedBy(request.expectedVersion, head.version)
      ) return
      accepted.push({ index, request, from: head.version })
      const last = request.events[request.events.length - 1]!
      heads.set(request.aggregateId, {
        version: head.version + request.events.length,
        type: request.aggregateType,
        deleted: last.eventType === TOMBSTONE
      })
    })
    insertAccepted(accepted).forEach((events, i) => {
      outcomes[accepted[i]!.index] = appended(events)
    })
    return outcomes
  }

  /** One append in a savepoint (or as its one statement): refused (undone) when it breaks a unique index. */
  const appendAlone = (request: AppendRequest, savepoint: boolean): AppendOutcome => {
    try {
      return savepoint ? connection.transaction(() => checkAndInsert([request])[0]!) : checkAndInsert([request])[0]!
    } catch (error) {
      if (SqlBackend.isUniqueError(error)) return refused
      throw error
    }
  }

  return (requests: ReadonlyArray<AppendRequest>): Array<AppendOutcome> => {
    const rows = requests.reduce((sum, request) => sum + request.events.length, 0)
    const oneStatement = rows <= MAX_ROWS && requests.every((request) => request.snapshot === undefined)
    // One append written by one statement needs no transaction: the statement is atomic, and
    // should another process append to the aggregate between the check and the insert, the
    // insert takes a version that process took and the unique index refuses it.
    if (oneStatement && requests.length === 1) return [appendAlone(requests[0]!, false)]
    return connection.transaction(() => {
      try {
        // A failing statement undoes only itself: a savepoint is needed only where the group
        // writes with more than one.
        return oneStatement ? checkAndInsert(requests) : connection.transaction(() => checkAndInsert(requests))
      } catch (error) {
        if (!SqlBackend.isUniqueError(error)) throw error
        return requests.map((request) => appendAlone(request, true))
      }
    })
  }
}
