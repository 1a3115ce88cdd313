/**
 * The data lifecycle commands: `delete ID`, `restore ID`, `truncate ID --before N` and
 * `retention run --type T`. Each runs the store's own operation (`EventStore.delete`, ...), so
 * the CLI has exactly the semantics of the API. The destructive ones ask for confirmation on a
 * terminal and refuse without `--yes` elsewhere, so a script cannot remove data by accident.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { EventStore } from "@eventuali/core/EventStore"
import * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import { Console, Duration, Effect, Option } from "effect"
import { CliError, confirm, invalidValue, json, nonEmptyArgument, url, wholeNumber, withStore, yes } from "./common.js"
import * as Output from "./output.js"

const aggregateId = nonEmptyArgument("aggregate-id", "an aggregate id").pipe(Args.withDescription("The aggregate's id"))


/** Prints a result for people, or as one JSON line. */
const report = (asJson: boolean, value: Record<string, unknown>, text: string) =>
  Console.log(asJson ? Output.json(value) : text)

const hard = Options.boolean("hard").pipe(
  Options.withDescription("Also remove the aggregate's events and snapshot (only the tombstone stays); cannot be undone")
)

const expectedVersion = wholeNumber("expected-version", { min: 0 }).pipe(
  Options.optional,
  Options.withDescription("Delete only if the aggregate is at this version")
)

export const deleteCommand = Command.make("delete", { url, json, aggregateId, hard, expectedVersion, yes }, (options) =>
  withStore(
    options.url,
    { create: false },
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* confirm(
        options.yes,
        `${options.hard ? "Hard-delete" : "Delete"} aggregate ${JSON.stringify(options.aggregateId)}${
          options.hard ? " and remove its events" : ""
        }?`
      )
      const result = yield* store.delete(options.aggregateId, {
        hard: options.hard,
        expectedVersion: Option.getOrUndefined(Option.map(options.expectedVersion, ExpectedVersion.exact)),
        metadata: { headers: { source: "eventuali delete" } }
      })
      yield* report(
        options.json,
        { aggregateId: options.aggregateId, version: result.version, hard: options.hard, removedEvents: result.removedEvents },
        `Deleted ${JSON.stringify(options.aggregateId)}: tombstone at version ${result.version}${
          options.hard ? `, ${Output.counted(result.removedEvents, "event")} removed` : " (restore with: eventuali restore ID)"
        }.`
      )
    })
  )).pipe(
    Command.withDescription(
      "Delete an aggregate: append a tombstone ($deleted event) so it loads as absent and refuses appends. Soft (restorable) unless --hard."
    )
  )

export const restoreCommand = Command.make("restore", { url, json, aggregateId }, (options) =>
  withStore(
    options.url,
    { create: false },
    Effect.gen(function*() {
      const store = yield* EventStore
      const result = yield* store.restore(options.aggregateId)
      yield* report(
        options.json,
        { aggregateId: options.aggregateId, version: result.version },
        `Restored ${JSON.stringify(options.aggregateId)}: version ${result.version} ($restored event).`
      )
    })
  )).pipe(Command.withDescription("Undo a soft delete: remove the tombstone and append a $restored event in its place."))

const before = wholeNumber("before", { min: 1 }).pipe(
  Options.withDescription("Remove the events with a lower version (at most the aggregate's version: its newest event stays)")
)

export const truncateCommand = Command.make("truncate", { url, json, aggregateId, before, yes }, (options) =>
  withStore(
    options.url,
    { create: false },
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* confirm(options.yes, `Remove the events of ${JSON.stringify(options.aggregateId)} before version ${options.before}?`)
      const result = yield* store.truncate(options.aggregateId, options.before)
      yield* report(
        options.json,
        { aggregateId: options.aggregateId, before: options.before, removedEvents: result.removedEvents },
        `Truncated ${JSON.stringify(options.aggregateId)} before version ${options.before}: ${Output.counted(result.removedEvents, "event")} removed.`
      )
    })
  )).pipe(
    Command.withDescription(
      "Remove an aggregate's events before a version. load then needs a snapshot at version N-1 or later (StreamTruncatedError otherwise)."
    )
  )

/** `30d`, `12h`, `90m`, `45s`, `500ms`, `2w`, or anything Effect's `Duration` reads ("30 days"). */
export const parseDuration = (text: string): Option.Option<Duration.Duration> => {
  const short = /^(\d+)\s*(ms|s|m|h|d|w)$/.exec(text.trim())
  const units = { ms: "millis", s: "seconds", m: "minutes", h: "hours", d: "days", w: "weeks" } as const
  const decoded = short === null
    ? Duration.decodeUnknown(text)
    : Duration.decodeUnknown(`${short[1]} ${units[short[2] as keyof typeof units]}`)
  return Option.filter(decoded, (duration) => Duration.isFinite(duration) && Duration.toMillis(duration) > 0)
}

const maxAge = Options.text("max-age").pipe(
  Options.withPseudoName("DURATION"),
  Options.mapEffect((text) =>
    Option.match(parseDuration(text), {
      onNone: () => invalidValue(`--max-age expects a positive duration such as 30d, 12h or "90 minutes", got ${JSON.stringify(text)}`),
      onSome: Effect.succeed
    })
  ),
  Options.optional,
  Options.withDescription("Remove events older than this (by event timestamp): 30d, 12h, 90m, 45s, 2w")
)

const maxCount = wholeNumber("max-count", { min: 1 }).pipe(
  Options.optional,
  Options.withDescription("Keep only this many newest events per stream")
)

const aggregateType = Options.text("type").pipe(
  Options.withPseudoName("TYPE"),
  Options.withDescription("The aggregate type the policy applies to")
)

const batchSize = wholeNumber("batch-size", { min: 1, max: 100_000 }).pipe(
  Options.withDefault(500),
  Options.withDescription("Events removed (or moved) per statement, each its own short transaction (default 500)")
)

const retentionRun = Command.make("run", { url, json, aggregateType, maxAge, maxCount, batchSize, yes }, (options) =>
  withStore(
    options.url,
    { create: false },
    Effect.gen(function*() {
      if (Option.isNone(options.maxAge) && Option.isNone(options.maxCount)) {
        return yield* new CliError({ message: "Give --max-age, --max-count or both" })
      }
      const store = yield* EventStore
      yield* confirm(options.yes, `Remove the events of ${JSON.stringify(options.aggregateType)} streams beyond the policy?`)
      const result = yield* store.applyRetention({
        aggregateType: options.aggregateType,
        maxAge: Option.getOrUndefined(options.maxAge),
        maxCount: Option.getOrUndefined(options.maxCount)
      }, { batchSize: options.batchSize })
      yield* report(
        options.json,
        { ...result },
        `Retention of ${JSON.stringify(result.aggregateType)}: ${Output.counted(result.streams, "stream")} looked at, ${
          Output.count(result.truncatedStreams)
        } truncated, ${Output.counted(result.removedEvents, "event")} removed.`
      )
    })
  )).pipe(
    Command.withDescription(
      "One retention pass: remove events of the type's streams older than --max-age and/or beyond the newest --max-count. A stream's newest event always stays."
    )
  )

export { retentionRun }

const idleFor = Options.text("idle-for").pipe(
  Options.withPseudoName("DURATION"),
  Options.mapEffect((text) =>
    Option.match(parseDuration(text), {
      onNone: () => invalidValue(`--idle-for expects a positive duration such as 90d, 12h or "90 minutes", got ${JSON.stringify(text)}`),
      onSome: Effect.succeed
    })
  ),
  Options.optional,
  Options.withDescription("Also archive streams whose newest event is older than this (deleted streams always are): 90d, 12h, 2w")
)

export const archiveCommand = Command.make("archive", { url, json, aggregateType, idleFor, batchSize, yes }, (options) =>
  withStore(
    options.url,
    { create: false },
    Effect.gen(function*() {
      const store = yield* EventStore
      yield* confirm(options.yes, `Move the events of closed ${JSON.stringify(options.aggregateType)} streams out of the log into the archive?`)
      const result = yield* store.archive(
        { aggregateType: options.aggregateType, idleFor: Option.getOrUndefined(options.idleFor) },
        { batchSize: options.batchSize }
      )
      yield* report(
        options.json,
        { ...result },
        `Archive of ${JSON.stringify(result.aggregateType)}: ${Output.counted(result.streams, "stream")} looked at, ${
          Output.count(result.archivedStreams)
        } archived, ${Output.counted(result.movedEvents, "event")} moved.`
      )
    })
  )).pipe(
    Command.withDescription(
      "Move the events of closed streams (deleted, or idle for --idle-for) out of the events table into the archive. load and loadEvents still read them; the log (events, tail, export, projections) no longer does."
    )
  )

export const retention = Command.make("retention", {}, () => new CliError({ message: "No retention command given (see eventuali retention --help)" })).pipe(
  Command.withDescription("Retention policies: `retention run` removes old events of an aggregate type's streams."),
  Command.withSubcommands([retentionRun])
)
