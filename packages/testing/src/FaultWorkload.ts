/**
 * The workload of a writer process for fault injection (see `FaultInjection`): many fibers
 * saving at once, a live subscriber and a projection, each acknowledgement printed as a line.
 * Imports nothing from vitest, so that a plain `node` child process can run it.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, EventStore, Projection, type ProjectionStore } from "@eventuali/core"
import type { EventEnvelope } from "@eventuali/core/Event"
import { Chunk, Effect, Option, Random, Schema, Stream } from "effect"

/**
 * One event of a save: `index` is its place in the save, `padding` varies the row size.
 *
 * @since 0.1.0
 * @category models
 */
export class Ticked extends Schema.TaggedClass<Ticked>()("Ticked", {
  saveId: Schema.String,
  index: Schema.Number,
  padding: Schema.String
}) {}

/**
 * Counts its events, so a load proves the fold saw all of them.
 *
 * @since 0.1.0
 * @category models
 */
export const Counter = Aggregate.make({
  type: "FaultCounter",
  events: [Ticked],
  initialState: { events: 0 },
  evolve: (state, _event) => ({ events: state.events + 1 })
})

/**
 * A save the workload acknowledged: `version` is the aggregate's version after it, `eventIds`
 * its events in version order.
 *
 * @since 0.1.0
 * @category models
 */
export const Ack = Schema.Struct({
  saveId: Schema.String,
  aggregateId: Schema.String,
  version: Schema.Number,
  eventIds: Schema.Array(Schema.String)
})

/** @since 0.1.0 @category models */
export type Ack = typeof Ack.Type

/**
 * An event the workload's subscriber received, with its checkpoint.
 *
 * @since 0.1.0
 * @category models
 */
export const Seen = Schema.Struct({ eventId: Schema.String, checkpoint: Schema.String })

/** @since 0.1.0 @category models */
export type Seen = typeof Seen.Type

/**
 * A line the workload prints: one per acknowledged save, one per page of events its subscriber received.
 *
 * @since 0.1.0
 * @category models
 */
export const Line = Schema.Union(Schema.Struct({ ack: Ack }), Schema.Struct({ seen: Schema.Array(Seen) }))

/** The name of the projection the workload runs. @since 0.1.0 @category constants */
export const PROJECTION = "fault-injection"

/** Aggregates every writer fiber may save to, besides its own: contention, conflicts, retries. */
const SHARED_AGGREGATES = 3

/**
 * The read model (a table in the store's database): one row per event applied, without a unique key, so that a duplicate shows
 * as a second row instead of failing the batch.
 */
export const readModelOf = (table: string) =>
  Effect.map(SqlClient.SqlClient, (sql) => ({
    create: sql.unsafe(`CREATE TABLE IF NOT EXISTS ${table} (event_id TEXT NOT NULL, position TEXT NOT NULL)`),
    insert: (event: EventEnvelope) =>
      sql.onDialectOrElse({
        pg: () => sql.unsafe(`INSERT INTO ${table} (event_id, position) VALUES ($1, $2)`, [event.eventId, String(event.position)]),
        orElse: () => sql.unsafe(`INSERT INTO ${table} (event_id, position) VALUES (?, ?)`, [event.eventId, String(event.position)])
      }),
    rows: Effect.map(
      sql.unsafe<{ readonly event_id: string }>(`SELECT event_id FROM ${table}`),
      (rows) => rows.map((row) => row.event_id)
    )
  }))

/** The projection of the workload, writing to the read model `table`. @since 0.1.0 @category workload */
export const projection = (table: string) =>
  Effect.map(readModelOf(table), (readModel) =>
    Projection.make({
      name: PROJECTION,
      aggregateTypes: [Counter.type],
      batchSize: 50,
      handle: (event) => readModel.insert(event)
    }))

/** Writes a line and resumes once it is handed to the OS: what is printed is acknowledged. */
const print = (line: unknown) =>
  Effect.async<void>((resume) => {
    process.stdout.write(JSON.stringify(line) + "\n", () => resume(Effect.void))
  })

/**
 * The workload of a writer process, run until it is killed: `writers` fibers save concurrently
 * (mostly 1–5 events, one save in 50 over 1000 events, i.e. more than one statement), each to
 * its own aggregate or, one save in five, to a shared one (retrying on conflicts); a subscriber
 * prints every event it receives; a projection writes each event to `readModel` (a table name,
 * created if missing) in its batch's transaction. Prints an `Ack` line after each save.
 *
 * @since 0.1.0
 * @category workload
 */
export const workload = (options: {
  readonly round: string
  readonly readModel: string
  readonly writers?: number | undefined
}): Effect.Effect<never, unknown, EventStore.EventStore | ProjectionStore.ProjectionStore | SqlClient.SqlClient> =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* EventStore.EventStore
    yield* Effect.flatMap(readModelOf(options.readModel), (readModel) => readModel.create)
    yield* Projection.run(yield* projection(options.readModel))
    yield* store.subscribe({ aggregateTypes: [Counter.type] }).pipe(
      Stream.runForEachChunk((chunk) =>
        print({ seen: Chunk.toReadonlyArray(chunk).map((event) => ({ eventId: event.eventId, checkpoint: event.checkpoint })) })
      ),
      Effect.forkScoped
    )
    let saves = 0
    const writer = (w: number) =>
      Effect.forever(Effect.gen(function*() {
        const aggregateId = (yield* Random.nextIntBetween(0, 5)) === 0
          ? `shared-${yield* Random.nextIntBetween(0, SHARED_AGGREGATES)}`
          : `writer-${w}`
        const count = (yield* Random.nextIntBetween(0, 50)) === 0 ? yield* Random.nextIntBetween(1001, 1100) : yield* Random.nextIntBetween(1, 6)
        const saveId = `${options.round}-${w}-${saves++}`
        const padding = "x".repeat(yield* Random.nextIntBetween(0, 200))
        const events = Array.from({ length: count }, (_, index) => new Ticked({ saveId, index, padding }))
        const eventIds = events.map(() => crypto.randomUUID())
        // Load the current version, save; on a conflict (a shared aggregate), load and try again.
        const saved = yield* Effect.flatMap(store.load(Counter, aggregateId), (root) =>
          store.save(Aggregate.applyAll(Option.getOrElse(root, () => Aggregate.empty(Counter, aggregateId)), events), {
            eventIds,
            headers: { saveId, count: String(count) }
          })).pipe(Effect.retry({ while: (error) => error._tag === "OptimisticConcurrencyError" }))
        yield* print({ ack: { saveId, aggregateId, version: saved.version, eventIds } })
      }))
    yield* Effect.all(Array.from({ length: options.writers ?? 32 }, (_, w) => writer(w)), { concurrency: "unbounded" })
    return yield* Effect.never
  }))

