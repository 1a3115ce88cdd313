/**
 * (u) Eventuali UI on a big store: the server time of every page's request (median of several,
 * over HTTP on loopback) on a store of `count` events, SQLite and PostgreSQL. The events are
 * written raw (the store's schema, large transactions): 10 per aggregate, five aggregate types,
 * ten event types, stamped over the last two hours, each aggregate's events one conversation
 * (a correlation id, each caused by the one before).
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { PgEventStore } from "@eventuali/postgres"
import { Tables } from "@eventuali/sql"
import { SqliteEventStore } from "@eventuali/sqlite"
import { EventualiUi } from "@eventuali/ui"
import * as SqlClient from "@effect/sql/SqlClient"
import type { EventStore } from "@eventuali/core/EventStore"
import { ProjectionStore } from "@eventuali/core/ProjectionStore"
import Database from "better-sqlite3"
import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import { createServer } from "node:http"
import * as Path from "node:path"
import { median, progress, progressDone, type Row } from "./harness.js"

const TYPES = ["Account", "Order", "Customer", "Invoice", "Shipment"]
const EVENTS = ["Opened", "Deposited", "Withdrawn", "Placed", "Paid", "Shipped", "Delivered", "Returned", "Closed", "Noted"]
const PER_AGGREGATE = 10
const HOURS = 2

const metadataOf = (i: number) =>
  JSON.stringify({ correlationId: `corr-${Math.floor(i / PER_AGGREGATE)}`, ...(i % PER_AGGREGATE === 0 ? {} : { causationId: `e-${i - 1}` }), headers: {} })

const prepareSqlite = async (file: string, count: number) => {
  // The store's own schema, migrated by the store (and recorded as migrated: a migration that
  // adds a column cannot run twice when the UI opens the file).
  await Effect.runPromise(Effect.scoped(SqliteEventStore.make({ filename: file })))
  const db = new Database(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  const insert = db.prepare(`INSERT INTO eventuali_events (event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
    VALUES (?, ?, ?, ?, ?, 1, ?, ?, ?)`)
  const start = Date.now() - HOURS * 3_600_000
  const step = (HOURS * 3_600_000) / count
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const aggregate = Math.floor(i / PER_AGGREGATE)
      insert.run(
        `e-${i}`,
        `agg-${aggregate}`,
        TYPES[aggregate % TYPES.length],
        (i % PER_AGGREGATE) + 1,
        EVENTS[i % EVENTS.length],
        JSON.stringify({ amount: i % 1000, note: "benchmark" }),
        metadataOf(i),
        Math.floor(start + i * step)
      )
    }
  })
  for (let from = 0; from < count; from += 50_000) batch(from, Math.min(count, from + 50_000))
  db.close()
}

/** Raw rows in batches of one transaction each (positions: the transaction id << 20 plus the row number). */
const preparePostgres = (schema: string, count: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const events = Tables.quoted(schema).events
    const batchSize = 200_000
    for (let from = 0; from < count; from += batchSize) {
      const to = Math.min(count, from + batchSize) - 1
      yield* sql.unsafe(`INSERT INTO ${events} (position, event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
        SELECT (pg_current_xact_id()::text::bigint << 20) + (i - ${from}), 'e-' || i, 'agg-' || (i / ${PER_AGGREGATE}),
          (ARRAY['${TYPES.join("','")}'])[(i / ${PER_AGGREGATE}) % ${TYPES.length} + 1], i % ${PER_AGGREGATE} + 1,
          (ARRAY['${EVENTS.join("','")}'])[i % ${EVENTS.length} + 1], 1,
          json_build_object('amount', i % 1000, 'note', 'benchmark'),
          json_strip_nulls(json_build_object('correlationId', 'corr-' || (i / ${PER_AGGREGATE}), 'causationId', CASE WHEN i % ${PER_AGGREGATE} = 0 THEN NULL ELSE 'e-' || (i - 1) END, 'headers', '{}'::json)),
          now() - interval '${HOURS} hours' + (i * interval '${(HOURS * 3600) / count} seconds')
        FROM generate_series(${from}, ${to}) AS i`)
    }
    yield* sql.unsafe(`ANALYZE ${events}`)
  })

interface Request {
  readonly name: string
  readonly path: string
}

const requests = (count: number): ReadonlyArray<Request> => {
  const middle = Math.floor(count / 2)
  const since = new Date(Date.now() - 30 * 60_000).toISOString()
  const until = new Date(Date.now() - 90 * 60_000).toISOString()
  return [
    { name: "Overview", path: "api/overview" },
    { name: "Log, newest page (50)", path: "api/events" },
    { name: "Log, type filters", path: "api/events?aggregateType=Invoice&eventType=Paid" },
    { name: "Log, time range", path: `api/events?since=${until}&until=${since}` },
    { name: "Search by aggregate id", path: `api/events?aggregateId=agg-${Math.floor(middle / PER_AGGREGATE)}` },
    { name: "Search by event id", path: `api/events?eventId=e-${middle}` },
    { name: "Search by correlation id (one window)", path: `api/events?correlationId=corr-${Math.floor(middle / PER_AGGREGATE)}` },
    { name: "Aggregate (10 events)", path: `api/aggregate?aggregateId=agg-${Math.floor(middle / PER_AGGREGATE)}` },
    { name: "Causation graph", path: `api/causation?eventId=e-${middle}` },
    { name: "Projections (lag counted to 10,000)", path: "api/projections" },
    { name: "Projection status (registered, nothing handled yet)", path: "api/projections/status" }
  ]
}

/** Median milliseconds of `samples` requests. */
const time = async (url: string, samples: number): Promise<number> => {
  const times: Array<number> = []
  for (let i = 0; i < samples; i++) {
    const start = performance.now()
    const response = await fetch(url)
    const body = await response.arrayBuffer()
    if (!response.ok) throw new Error(`${url}: ${response.status} ${new TextDecoder().decode(body)}`)
    times.push(performance.now() - start)
  }
  return median(times)
}

const measure = async (
  backend: string,
  store: Layer.Layer<EventStore | ProjectionStore | SqlClient.SqlClient, unknown>,
  schema: string | undefined,
  count: number,
  samples: number,
  prepare: Effect.Effect<void, unknown, SqlClient.SqlClient> = Effect.void
): Promise<ReadonlyArray<Row>> => {
  const scope = Effect.runSync(Scope.make())
  try {
    const context = await Effect.runPromise(Layer.buildWithScope(
      Layer.unwrapScoped(Effect.map(EventualiUi.httpApp({ path: "/", schema }), (app) => HttpServer.serve(app))).pipe(
        Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
        Layer.provideMerge(Layer.tap(store, (context) => Effect.provide(prepare, context)))
      ),
      scope
    ))
    const { address } = Context.get(context, HttpServer.HttpServer)
    const base = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}/` : ""
    const projections = Context.get(context, ProjectionStore)
    // A projection registered as Projection.run registers it, at the start of the log.
    await Effect.runPromise(projections.register({ name: "benchmark", partitions: 1, aggregateTypes: [], eventTypes: [] }))
    await Effect.runPromise(projections.withCheckpoint("benchmark", () => Effect.succeed([undefined, Option.some(0n)] as const)))
    // The first Overview starts the one full count in the background; time it, then measure.
    const countStart = performance.now()
    for (;;) {
      const overview = await (await fetch(`${base}api/overview`)).json() as { counts: string; events: number }
      if (overview.counts === "exact") {
        if (overview.events !== count) throw new Error(`${backend}: counted ${overview.events} of ${count} events`)
        break
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const countMs = performance.now() - countStart
    const rows: Array<Row> = []
    const all = requests(count)
    for (const [index, request] of all.entries()) {
      progress(`(u) ${backend}`, index, all.length)
      const ms = await time(`${base}${request.path}`, samples)
      rows.push({ backend, workload: `(u) UI: ${request.name}`, unit: "ms (median)", ours: ms, raw: undefined, ratio: undefined, target: "< 300 ms", met: ms < 300 })
    }
    progress(`(u) ${backend}`, all.length, all.length)
    progressDone()
    rows.push({
      backend,
      workload: "(u) UI: the one background count (first Overview until exact)",
      unit: "ms",
      ours: countMs,
      raw: undefined,
      ratio: undefined,
      target: "once per start",
      met: undefined
    })
    return rows
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

export const uiWorkloads = async (options: {
  readonly directory: string
  readonly pgUrl: string | undefined
  readonly count: number
  readonly samples: number
}): Promise<ReadonlyArray<Row>> => {
  const label = options.count.toLocaleString("en-US")
  const file = Path.join(options.directory, "ui.db")
  progress(`(u) writing ${label} events to SQLite`, 0, 1)
  await prepareSqlite(file, options.count)
  progressDone()
  const rows = [...await measure(`SQLite file, ${label} events`, SqliteEventStore.layer({ filename: file }), undefined, options.count, options.samples)]
  if (options.pgUrl !== undefined) {
    const schema = `ui_bench_${Date.now()}`
    progress(`(u) writing ${label} events to PostgreSQL`, 0, 1)
    rows.push(...await measure(
      `PostgreSQL, ${label} events`,
      PgEventStore.layer({ url: options.pgUrl, schema }),
      schema,
      options.count,
      options.samples,
      preparePostgres(schema, options.count)
    ))
  }
  return rows
}
