/**
 * The peer comparison on SQLite (`--only peers-sqlite`): our store, Emmett and a hand-written
 * store on raw better-sqlite3, each on its own file, WAL, with the same `synchronous` setting.
 */
import { Event } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"
import Database from "better-sqlite3"
import * as Path from "node:path"
import { evolve, initialState, type ProductItem } from "./cart.js"
import { type Contender, emmett, ours, type PeerRow, peerWorkloads } from "./peers.js"
import type { Synchronous } from "./sqlite.js"

const pragma = (synchronous: Synchronous) => `PRAGMA synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`

/**
 * Emmett 0.42 in its best configuration: one connection for the store's lifetime (without it,
 * every operation opens the file anew).
 */
const openEmmett = async (fileName: string, synchronous: Synchronous): Promise<Contender> => {
  const { getSQLiteEventStore, sqliteConnection } = await import("@event-driven-io/emmett-sqlite")
  const connection = sqliteConnection({ fileName })
  await connection.command(pragma(synchronous))
  const store = getSQLiteEventStore({ fileName, connectionOptions: { singleton: true, connection } })
  await store.schema.migrate()
  return emmett(store, async () => connection.close())
}

/**
 * The best a hand-written store does on raw better-sqlite3: prepared statements, one IMMEDIATE
 * transaction per append (read the stream's head, check it, insert the rows), one `SELECT` per
 * load plus the fold.
 */
const openRaw = (filename: string, synchronous: Synchronous): Contender => {
  const db = new Database(filename)
  db.pragma("journal_mode = WAL")
  db.exec(pragma(synchronous))
  db.exec(`CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created INTEGER NOT NULL,
    UNIQUE (stream_id, version))`)
  const head = db.prepare("SELECT coalesce(max(version), 0) FROM events WHERE stream_id = ?").pluck()
  const insert = db.prepare("INSERT INTO events (event_id, stream_id, version, type, payload, created) VALUES (?, ?, ?, ?, ?, ?)")
  const read = db.prepare("SELECT payload FROM events WHERE stream_id = ? ORDER BY version").pluck()
  const append = db.transaction((streamId: string, expected: number, items: ReadonlyArray<ProductItem>) => {
    if (head.get(streamId) !== expected) throw new Error(`raw append to ${streamId} refused`)
    const now = Date.now()
    items.forEach((item, k) => insert.run(Event.makeId(), streamId, expected + k + 1, "ProductItemAdded", JSON.stringify(item), now))
  })
  return {
    saveNew: async (streamId, items) => append.immediate(streamId, 0, items),
    load: async (streamId) => {
      let state = initialState
      for (const payload of read.all(streamId) as Array<string>) state = evolve(state, JSON.parse(payload) as ProductItem)
      return state
    },
    close: async () => void db.close()
  }
}

export const sqlitePeers = async (options: {
  readonly directory: string
  readonly synchronous: Synchronous
  readonly repetitions: number
  readonly operations: number
}): Promise<ReadonlyArray<PeerRow>> => {
  const { directory, synchronous } = options
  const file = (name: string) => Path.join(directory, `peers-${name}-${synchronous}.db`)
  const backend = `SQLite file, WAL, synchronous=${synchronous.toUpperCase()}`
  const contenders = {
    ours: await ours(SqliteEventStore.layer({ filename: file("ours"), synchronous })),
    emmett: await openEmmett(file("emmett"), synchronous),
    raw: openRaw(file("raw"), synchronous)
  }
  try {
    return await peerWorkloads(contenders, { backend, repetitions: options.repetitions, operations: options.operations })
  } finally {
    for (const contender of Object.values(contenders)) await contender.close()
  }
}
