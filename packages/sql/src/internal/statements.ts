/**
 * The statements the shared store runs (reads, the stream head, snapshots), for both dialects
 * side by side. They differ only where the databases must: placeholders, JSON lists, how a
 * timestamp is read back, and PostgreSQL's gap-safe visibility rule.
 *
 * Written as text with placeholders, not with the `sql` template, on purpose: they run on every
 * load, read and save, and a driver prepares each text once. Building a statement through the
 * template costs more than SQLite takes to run one (docs/performance.md, "What each optimisation
 * bought"). Each driver's append statements live in the driver.
 */
import { TOMBSTONE } from "@eventuali/core/EventStorage"
import * as Tables from "../Tables.js"

/** The shared statement texts of one dialect. */
export interface Statements {
  /**
   * Current version, owner type and newest event type of one aggregate (one row: `version`,
   * `type`, `head_type`).
   */
  readonly streamHead: string
  /** Which of a JSON array of event ids are stored, and where (archived ones too: their ids stay taken). */
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
   * Removes an aggregate's oldest events below a version (param 2), at most param 3 of them;
   * returns one row per event removed.
   */
  readonly removeEvents: string
  /** Removes an aggregate's snapshot. */
  readonly removeSnapshot: string
  /** Removes an aggregate's tombstone at a version (param 2); returns a row if it did. */
  readonly removeTombstone: string
  /**
   * The streams of an aggregate type (param 1) with ids above param 2, by id, at most param 3:
   * `aggregate_id`, `first_version`, `last_version`, `last_timestamp` (the newest timestamp, ms).
   */
  readonly listStreams: string
  /** The lowest version of an aggregate whose timestamp is at or after param 2 (ms); `version`. */
  readonly firstVersionSince: string
  /** An aggregate's archived events with versions above param 2 and below param 3, by version. */
  readonly readArchived: string
  /** Copies an aggregate's oldest events below a version (param 2), at most param 3, into the archive. */
  readonly archiveCopy: string
  /**
   * Removes from the events table an aggregate's events below a version (param 2) that the archive
   * holds (param 3: the aggregate id again); one row per event removed.
   */
  readonly archiveRemove: string
  /** {@link removeEvents} in the archive. */
  readonly removeArchivedEvents: string
  /**
   * Refreshes the archive's planner statistics (PostgreSQL's `ANALYZE`; `undefined` on SQLite,
   * whose planner takes the unique index anyway). Every append checks its ids against the archive
   * through a prepared statement: planned while the archive was empty, its cached plan scans the
   * whole archive until statistics say it is large (measured: appends 4x slower right after the
   * first archiving pass, until autovacuum's ANALYZE). A store runs it whenever the events it
   * archived doubled.
   */
  readonly refreshArchiveStatistics: string | undefined
  /**
   * The keys of the subjects in a list (param 1, bound with `list`), by subject then generation:
   * `subject_id`, `generation`, `key_id`, `material`. Every read of personal data runs it.
   */
  readonly subjectKeys: string
  /**
   * How many key rows were ever removed or changed (`removed`) and added (`added`), counted by
   * triggers, in one row: what tells a key store that keys it remembers are still the keys
   * (`SqlKeyStore`). `undefined` where the store has no such count (PostgreSQL: a key lookup is
   * one round trip either way, so it looks the keys up on every read).
   */
  readonly subjectKeyChanges: string | undefined
  /**
   * {@link readStream} with the two counts of {@link subjectKeyChanges} on every row
   * (`key_removed`, `key_added`), read in the same statement: what lets a load's key check go
   * without a statement of its own (`SqlKeyStore`). `undefined` where there are no counts.
   */
  readonly readStreamWithKeyChanges?: string | undefined
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

/** What a `readAll` filters on and whether it is limited: one statement text each. */
export interface ReadShape {
  readonly aggregateTypes: FilterShape
  readonly eventTypes: FilterShape
  readonly limited: boolean
}

/** The shape of one filter of a read. */
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

/**
 * The columns the reads of events select, in this order (a driver may read a row's values by
 * position: `SqlBackend.EVENT_COLUMNS`).
 */
export const EVENT_COLUMNS = [
  "position",
  "event_id",
  "event_type",
  "event_version",
  "aggregate_id",
  "aggregate_type",
  "aggregate_version",
  "data",
  "metadata",
  "timestamp"
] as const

/** Columns selected by the reads: the same names and JS shapes in both dialects. */
const columns = (timestamp: string, json: (column: string) => string) =>
  EVENT_COLUMNS.map((column) =>
    column === "data" || column === "metadata" ? `${json(column)} AS ${column}` : column === "timestamp" ? `${timestamp} AS timestamp` : column
  ).join(", ")

/** The columns an archived event keeps, as stored. */
const ARCHIVED_COLUMNS =
  "position, event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp"

/**
 * The unique key an upsert names, given its own columns: on tables shared by tenants (PgTenants'
 * conjoined strategy, where the store's tables are one tenant's views), every unique key starts
 * with the tenant column, and `ON CONFLICT` must name a unique index's columns exactly.
 */
export const conflictKey = (columns: string, conjoined: boolean | undefined): string =>
  conjoined === true ? `tenant_id, ${columns}` : columns

const snapshotUpsert = (conjoined: boolean | undefined) => `ON CONFLICT (${conflictKey("aggregate_id", conjoined)}) DO UPDATE SET aggregate_type = excluded.aggregate_type,
        aggregate_version = excluded.aggregate_version, schema_version = excluded.schema_version,
        state = excluded.state, created_at = excluded.created_at
      WHERE excluded.aggregate_version > old.aggregate_version OR excluded.schema_version <> old.schema_version`

/** The SQLite texts. */
export const sqlite = (schema: string | undefined): Statements => {
  const t = Tables.quoted(schema)
  const COLUMNS = columns("timestamp", (column) => column)
  return {
    streamHead: `SELECT coalesce(max(aggregate_version), 0) AS version, max(aggregate_type) AS type, max(event_type) AS head_type FROM (
        SELECT aggregate_version, aggregate_type, event_type FROM ${t.events}
        WHERE aggregate_id = ? ORDER BY aggregate_version DESC LIMIT 1)`,
    existingIds: `WITH ids AS (SELECT value FROM json_each(?))
      SELECT event_id, aggregate_id, aggregate_version FROM ${t.events} WHERE event_id IN (SELECT value FROM ids)
      UNION ALL SELECT event_id, aggregate_id, aggregate_version FROM ${t.archive} WHERE event_id IN (SELECT value FROM ids)`,
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
      ${snapshotUpsert(false)}`,
    readSnapshot: `SELECT aggregate_type, aggregate_version, schema_version, state FROM ${t.snapshots} WHERE aggregate_id = ?`,
    removeEvents: `DELETE FROM ${t.events} WHERE position IN (
        SELECT position FROM ${t.events} WHERE aggregate_id = ? AND aggregate_version < ?
        ORDER BY aggregate_version LIMIT ?)
      RETURNING aggregate_version`,
    removeSnapshot: `DELETE FROM ${t.snapshots} WHERE aggregate_id = ?`,
    removeTombstone: `DELETE FROM ${t.events} WHERE aggregate_id = ? AND aggregate_version = ? AND event_type = '${TOMBSTONE}'
      RETURNING aggregate_version`,
    // Walks the stream index in id order, so a page costs its own streams' events, not the type's.
    listStreams: `SELECT aggregate_id, min(aggregate_version) AS first_version, max(aggregate_version) AS last_version,
        max(timestamp) AS last_timestamp
      FROM ${t.events} INDEXED BY eventuali_events_stream
      WHERE aggregate_type = ? AND aggregate_id > ?
      GROUP BY aggregate_id ORDER BY aggregate_id LIMIT ?`,
    firstVersionSince: `SELECT min(aggregate_version) AS version FROM ${t.events} WHERE aggregate_id = ? AND timestamp >= ?`,
    readArchived: `SELECT ${COLUMNS} FROM ${t.archive}
      WHERE aggregate_id = ? AND aggregate_version > ? AND aggregate_version < ? ORDER BY aggregate_version`,
    archiveCopy: `INSERT INTO ${t.archive} (${ARCHIVED_COLUMNS})
      SELECT ${ARCHIVED_COLUMNS} FROM ${t.events} WHERE position IN (
        SELECT position FROM ${t.events} WHERE aggregate_id = ? AND aggregate_version < ? ORDER BY aggregate_version LIMIT ?)
      ON CONFLICT DO NOTHING`,
    archiveRemove: `DELETE FROM ${t.events} WHERE aggregate_id = ? AND aggregate_version < ?
        AND position IN (SELECT position FROM ${t.archive} WHERE aggregate_id = ?)
      RETURNING aggregate_version`,
    removeArchivedEvents: `DELETE FROM ${t.archive} WHERE position IN (
        SELECT position FROM ${t.archive} WHERE aggregate_id = ? AND aggregate_version < ?
        ORDER BY aggregate_version LIMIT ?)
      RETURNING aggregate_version`,
    refreshArchiveStatistics: undefined,
    subjectKeys: `SELECT subject_id, generation, key_id, material FROM ${t.keys}
      WHERE subject_id IN (SELECT value FROM json_each(?)) ORDER BY subject_id, generation`,
    subjectKeyChanges: `SELECT removed, added FROM ${t.keyChanges}`,
    // The subqueries are not correlated: SQLite runs each once per statement, not per row.
    readStreamWithKeyChanges: `SELECT ${COLUMNS},
        (SELECT removed FROM ${t.keyChanges}) AS key_removed, (SELECT added FROM ${t.keyChanges}) AS key_added
      FROM ${t.events} WHERE aggregate_id = ? AND aggregate_version > ? ORDER BY aggregate_version`
  }
}

/**
 * PostgreSQL positions are `(transaction id << 20) + n`, n counting the events a transaction
 * writes. Sequences are not transactional, so a sequence-assigned position could commit after a
 * higher one and a reader tailing by position would skip it. With the writer's transaction id in
 * the high bits, position order is (transaction id, n) order, and a reader that only looks below
 * `pg_snapshot_xmin(pg_current_snapshot()) << 20` sees a prefix that can never grow in the
 * middle: every transaction with a lower id has ended. At most 2^20 - 1 events per transaction.
 * The PostgreSQL driver's append (`packages/postgres/src/internal/append.ts`) assigns them.
 */
export const POSITION_SHIFT = 20
export const MAX_EVENTS_PER_TRANSACTION = 2 ** POSITION_SHIFT - 1

/** The highest position every transaction below the oldest one still running has ended. */
const VISIBLE_BELOW = `(pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ${POSITION_SHIFT})`

/** The PostgreSQL texts; `conjoined`: the tables are one tenant's views of tables shared by tenants. */
export const pg = (schema: string | undefined, conjoined?: boolean): Statements => {
  const t = Tables.quoted(schema)
  const COLUMNS = columns(
    // A timestamp set to 'infinity' by hand reads as its text, which the store reports as corrupt.
    "CASE WHEN isfinite(timestamp) THEN (extract(epoch FROM timestamp) * 1000)::bigint::text ELSE timestamp::text END",
    (column) => `${column}::text`
  )
  return {
    streamHead: `SELECT coalesce(max(aggregate_version), 0) AS version, max(aggregate_type) AS type, max(event_type) AS head_type FROM (
        SELECT aggregate_version, aggregate_type, event_type FROM ${t.events}
        WHERE aggregate_id = $1 ORDER BY aggregate_version DESC LIMIT 1) h`,
    existingIds: `SELECT event_id, aggregate_id, aggregate_version FROM ${t.events}
      WHERE event_id IN (SELECT jsonb_array_elements_text($1::jsonb))
      UNION ALL SELECT event_id, aggregate_id, aggregate_version FROM ${t.archive}
      WHERE event_id IN (SELECT jsonb_array_elements_text($1::jsonb))`,
    readStream: `SELECT ${COLUMNS} FROM ${t.events}
      WHERE aggregate_id = $1 AND aggregate_version > $2 ORDER BY aggregate_version`,
    readAll: (shape) => {
      const { conditions, limit } = readConditions(shape, (n) => `$${n}`, (column, param) => `${column} = ANY(${param}::text[])`)
      return `SELECT ${COLUMNS} FROM ${t.events} WHERE position > $1 AND position < ${VISIBLE_BELOW}${conditions} ORDER BY position${limit}`
    },
    list: (values) => values,
    logHead: `SELECT (${VISIBLE_BELOW} - 1)::text AS head`,
    version: `SELECT max(aggregate_version) AS version FROM ${t.events} WHERE aggregate_id = $1`,
    writeSnapshot: `INSERT INTO ${t.snapshots} AS old
        (aggregate_id, aggregate_type, aggregate_version, schema_version, state, created_at)
      VALUES ($1, $2, $3, $4, $5::json, now())
      ${snapshotUpsert(conjoined)}`,
    readSnapshot: `SELECT aggregate_type, aggregate_version, schema_version, state::text AS state FROM ${t.snapshots} WHERE aggregate_id = $1`,
    removeEvents: `DELETE FROM ${t.events} WHERE position IN (
        SELECT position FROM ${t.events} WHERE aggregate_id = $1 AND aggregate_version < $2
        ORDER BY aggregate_version LIMIT $3)
      RETURNING aggregate_version`,
    removeSnapshot: `DELETE FROM ${t.snapshots} WHERE aggregate_id = $1`,
    removeTombstone: `DELETE FROM ${t.events} WHERE aggregate_id = $1 AND aggregate_version = $2 AND event_type = '${TOMBSTONE}'
      RETURNING aggregate_version`,
    listStreams: `SELECT aggregate_id, min(aggregate_version)::text AS first_version, max(aggregate_version)::text AS last_version,
        (extract(epoch FROM max(timestamp)) * 1000)::bigint::text AS last_timestamp
      FROM ${t.events}
      WHERE aggregate_type = $1 AND aggregate_id > $2
      GROUP BY aggregate_id ORDER BY aggregate_id LIMIT $3`,
    firstVersionSince: `SELECT min(aggregate_version)::text AS version FROM ${t.events}
      WHERE aggregate_id = $1 AND timestamp >= to_timestamp($2::float8 / 1000)`,
    readArchived: `SELECT ${COLUMNS} FROM ${t.archive}
      WHERE aggregate_id = $1 AND aggregate_version > $2 AND aggregate_version < $3 ORDER BY aggregate_version`,
    archiveCopy: `INSERT INTO ${t.archive} (transaction_id, ${ARCHIVED_COLUMNS})
      SELECT transaction_id, ${ARCHIVED_COLUMNS} FROM ${t.events} WHERE position IN (
        SELECT position FROM ${t.events} WHERE aggregate_id = $1 AND aggregate_version < $2 ORDER BY aggregate_version LIMIT $3)
      ON CONFLICT DO NOTHING`,
    archiveRemove: `DELETE FROM ${t.events} WHERE aggregate_id = $1 AND aggregate_version < $2
        AND position IN (SELECT position FROM ${t.archive} WHERE aggregate_id = $3)
      RETURNING aggregate_version`,
    removeArchivedEvents: `DELETE FROM ${t.archive} WHERE position IN (
        SELECT position FROM ${t.archive} WHERE aggregate_id = $1 AND aggregate_version < $2
        ORDER BY aggregate_version LIMIT $3)
      RETURNING aggregate_version`,
    refreshArchiveStatistics: `ANALYZE ${t.archive}`,
    subjectKeys: `SELECT subject_id, generation, key_id, material FROM ${t.keys}
      WHERE subject_id = ANY($1::text[]) ORDER BY subject_id, generation`,
    subjectKeyChanges: undefined
  }
}
