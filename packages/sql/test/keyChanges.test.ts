/**
 * The key table's change counts a stream read leaves on its events (`internal/keyChanges.ts`):
 * only the backend that read them may use them, and only counts that were read are left.
 */
import { describe, expect, it } from "@effect/vitest"
import type { StoredEvent } from "@eventuali/core/EventStorage"
import * as Privacy from "@eventuali/core/Privacy"
import * as KeyChanges from "../src/internal/keyChanges.js"
import type * as SqlBackend from "../src/SqlBackend.js"

const backend = {} as SqlBackend.SqlBackend
const another = {} as SqlBackend.SqlBackend

describe("key change counts read with events", () => {
  it("are left on the events, for the backend that read them only", () => {
    const events = KeyChanges.leave([] as Array<StoredEvent>, { key_removed: 2n, key_added: 5 }, backend)
    const seen = (events as { readonly [Privacy.SeenWithEvents]?: unknown })[Privacy.SeenWithEvents]
    expect(KeyChanges.seenBy(seen, backend)).toEqual({ source: backend, removed: 2, added: 5 })
    expect(KeyChanges.seenBy(seen, another)).toBeUndefined()
    // Not enumerable: the events array reads, copies and prints as before.
    expect(Object.keys(events)).toEqual([])
  })

  it("are not left when the read had no counts (a plain read, or no row)", () => {
    for (const row of [undefined, {}, { key_removed: null, key_added: 1 }]) {
      const events = KeyChanges.leave([] as Array<StoredEvent>, row, backend)
      expect(Privacy.SeenWithEvents in events).toBe(false)
    }
    expect(KeyChanges.seenBy(undefined, backend)).toBeUndefined()
    expect(KeyChanges.seenBy({ removed: 1, added: 1 }, backend)).toBeUndefined()
  })
})
