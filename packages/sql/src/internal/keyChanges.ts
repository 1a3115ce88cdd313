/**
 * The key table's change counts read together with an aggregate's events
 * (`Statements.readStreamWithKeyChanges`, SQLite), left on the events for the key store of the
 * same database (`Privacy.SeenWithEvents`): when they equal the counts its remembered keys were
 * read under, opening the events needs no statement of its own to check them (`SqlKeyStore`).
 * The counts only grow, so equal counts at two moments mean no key row was added, removed or
 * changed in between.
 */
import type { StoredEvent } from "@eventuali/core/EventStorage"
import * as Privacy from "@eventuali/core/Privacy"
import type { SqlBackend } from "../SqlBackend.js"

export interface SeenKeyChanges {
  /** The backend whose statement read them: counts of another database are never compared. */
  readonly source: SqlBackend
  readonly removed: number
  readonly added: number
}

/** A row of `readStreamWithKeyChanges`: the event's columns and the two counts. */
export interface KeyChangeColumns {
  readonly key_removed?: number | bigint | null
  readonly key_added?: number | bigint | null
}

/** Leaves the counts of `row` (any row of the read: they are the same on all) on `events`. */
export const leave = (events: Array<StoredEvent>, row: KeyChangeColumns | undefined, source: SqlBackend): Array<StoredEvent> => {
  if (row === undefined || row.key_removed == null || row.key_added == null) return events
  const seen: SeenKeyChanges = { source, removed: Number(row.key_removed), added: Number(row.key_added) }
  Object.defineProperty(events, Privacy.SeenWithEvents, { value: seen })
  return events
}

/** The counts `seen` holds if a statement of `source` read them. */
export const seenBy = (seen: unknown, source: SqlBackend): SeenKeyChanges | undefined =>
  typeof seen === "object" && seen !== null && (seen as SeenKeyChanges).source === source ? seen as SeenKeyChanges : undefined

/** The key stores that remember keys under the counts: their store's stream reads read the counts too. */
export const rememberingKeyStores = new WeakSet<Privacy.KeyStore>()
