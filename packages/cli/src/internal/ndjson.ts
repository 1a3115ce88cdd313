/**
 * The NDJSON form of events (`export`, `import`, `events --json`, `tail --json`): one JSON object
 * per line, with the position as a string (PostgreSQL positions exceed 2^53) and the timestamp in
 * ISO 8601.
 */
import type { EventEnvelope } from "@eventuali/core/Event"
import { Either, ParseResult, Schema } from "effect"

const Metadata = Schema.Struct({
  correlationId: Schema.optional(Schema.String),
  causationId: Schema.optional(Schema.String),
  userId: Schema.optional(Schema.String),
  headers: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.String }), { default: () => ({}) })
})

/**
 * One exported event. `position` is written by `export` and ignored by `import` (the target store
 * assigns its own).
 */
export const ExportedEvent = Schema.Struct({
  position: Schema.optional(Schema.BigInt),
  eventId: Schema.String,
  eventType: Schema.String,
  eventVersion: Schema.Int.pipe(Schema.positive()),
  aggregateId: Schema.String,
  aggregateType: Schema.String,
  aggregateVersion: Schema.Int.pipe(Schema.positive()),
  timestamp: Schema.Date,
  metadata: Metadata,
  data: Schema.Unknown
})

export type ExportedEvent = typeof ExportedEvent.Type

const ExportedEventJson = Schema.parseJson(ExportedEvent)
const encodeLine = Schema.encodeSync(ExportedEventJson)
const decodeLine = Schema.decodeUnknownEither(ExportedEventJson)

/** An envelope as one NDJSON line (without the newline). */
export const encode = (event: EventEnvelope): string =>
  encodeLine({
    position: event.position,
    eventId: event.eventId,
    eventType: event.eventType,
    eventVersion: event.eventVersion,
    aggregateId: event.aggregateId,
    aggregateType: event.aggregateType,
    aggregateVersion: event.aggregateVersion,
    timestamp: event.timestamp,
    metadata: event.metadata,
    data: event.data
  })

/** One NDJSON line, or why it is not an exported event (the first problem, on one line). */
export const decode = (line: string): Either.Either<ExportedEvent, string> =>
  Either.mapLeft(decodeLine(line), (error) => {
    const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
    if (issue === undefined) return error.message
    const message = issue.message.split("\n")[0]!
    return issue.path.length === 0 ? message : `${issue.path.join(".")}: ${message}`
  })
