/**
 * The peer comparison on PostgreSQL (`--only peers-postgres`): our store, Emmett and a
 * hand-written store on raw `pg`, each with a pool of 10 on the same server.
 */
import { Aggregate, Event, EventStore } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { Effect, ManagedRuntime } from "effect"
import Pg from "pg"
import { Cart, type CartEvent, type CartState, evolve, initialState, type ProductItem, ProductItemAdded } from "./cart.js"
import { type Contender, type PeerRow, peerWorkloads } from "./peers.js"

const POOL = 10

/**
 * `pg`'s type parsers are global to the module, and Emmett's dumbo replaces some (int8 as
 * `BigInt`, json/jsonb through its own serializer) when it makes its pool: our store then
 * refuses the int8 columns it reads as corrupt, and the raw store would parse JSON Emmett's way.
 * Each contender's calls run with the parsers it was made with.
 */
const PARSED_TYPES = [20, 114, 3802]
type Parsers = ReadonlyArray<(value: string) => unknown>
const currentParsers = (): Parsers => PARSED_TYPES.map((oid) => Pg.types.getTypeParser(oid))
const withParsers = (contender: Contender, parsers: Parsers): Contender => {
  const install = () => PARSED_TYPES.forEach((oid, i) => Pg.types.setTypeParser(oid, parsers[i]!))
  return {
    saveNew: (streamId, events) => {
      install()
      return contender.saveNew(streamId, events)
    },
    load: (streamId) => {
      install()
      return contender.load(streamId)
    },
    close: contender.close
  }
}

/** Our store as a Promise-based application uses it: a `ManagedRuntime`, `runPromise` per call. */
export const openOurs = async (url: string, schema: string): Promise<Contender> => {
  const runtime = ManagedRuntime.make(PgEventStore.layer({ url, schema, maxConnections: POOL }))
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

/** Emmett 0.42 as its documentation sets it up: `getPostgreSQLEventStore(url)` (a pool of 10). */
const openEmmett = async (url: string): Promise<Contender> => {
  const { STREAM_DOES_NOT_EXIST } = await import("@event-driven-io/emmett")
  const { getPostgreSQLEventStore } = await import("@event-driven-io/emmett-postgresql")
  const store = getPostgreSQLEventStore(url)
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
    close: () => store.close()
  }
}

/**
 * The best a hand-written store does on raw `pg`: a pool of 10, one round trip per append in
 * autocommit — a multi-row `INSERT … SELECT` that inserts only if the stream is at the expected
 * version (a unique index on (stream, version) catches the race) — and one `SELECT` per load
 * plus the fold. No transaction blocks, no notification, positions from an identity column.
 */
export const openRawPg = async (url: string, schema: string): Promise<Contender> => {
  const pool = new Pg.Pool({ connectionString: url, max: POOL })
  const events = `"${schema}".events`
  await pool.query(`CREATE SCHEMA "${schema}"`)
  await pool.query(`CREATE TABLE ${events} (
    position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    stream_id text NOT NULL,
    version integer NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version))`)
  const append = `INSERT INTO ${events} (event_id, stream_id, version, type, payload)
    SELECT e.event_id, $1, $2 + e.k, e.type, e.payload
    FROM unnest($3::uuid[], $4::text[], $5::jsonb[]) WITH ORDINALITY AS e(event_id, type, payload, k)
    WHERE NOT EXISTS (SELECT 1 FROM ${events} WHERE stream_id = $1 AND version > $2)
      AND ($2 = 0 OR EXISTS (SELECT 1 FROM ${events} WHERE stream_id = $1 AND version = $2))`
  const read = `SELECT payload FROM ${events} WHERE stream_id = $1 ORDER BY version`
  return {
    saveNew: async (streamId, items) => {
      const result = await pool.query(append, [
        streamId,
        0,
        items.map(() => Event.makeId()),
        items.map(() => "ProductItemAdded"),
        items.map((item) => JSON.stringify(item))
      ])
      if (result.rowCount !== items.length) throw new Error(`raw append to ${streamId} refused`)
    },
    load: async (streamId) => {
      const result = await pool.query<{ payload: ProductItem }>(read, [streamId])
      let state = initialState
      for (const row of result.rows) state = evolve(state, row.payload)
      return state
    },
    close: () => pool.end()
  }
}

/** "PostgreSQL 15.14" from the server itself, so a table says what it measured. */
const serverVersion = async (url: string): Promise<string> => {
  const client = new Pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{ server_version: string }>("SHOW server_version")
    return rows[0]!.server_version.split(" ")[0]!
  } finally {
    await client.end()
  }
}

export const postgresPeers = async (options: {
  readonly url: string
  readonly repetitions: number
  readonly operations: number
}): Promise<ReadonlyArray<PeerRow>> => {
  const run = Math.random().toString(36).slice(2, 10)
  const backend = `PostgreSQL ${await serverVersion(options.url)} (pools of ${POOL})`
  const defaults = currentParsers()
  const ours = withParsers(await openOurs(options.url, `peers_${run}`), defaults)
  const raw = withParsers(await openRawPg(options.url, `peers_raw_${run}`), defaults)
  const emmett = await openEmmett(options.url)
  const emmettsOwn = currentParsers()
  try {
    return await peerWorkloads({ ours, emmett: withParsers(emmett, emmettsOwn), raw }, { backend, repetitions: options.repetitions, operations: options.operations })
  } finally {
    await raw.close()
    await emmett.close()
    await ours.close()
  }
}
