/**
 * Every SQL statement of the store, for both dialects side by side. They differ only where the
 * databases must: placeholders, column types, how a batch is bound (a VALUES list in SQLite,
 * arrays through `unnest` in PostgreSQL), and PostgreSQL's gap-safe visibility rule.
 */
import type { AppendRequest } from "@eventuali/core/EventStorage"

/** Where the store's tables live: unqualified, or in a PostgreSQL schema. */
export interface Tables {
  readonly events: string
  readonly migrations: string
  readonly checkpoints: string
  readonly snapshots: string
  /** The PostgreSQL notification channel appends signal on (commit-time wake-ups). */
  readonly channel: string
}

export const tables = (schema: string | undefined): Tables => {
  const qualify = (name: string) => schema === undefined ? name : `"${schema}".${name}`
  return {
    events: qualify("eventuali_events"),
    migrations: qualify("eventuali_migrations"),
    checkpoints: qualify("eventuali_checkpoints"),
    snapshots: qualify("eventuali_snapshots"),
    channel: `eventuali:${schema ?? "public"}`
  }
}

export interface Statements {
  /** Events per append statement (SQLite binds each value; PostgreSQL binds arrays). */
  readonly chunkSize: number
  /** Whether a failed statement aborts the transaction around it (PostgreSQL) or only itself (SQLite). */
  readonly errorsAbortTransactions: boolean
  /**
   * Whether concurrent appends are committed together by one writer (SQLite: one connection,
   * one writer anyway, and a commit per append would cost an fsync each). PostgreSQL commits
   * concurrently on its pool, with its own group commit in the WAL.
   */
  readonly groupCommit: boolean
  /**
   * Appends `count` events in one conditional statement: the stream head (current version and
   * owner type) is read in the same statement, rows are inserted only if the owner matches and
   * the current version lies in [lo, hi], with versions `current + k`. Returns the inserted
   * `position, aggregate_version`; no rows means refused.
   */
  readonly append: (count: number) => string
  readonly appendParams: (
    request: AppendRequest,
    lo: number,
    hi: number,
    from: number,
    to: number
  ) => Array<unknown>
  /** Current version and owner type of one aggregate (one row). */
  readonly streamHead: string
  /**
   * SQLite, for appends on a synchronous connection: the heads (`aggregate_id, version, type`)
   * of the aggregates in a JSON array of ids, one row each that has events.
   */
  readonly streamHeads: string | undefined
  /**
   * SQLite, for appends on a synchronous connection: a plain insert of `count` rows of
   * `event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data,
   * metadata, timestamp`, checked beforehand under the write lock.
   */
  readonly insertRows: ((count: number) => string) | undefined
  /** Which of a JSON array of event ids are stored, and where. */
  readonly existingIds: string
  /** An aggregate's events after a version. */
  readonly readStream: string
  /**
   * Events after a position (param 1), optionally filtered by aggregate types then event types
   * (one param each: the value for one, a list for several), optionally limited (last param).
   */
  readonly readAll: (shape: ReadShape) => string
  /** Binds a list filter of the shape `readAll` was given ("many"). */
  readonly list: (values: ReadonlyArray<string>) => unknown
  /** The visible head of the log: a position at or above every visible event (one row, `head`). */
  readonly logHead: string
  /** An aggregate's version. */
  readonly version: string
  /**
   * Writes an aggregate's snapshot (id, type, aggregate version, schema version, state JSON),
   * replacing an older one or one of another schema version.
   */
  readonly writeSnapshot: string
  /** An aggregate's snapshot (one row or none). */
  readonly readSnapshot: string
  /**
   * The oldest transaction still running and the next to start (as text), where readers must
   * wait for writers: PostgreSQL only.
   */
  readonly snapshot: string | undefined
  /**
   * Wakes other processes' subscribers after appends committed (PostgreSQL: NOTIFY on the
   * store's channel, param 1). Sent after the commit, outside the append's transaction:
   * PostgreSQL serialises the commits of notifying transactions, which would undo its group
   * commit for concurrent appends.
   */
  readonly notify: string | undefined
}

/**
 * A statement text builder that builds each text once: the drivers prepare statements by their
 * text, so the same shape must give the same string.
 */
export const memoized = <A, K = A>(build: (arg: A) => string, keyOf: (arg: A) => K = (arg) => arg as unknown as K) => {
  const texts = new Map<K, string>()
  return (arg: A): string => {
    const key = keyOf(arg)
    let text = texts.get(key)
    if (text === undefined) {
      text = build(arg)
      texts.set(key, text)
    }
    return text
  }
}

/** How many values a filter of `readAll` has. */
export type FilterShape = "none" | "one" | "many"

export interface ReadShape {
  readonly aggregateTypes: FilterShape
  readonly eventTypes: FilterShape
  readonly limited: boolean
}

export const filterShape = (values: ReadonlyArray<string> | undefined): FilterShape =>
  values === undefined || values.length === 0 ? "none" : values.length === 1 ? "one" : "many"

/** The WHERE conditions of a read, numbering parameters from 2 with `placeholder`. */
const readConditions = (
  shape: ReadShape,
  placeholder: (n: number) => string,
  many: (column: string, param: string) => string
): { readonly conditions: string; readonly limit: string } => {
  let n = 2
  let conditions = ""
  for (const [column, filter] of [["aggregate_type", shape.aggregateTypes], ["event_type", shape.eventTypes]] as const) {
    if (filter === "one") conditions += ` AND ${column} = ${placeholder(n++)}`
    if (filter === "many") conditions += ` AND ${many(column, placeholder(n++))}`
  }
  return { conditions, limit: shape.limited ? ` LIMIT ${placeholder(n)}` : "" }
}

/** Columns selected by the reads: the same names and JS shapes in both dialects. */
const columns = (timestamp: string, json: (column: string) => string) =>
  `position, event_id, event_type, event_version, aggregate_id, aggregate_type, aggregate_version, ${
    json("data")
  } AS data, ${json("metadata")} AS metadata, ${timestamp} AS timestamp`

export const sqlite = (t: Tables): Statements => {
  const COLUMNS = columns("timestamp", (column) => column)
  return {
    chunkSize: 1000,
    errorsAbortTransactions: false,
    groupCommit: true,
    append: (count) => {
      const values = new Array<string>(count)
      for (let k = 0; k < count; k++) values[k] = `(${k + 1}, ?, ?, ?, ?, ?, ?)`
      return `WITH p(aggregate_id, aggregate_type, lo, hi) AS (VALUES (?, ?, ?, ?)),
        s(version, type) AS (
          SELECT coalesce(max(aggregate_version), 0), max(aggregate_type) FROM (
            SELECT aggregate_version, aggregate_type FROM ${t.events}
            WHERE aggregate_id = (SELECT aggregate_id FROM p)
            ORDER BY aggregate_version DESC LIMIT 1)),
        v(k, event_id, event_type, event_version, data, metadata, timestamp) AS (VALUES ${values.join(", ")})
        INSERT INTO ${t.events}
          (event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
        SELECT v.event_id, p.aggregate_id, p.aggregate_type, s.version + v.k, v.event_type, v.event_version,
               v.data, v.metadata, v.timestamp
        FROM p, s, v
        WHERE (s.type IS NULL OR s.type = p.aggregate_type) AND s.version BETWEEN p.lo AND p.hi
        RETURNING position, aggregate_version`
    },
    appendParams: (request, lo, hi, from, to) => {
      const params: Array<unknown> = [request.aggregateId, request.aggregateType, lo, hi]
      for (let i = from; i < to; i++) {
        const event = request.events[i]!
        params.push(
          event.eventId,
          event.eventType,
          event.eventVersion,
          event.dataJson,
          event.metadataJson,
          event.timestamp.getTime()
        )
      }
      return params
    },
    streamHead: `SELECT coalesce(max(aggregate_version), 0) AS version, max(aggregate_type) AS type FROM (
        SELECT aggregate_version, aggregate_type FROM ${t.events}
        WHERE aggregate_id = ? ORDER BY aggregate_version DESC LIMIT 1)`,
    streamHeads: `SELECT aggregate_id, max(aggregate_version) AS version, aggregate_type AS type FROM ${t.events}
      WHERE aggregate_id IN (SELECT value FROM json_each(?)) GROUP BY aggregate_id`,
    insertRows: (count) =>
      `INSERT INTO ${t.events}
        (event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
      VALUES ${new Array<string>(count).fill("(?, ?, ?, ?, ?, ?, ?, ?, ?)").join(", ")}`,
    existingIds: `SELECT event_id, aggregate_id, aggregate_version FROM ${t.events}
      WHERE event_id IN (SELECT value FROM json_each(?))`,
    readStream: `SELECT ${COLUMNS} FROM ${t.events}
      WHERE aggregate_id = ? AND aggregate_version > ? ORDER BY aggregate_version`,
    readAll: (shape) => {
      const { conditions, limit } = readConditions(shape, () => "?", (column, param) => `${column} IN (SELECT value FROM json_each(${param}))`)
      return `SELECT ${COLUMNS} FROM ${t.events} WHERE position > ?${conditions} ORDER BY position${limit}`
    },
    list: (values) => JSON.stringify(values),
    logHead: `SELECT coalesce(max(position), 0) AS head FROM ${t.events}`,
    version: `SELECT max(aggregate_version) AS version FROM ${t.events} WHERE aggregate_id = ?`,
    writeSnapshot: `INSERT INTO ${t.snapshots} AS old
        (aggregate_id, aggregate_type, aggregate_version, schema_version, state, created_at)
      VALUES (?, ?, ?, ?, ?, CAST(unixepoch('subsec') * 1000 AS INTEGER))
      ON CONFLICT (aggregate_id) DO UPDATE SET aggregate_type = excluded.aggregate_type,
        aggregate_version = excluded.aggregate_version, schema_version = excluded.schema_version,
        state = excluded.state, created_at = excluded.created_at
      WHERE excluded.aggregate_version > old.aggregate_version OR excluded.schema_version <> old.schema_version`,
    readSnapshot: `SELECT aggregate_type, aggregate_version, schema_version, state FROM ${t.snapshots} WHERE aggregate_id = ?`,
    snapshot: undefined,
    notify: undefined
  }
}

/**
 * PostgreSQL positions are `(transaction id << 20) + n`, n counting the events a transaction
 * writes. Sequences are not transactional, so a sequence-assigned position could commit after a
 * higher one and a reader tailing by position would skip it. With the writer's transaction id in
 * the high bits, position order is (transaction id, n) order, and a reader that only looks below
 * `pg_snapshot_xmin(pg_current_snapshot()) << 20` sees a prefix that can never grow in the
 * middle: every transaction with a lower id has ended. At most 2^20 - 1 events per transaction.
 */
export const POSITION_SHIFT = 20
export const MAX_EVENTS_PER_TRANSACTION = 2 ** POSITION_SHIFT - 1

export const pg = (t: Tables): Statements => {
  const COLUMNS = columns(
    // A timestamp set to 'infinity' by hand reads as its text, which the store reports as corrupt.
    "CASE WHEN isfinite(timestamp) THEN (extract(epoch FROM timestamp) * 1000)::bigint::text ELSE timestamp::text END",
    (column) => `${column}::text`
  )
  const visible = `position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ${POSITION_SHIFT})`
  return {
    chunkSize: MAX_EVENTS_PER_TRANSACTION,
    errorsAbortTransactions: true,
    groupCommit: false,
    append: () =>
      `WITH s AS (
        SELECT coalesce(max(aggregate_version), 0) AS version, max(aggregate_type) AS type FROM (
          SELECT aggregate_version, aggregate_type FROM ${t.events}
          WHERE aggregate_id = $1 ORDER BY aggregate_version DESC LIMIT 1) h),
      x AS (SELECT pg_current_xact_id()::text::bigint << ${POSITION_SHIFT} AS base),
      -- Continue after this transaction's earlier appends (group commits, process managers).
      n AS (
        SELECT coalesce(max(e.position) - x.base, 0) AS written FROM x
        LEFT JOIN ${t.events} e ON e.position >= x.base AND e.position < x.base + ${2 ** POSITION_SHIFT}
        GROUP BY x.base)
      INSERT INTO ${t.events}
        (position, event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version,
         data, metadata, timestamp)
      SELECT x.base + n.written + v.k, v.event_id, $1, $2,
             s.version + v.k, v.event_type, v.event_version, v.data::jsonb, v.metadata::jsonb,
             'epoch'::timestamptz + v.ms * interval '1 millisecond'
      FROM s, x, n, unnest($5::text[], $6::text[], $7::int4[], $8::text[], $9::text[], $10::int8[])
        WITH ORDINALITY AS v(event_id, event_type, event_version, data, metadata, ms, k)
      WHERE (s.type IS NULL OR s.type = $2) AND s.version BETWEEN $3 AND $4
        AND n.written + cardinality($5::text[]) <= ${MAX_EVENTS_PER_TRANSACTION}
      RETURNING position, aggregate_version`,
    appendParams: (request, lo, hi, from, to) => {
      const ids: Array<string> = []
      const types: Array<string> = []
      const versions: Array<number> = []
      const data: Array<string> = []
      const metadata: Array<string> = []
      const ms: Array<number> = []
      for (let i = from; i < to; i++) {
        const event = request.events[i]!
        ids.push(event.eventId)
        types.push(event.eventType)
        versions.push(event.eventVersion)
        data.push(event.dataJson)
        metadata.push(event.metadataJson)
        ms.push(event.timestamp.getTime())
      }
      return [request.aggregateId, request.aggregateType, lo, hi, ids, types, versions, data, metadata, ms]
    },
    streamHead: `SELECT coalesce(max(aggregate_version), 0) AS version, max(aggregate_type) AS type FROM (
        SELECT aggregate_version, aggregate_type FROM ${t.events}
        WHERE aggregate_id = $1 ORDER BY aggregate_version DESC LIMIT 1) h`,
    streamHeads: undefined,
    insertRows: undefined,
    existingIds: `SELECT event_id, aggregate_id, aggregate_version FROM ${t.events}
      WHERE event_id IN (SELECT jsonb_array_elements_text($1::jsonb))`,
    readStream: `SELECT ${COLUMNS} FROM ${t.events}
      WHERE aggregate_id = $1 AND aggregate_version > $2 ORDER BY aggregate_version`,
    readAll: (shape) => {
      const { conditions, limit } = readConditions(shape, (n) => `$${n}`, (column, param) => `${column} = ANY(${param}::text[])`)
      return `SELECT ${COLUMNS} FROM ${t.events} WHERE position > $1 AND ${visible}${conditions} ORDER BY position${limit}`
    },
    list: (values) => values,
    logHead: `SELECT ((pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ${POSITION_SHIFT}) - 1)::text AS head`,
    version: `SELECT max(aggregate_version) AS version FROM ${t.events} WHERE aggregate_id = $1`,
    writeSnapshot: `INSERT INTO ${t.snapshots} AS old
        (aggregate_id, aggregate_type, aggregate_version, schema_version, state, created_at)
      VALUES ($1, $2, $3, $4, $5::jsonb, now())
      ON CONFLICT (aggregate_id) DO UPDATE SET aggregate_type = excluded.aggregate_type,
        aggregate_version = excluded.aggregate_version, schema_version = excluded.schema_version,
        state = excluded.state, created_at = excluded.created_at
      WHERE excluded.aggregate_version > old.aggregate_version OR excluded.schema_version <> old.schema_version`,
    readSnapshot: `SELECT aggregate_type, aggregate_version, schema_version, state::text AS state FROM ${t.snapshots} WHERE aggregate_id = $1`,
    snapshot: `SELECT pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax FROM pg_current_snapshot() s`,
    notify: `SELECT pg_notify($1, '')`
  }
}
