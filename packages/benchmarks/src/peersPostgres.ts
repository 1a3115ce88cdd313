/**
 * The peer comparison on PostgreSQL (`--only peers-postgres`): our store, Emmett and a
 * hand-written store on raw `pg`, each with a pool of 10 on the same server.
 */
import { Event } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import Pg from "pg"
import { evolve, initialState, type ProductItem } from "./cart.js"
import { type Contender, emmett, ours, type PeerRow, peerWorkloads } from "./peers.js"

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

/** Our store, through a `ManagedRuntime`. */
export const openOurs = (url: string, schema: string): Promise<Contender> =>
  ours(PgEventStore.layer({ url, schema, maxConnections: POOL }))

/** Emmett 0.42 as its documentation sets it up: `getPostgreSQLEventStore(url)` (a pool of 10). */
const openEmmett = async (url: string): Promise<Contender> => {
  const { getPostgreSQLEventStore } = await import("@event-driven-io/emmett-postgresql")
  const store = getPostgreSQLEventStore(url)
  await store.schema.migrate()
  return emmett(store, () => store.close())
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
  const oursStore = withParsers(await openOurs(options.url, `peers_${run}`), defaults)
  const rawStore = withParsers(await openRawPg(options.url, `peers_raw_${run}`), defaults)
  const emmettStore = await openEmmett(options.url)
  const contenders = { ours: oursStore, emmett: withParsers(emmettStore, currentParsers()), raw: rawStore }
  try {
    return await peerWorkloads(contenders, { backend, repetitions: options.repetitions, operations: options.operations })
  } finally {
    for (const contender of Object.values(contenders)) await contender.close()
  }
}
