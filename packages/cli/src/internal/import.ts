/**
 * `eventuali import`: appends the events of an NDJSON export, keeping their ids, types, versions,
 * metadata and timestamps; the target store assigns new positions.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Checkpoint from "@eventuali/core/Checkpoint"
import * as SqlErrors from "@eventuali/sql/SqlErrors"
import { EventStore } from "@eventuali/core/EventStore"
import * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import { Chunk, Console, Effect, Either, Option, Stream } from "effect"
import { CliError, describeError, url, withStore } from "./common.js"
import { analyze, Database } from "./database.js"
import * as Ndjson from "./ndjson.js"
import * as Output from "./output.js"

const input = Args.file({ name: "file", exists: "yes" }).pipe(
  Args.optional,
  Args.withDescription("The NDJSON file to import (default: standard input)")
)

/** Events per transaction. */
const BATCH_SIZE = 1000

interface Line {
  readonly number: number
  readonly event: Ndjson.ExportedEvent
}

/**
 * Consecutive events of one aggregate with consecutive versions: one append, expecting the
 * version before the first.
 */
const runsOf = (lines: ReadonlyArray<Line>): ReadonlyArray<ReadonlyArray<Line>> => {
  const runs: Array<Array<Line>> = []
  for (const line of lines) {
    const run = runs[runs.length - 1]
    const last = run?.[run.length - 1]?.event
    if (
      run !== undefined && last !== undefined && last.aggregateId === line.event.aggregateId &&
      last.aggregateType === line.event.aggregateType && line.event.aggregateVersion === last.aggregateVersion + 1
    ) {
      run.push(line)
    } else {
      runs.push([line])
    }
  }
  return runs
}

const decodeBatch = (batch: Chunk.Chunk<readonly [string, number]>) =>
  Effect.forEach(batch, ([text, index]) =>
    Either.match(Ndjson.decode(text), {
      onLeft: (problem) => Effect.fail(new CliError({ message: `Line ${index + 1}: ${problem}` })),
      onRight: (event) => Effect.succeed<Line>({ number: index + 1, event })
    }))

/** Appends a run; succeeds with how many of its events are new (not there before `head`). */
const appendRun = (head: bigint) => (run: ReadonlyArray<Line>) =>
  Effect.flatMap(EventStore, (store) => {
    const first = run[0]!
    return store.append(
      first.event.aggregateType,
      first.event.aggregateId,
      run.map(({ event }) => ({
        eventId: event.eventId,
        eventType: event.eventType,
        eventVersion: event.eventVersion,
        data: event.data,
        metadata: event.metadata,
        timestamp: event.timestamp
      })),
      { expectedVersion: ExpectedVersion.exact(first.event.aggregateVersion - 1) }
    ).pipe(
      Effect.map((result) => result.events.filter((event) => event.position > head).length),
      Effect.mapError((error) =>
        new CliError({
          message: `Line ${first.number} (aggregate ${JSON.stringify(first.event.aggregateId)}, version ${first.event.aggregateVersion}): ${
            describeError(error, undefined)
          }`
        })
      )
    )
  })

/**
 * A batch's appends, in order, in one transaction on the SQL stores (one commit instead of one
 * per append); succeeds with how many events are new.
 */
const appendBatch = (head: bigint) => (lines: ReadonlyArray<Line>) =>
  Effect.gen(function*() {
    const database = yield* Database
    const appends = Effect.map(Effect.forEach(runsOf(lines), appendRun(head)), (counts) => counts.reduce((a, b) => a + b, 0))
    if (Option.isNone(database.sql)) return yield* appends
    return yield* database.sql.value.client.withTransaction(appends).pipe(
      Effect.catchTag("SqlError", (error) => Effect.fail(SqlErrors.toDatabaseError("Importing")(error)))
    )
  })

export const importEvents = Command.make("import", { url, input }, (options) =>
  withStore(
    options.url,
    { create: true },
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const store = yield* EventStore
      const database = yield* Database
      const head = yield* Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition)
      const source = Option.match(options.input, { onNone: () => NodeStream.stdin, onSome: (path) => fs.stream(path) })
      const [duration, { appended, read }] = yield* source.pipe(
        Stream.decodeText(),
        Stream.splitLines,
        Stream.zipWithIndex,
        Stream.filter(([text]) => text.trim() !== ""),
        Stream.grouped(BATCH_SIZE),
        Stream.mapEffect(decodeBatch),
        Stream.runFoldEffect({ read: 0, appended: 0 }, (totals, lines) =>
          Effect.map(appendBatch(head)(lines), (appended) => ({
            read: totals.read + lines.length,
            appended: totals.appended + appended
          }))),
        Effect.zipLeft(Option.match(database.sql, {
          onNone: () => Effect.void,
          // Best effort: statistics are an optimisation, and the importing role may not own the table.
          onSome: (sql) => Effect.ignore(analyze(sql))
        })),
        Effect.timed
      )
      yield* Console.log(
        `Imported ${Output.count(read)} events (${Output.count(appended)} new, ${Output.count(read - appended)} already stored) in ${
          Output.seconds(duration)
        } (${Output.perSecond(read, duration)} events/s)`
      )
    })
  )).pipe(
    Command.withDescription(
      "Append an NDJSON export (a file or standard input), keeping ids, versions, metadata and timestamps; positions are the target's. Re-importing appends nothing."
    )
  )
