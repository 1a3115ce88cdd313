/**
 * The names of the event store's tables and of its notification channel, in one place: the
 * store's statements, its migrations, its checkpoints and the CLI's queries all use these.
 *
 * @since 0.1.0
 */
import * as Statement from "@effect/sql/Statement"

/**
 * The tables' own names, unqualified.
 *
 * @since 0.1.0
 * @category names
 */
export const names = {
  events: "eventuali_events",
  migrations: "eventuali_migrations",
  checkpoints: "eventuali_checkpoints",
  snapshots: "eventuali_snapshots",
  projections: "eventuali_projections",
  leases: "eventuali_projection_leases",
  instances: "eventuali_projection_instances",
  ranges: "eventuali_projection_ranges",
  parked: "eventuali_parked_events",
  archive: "eventuali_events_archive",
  keys: "eventuali_subject_keys",
  keyChanges: "eventuali_subject_key_changes",
  projectionVersions: "eventuali_projection_versions"
} as const

/**
 * The store's tables, one name each.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tables {
  readonly events: string
  readonly migrations: string
  readonly checkpoints: string
  readonly snapshots: string
  /** Each projection's partition count and filters. @since 0.2.0 */
  readonly projections: string
  /** Which instance holds which partition of a projection, until when. @since 0.2.0 */
  readonly leases: string
  /** The running instances of each projection, until when (what a fair share is divided by). @since 0.2.0 */
  readonly instances: string
  /** The ranges of events each checkpoint handled, with their count and digest. @since 0.2.0 */
  readonly ranges: string
  /** Events projections parked. @since 0.2.0 */
  readonly parked: string
  /** Events of archived streams, out of the hot table (`EventStore.archive`). */
  readonly archive: string
  /** The data subjects' keys (`Privacy`): destroyed by `forget`. @since 0.2.0 */
  readonly keys: string
  /**
   * How many key rows were removed or changed (SQLite only, kept by triggers): what lets a store
   * remember keys between reads and still see another process's `forget` at its next read. @since 0.2.0
   */
  readonly keyChanges: string
  /** The active version of each versioned projection. @since 0.2.0 */
  readonly projectionVersions: string
}

const mapTables = (f: (name: string) => string): Tables => ({
  events: f(names.events),
  migrations: f(names.migrations),
  checkpoints: f(names.checkpoints),
  snapshots: f(names.snapshots),
  projections: f(names.projections),
  leases: f(names.leases),
  instances: f(names.instances),
  ranges: f(names.ranges),
  parked: f(names.parked),
  archive: f(names.archive),
  keys: f(names.keys),
  keyChanges: f(names.keyChanges),
  projectionVersions: f(names.projectionVersions)
})

/**
 * The tables as identifiers for the `sql` template (`sql(tables.events)`): `schema.table` in a
 * PostgreSQL schema, the bare name otherwise. `@effect/sql` quotes each part.
 *
 * @since 0.1.0
 * @category names
 */
export const identifiers = (schema: string | undefined): Tables =>
  mapTables((name) => schema === undefined ? name : `${schema}.${name}`)

const escape = Statement.defaultEscape("\"")

/**
 * The tables as SQL text, quoted the way `@effect/sql` quotes identifiers: for statements
 * written as text (DDL, and the measured hot path that prepares its own statements).
 *
 * @since 0.1.0
 * @category names
 */
export const quoted = (schema: string | undefined): Tables =>
  mapTables((name) => escape(schema === undefined ? name : `${schema}.${name}`))

/** PostgreSQL keeps identifiers, channel names among them, up to 63 bytes (NAMEDATALEN - 1). */
const MAX_CHANNEL_BYTES = 63

const utf8 = new TextEncoder()

/** FNV-1a, 64 bits, of the name's UTF-8 bytes, as 16 hex digits: a short, stable stand-in for a long name. */
const fnv1a64 = (bytes: Uint8Array): string => {
  let hash = 0xcbf29ce484222325n
  for (const byte of bytes) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n)
  return hash.toString(16).padStart(16, "0")
}

/**
 * The PostgreSQL channel a store's appends notify (`pg_notify`) and its subscribers LISTEN on,
 * one per schema: `eventuali:SCHEMA`. A channel name is an identifier, at most 63 bytes:
 * `pg_notify` refuses a longer one (failing an append in a caller's transaction) and `LISTEN`
 * silently truncates it (listening elsewhere). A schema name that would not fit (54 bytes or
 * more, which a 63-character or a shorter non-ASCII name can be) gets `eventuali:#` and a hash
 * of the name instead, the same for both sides. Shorter names keep their readable channel, so
 * stores of earlier versions still wake each other.
 *
 * @since 0.1.0
 * @category names
 */
export const channel = (schema: string | undefined): string => {
  const readable = `eventuali:${schema ?? "public"}`
  const bytes = utf8.encode(readable)
  return bytes.length <= MAX_CHANNEL_BYTES ? readable : `eventuali:#${fnv1a64(bytes)}`
}
