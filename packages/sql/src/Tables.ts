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
  snapshots: "eventuali_snapshots"
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
}

const mapTables = (f: (name: string) => string): Tables => ({
  events: f(names.events),
  migrations: f(names.migrations),
  checkpoints: f(names.checkpoints),
  snapshots: f(names.snapshots)
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
export const quoted = (schema: string | undefined): Tables => {
  const tables = identifiers(schema)
  return {
    events: escape(tables.events),
    migrations: escape(tables.migrations),
    checkpoints: escape(tables.checkpoints),
    snapshots: escape(tables.snapshots)
  }
}

/**
 * The PostgreSQL channel a store's appends notify (`pg_notify`) and its subscribers LISTEN on,
 * one per schema.
 *
 * @since 0.1.0
 * @category names
 */
export const channel = (schema: string | undefined): string => `eventuali:${schema ?? "public"}`
