/**
 * The causation graph of an event: its causes, followed up by event id (indexed), and what
 * followed from the first of them, found in a window of the log after it (metadata has no
 * index, and effects come after their causes). Both walks are bounded, so a graph costs the
 * same on any store; `truncated` says when a bound cut it.
 */
import type { DatabaseError } from "@eventuali/core/Errors"
import { Effect } from "effect"
import * as Queries from "./queries.js"

/** The longest chain of causes followed. */
const MAX_DEPTH = 100
/** How many events after the first cause are looked at. */
export const WINDOW = 5_000
/** The most events a graph holds. */
const MAX_NODES = 300

const stringOf = (value: unknown): string | undefined => typeof value === "string" ? value : undefined

export const correlationIdOf = (link: Queries.Link): string | undefined => stringOf(link.metadata["correlationId"])
export const causationIdOf = (link: Queries.Link): string | undefined => stringOf(link.metadata["causationId"])

export interface Graph {
  /** From the first cause down to the event. */
  readonly chain: ReadonlyArray<Queries.Link>
  readonly nodes: ReadonlyArray<Queries.Link>
  readonly truncated: boolean
}

/** The graph of `eventId`, `undefined` when there is no such event. */
export const graphOf = (sql: Queries.Sql, eventId: string): Effect.Effect<Graph | undefined, DatabaseError> =>
  Effect.gen(function*() {
    const event = yield* Queries.linkById(sql, eventId)
    if (event === undefined) return undefined
    const chain = [event]
    let truncated = false
    for (let cause = causationIdOf(event); cause !== undefined && cause !== chain[0]!.eventId;) {
      if (chain.length >= MAX_DEPTH || chain.some((link) => link.eventId === cause)) {
        truncated = true
        break
      }
      const found = yield* Queries.linkById(sql, cause)
      if (found === undefined) break
      chain.unshift(found)
      cause = causationIdOf(found)
    }
    const first = chain[0]!
    const correlationId = correlationIdOf(event) ?? correlationIdOf(first)
    // Effects carry their cause's correlation id (Causation.causedBy: the cause's own, or its
    // event id when it has none), so the conversation is found by those ids and the chain's.
    const correlationIds = [...new Set([correlationId, ...chain.map((link) => link.eventId)].filter((id): id is string => id !== undefined))]
    const found = yield* Queries.linksFrom(sql, first.position, WINDOW, { correlationIds, causationIds: chain.map((link) => link.eventId) })
    const window = found.links
    if (found.scanned === WINDOW) truncated = true
    // An event belongs when it shares the conversation's correlation id or was caused by an
    // event that belongs (causes come first in the log, so one pass in order finds them all).
    const members = new Map(chain.map((link) => [link.eventId, link] as const))
    for (const link of window) {
      if (members.has(link.eventId)) continue
      const cause = causationIdOf(link)
      const belongs = (correlationId !== undefined && correlationIdOf(link) === correlationId) ||
        (cause !== undefined && members.has(cause))
      if (!belongs) continue
      if (members.size >= MAX_NODES) {
        truncated = true
        break
      }
      members.set(link.eventId, link)
    }
    const nodes = [...members.values()].sort((a, b) => a.position < b.position ? -1 : a.position > b.position ? 1 : 0)
    return { chain, nodes, truncated }
  })
