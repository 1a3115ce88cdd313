/**
 * The peer comparison on SQLite (`--only peers-sqlite`): our store, Emmett and a hand-written
 * store on raw better-sqlite3, each on its own file, WAL, with the same `synchronous` setting.
 */
import { Aggregate, Event, EventStore } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"
import Database from "better-sqlite3"
import { Effect, ManagedRuntime } from "effect"
import * as Path from "node:path"
import { Cart, type CartEvent, type CartState, evolve, initialState, type ProductItem, ProductItemAdded } from "./cart.js"
import { type Contender, type PeerRow, peerWorkloads } from "./peers.js"
import type { Synchronous } from "./sqlite.js"

const pragma = (synchronous: Synchronous) => `PRAGMA synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`

/** Our store as a Promise-based application uses it: a `ManagedRuntime`, `runPromise` per call. */
const openOurs = async (filename: string, synchronous: Synchronous): Promise<Contender> => {
  const runtime = ManagedRuntime.make(SqliteEventStore.layer({ filename, synchronous }))
  await runtime.runPromise(EventStore.EventStore)
  return {
    saveNew: (streamId, events) =>
      runtime.runPromise(Effect.flatMap(EventStore.EventStore, (store) =>
        store.save(Aggregate.applyAll(Aggregate.empty(Cart, streamId), events.map((event) => ProductItemAdded.make(event)))))),
    load: (streamId) =>
      runtime.runPromise(Effect.flatMap(EventStore.EventStore, (store) => store.load(Cart, streamId))).then((loaded) =>
        loaded._tag === "Some" ? loaded.value.state : initialState
      ),
    close: () => runtime.dispose()
  }
}

/**
 * Emmett 0.42 in its best configuration: one connection for the store's lifetime (without it,
 * every operation opens the file anew).
 */
const openEmmett = async (fileName: string, synchronous: Synchronous): Promise<Contender> => {
  const { STREAM_DOES_NOT_EXIST } = await import("@event-driven-io/emmett")
  const { getSQLiteEventStore, sqliteConnection } = await import("@event-driven-io/emmett-sqlite")
  const connection = sqliteConnection({ fileName })
  await connection.command(pragma(synchronous))
  const store = getSQLiteEventStore({ fileName, connectionOptions: { singleton: true, connection } })
  await store.schema.migrate()
  return {
    saveNew: async (streamId, events) => {
      await store.appendToStream(streamId, events.map((data) => ({ type: "ProductItemAdded", data })), {
        expectedStreamVersion: STREAM_DOES_NOT_EXIST
      })
    },
    load: async (streamId) =>
      (await store.aggregateStream<CartState, CartEvent>(streamId, {
        evolve: (state: CartState, event: CartEvent) => evolve(state, event.data),
        initialState: () => initialState
      })).state,
    close: async () => connection.close()
  }
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
  const ours = await openOurs(file("ours"), synchronous)
  const emmett = await openEmmett(file("emmett"), synchronous)
  const raw = openRaw(file("raw"), synchronous)
  try {
    return await peerWorkloads({ ours, emmett, raw }, { backend, repetitions: options.repetitions, operations: options.operations })
  } finally {
    await raw.close()
    await emmett.close()
    await ours.close()
  }
}
