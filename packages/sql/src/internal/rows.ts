/**
 * The rows the store's reads return, checked and turned into stored events. A row the store did
 * not write as it is (changed by hand, by another program, by a failing disk) becomes a
 * `SerializationError` naming its position, never an event with a wrong field.
 *
 * Checked by hand rather than decoded with `SqlSchema`/`Schema` on purpose: every event of every
 * load goes through here. Measured (Node 20, 10 rows of a 10-event load, JSON parsing included):
 * these checks take 9–11 µs, a `Schema.decodeUnknownEither` of an equivalent row schema 35–39 µs
 * — half as much again as the whole SQLite load (about 50 µs). The tests in
 * packages/sql/test/rows.test.ts hold them to what they must catch.
 */
import { SerializationError } from "@eventuali/core/Errors"
import * as Event from "@eventuali/core/Event"
import { parseJson, type StoredEvent } from "@eventuali/core/EventStorage"
import { Either } from "effect"

/** A row as the read statements select it (drivers differ in how they return integers). */
export interface EventRow {
  readonly position: number | bigint | string
  readonly event_id: string
  readonly event_type: string
  readonly event_version: number | string | bigint
  readonly aggregate_id: string
  readonly aggregate_type: string
  readonly aggregate_version: number | string | bigint
  readonly data: string
  readonly metadata: string
  readonly timestamp: number | string | bigint
}

/** The stored metadata of an event written without any (`Event.metadata()` as the store writes it). */
const NO_METADATA_JSON = JSON.stringify(Event.metadata())

const describe = (value: unknown): string =>
  value === null || value === undefined
    ? "NULL"
    : typeof value === "string"
    ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
    : typeof value === "object"
    ? `a ${value.constructor?.name ?? "value"}`
    : `${typeof value} ${String(value)}`

/**
 * Integers as any driver configuration returns them: a number, a string, or a bigint (node-postgres'
 * type parsers are global to the process, and another library in it may set int8 to BigInt).
 */
const isInteger = (value: unknown): value is number | string | bigint =>
  typeof value === "number" || typeof value === "string" || typeof value === "bigint"

const isVersion = (value: unknown): boolean =>
  isInteger(value) && Number.isSafeInteger(Number(value)) && Number(value) >= 1

/** What is wrong with a text column's value, if anything: the store writes only non-empty strings. */
const textProblem = (column: string, value: unknown): string | undefined =>
  typeof value === "string" && value !== "" ? undefined : `its ${column} is ${describe(value)}`

const versionProblem = (column: string, value: unknown): string | undefined =>
  isVersion(value) ? undefined : `its ${column} is ${describe(value)}, not a positive integer`

/**
 * What is wrong with a row the store did not write as it is (changed by hand, by another
 * program, by a failing disk), if anything: the store writes none of these. Each column is read
 * by name (measured hot path, every event of every read: a loop over column names made each read
 * a keyed lookup with a changing key: twice as slow as these, measured).
 */
const rowProblem = (row: EventRow): string | undefined =>
  textProblem("event_id", row.event_id) ?? textProblem("event_type", row.event_type) ??
    textProblem("aggregate_id", row.aggregate_id) ?? textProblem("aggregate_type", row.aggregate_type) ??
    textProblem("data", row.data) ?? textProblem("metadata", row.metadata) ??
    versionProblem("aggregate_version", row.aggregate_version) ?? versionProblem("event_version", row.event_version) ??
    timestampProblem(row.timestamp)

const timestampProblem = (timestamp: unknown): string | undefined =>
  isInteger(timestamp) && isDateTime(Number(timestamp)) ? undefined : `its timestamp is ${describe(timestamp)}`

/** Whether a Date holds these milliseconds (what `new Date(ms)` accepts, without making one). */
const isDateTime = (millis: number): boolean => Number.isFinite(millis) && Math.abs(millis) <= 8.64e15

const isStringRecord = (value: unknown): boolean => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false
  for (const key in value) if (typeof (value as Record<string, unknown>)[key] !== "string") return false
  return true
}

const metadataProblem = (metadata: unknown): string | undefined => {
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) return "is not an object"
  const fields = metadata as Readonly<Record<string, unknown>>
  for (const field of ["correlationId", "causationId", "userId"]) {
    if (fields[field] !== undefined && typeof fields[field] !== "string") return `has a ${field} that is not a string`
  }
  if (!isStringRecord(fields["headers"])) return "has headers that are not an object of strings"
  return undefined
}

const corrupt = (row: EventRow, problem: string) =>
  Either.left(
    new SerializationError({
      eventType: typeof row.event_type === "string" ? row.event_type : "(unknown)",
      message: `The stored event at position ${String(row.position)} is corrupt: ${problem}`
    })
  )

/** A row as a stored event, or the `SerializationError` saying what is wrong with it. */
export const toStored = (row: EventRow): Either.Either<StoredEvent, SerializationError> => {
  const problem = rowProblem(row)
  if (problem !== undefined) return corrupt(row, problem)
  const data = parseJson(row.event_type, row.data)
  if (Either.isLeft(data)) return Either.left(data.left)
  let metadata: StoredEvent["metadata"]
  if (row.metadata === NO_METADATA_JSON) {
    // What most events carry: nothing to parse or check.
    metadata = Event.metadata()
  } else {
    const parsed = parseJson(row.event_type, row.metadata, "metadata")
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    const badMetadata = metadataProblem(parsed.right)
    if (badMetadata !== undefined) return corrupt(row, `its metadata ${badMetadata}`)
    metadata = parsed.right as StoredEvent["metadata"]
  }
  return Either.right({
    eventId: row.event_id,
    eventType: row.event_type,
    eventVersion: Number(row.event_version),
    aggregateId: row.aggregate_id,
    aggregateType: row.aggregate_type,
    aggregateVersion: Number(row.aggregate_version),
    position: BigInt(row.position),
    timestamp: new Date(Number(row.timestamp)),
    metadata,
    data: data.right
  })
}

/** The rows of a read as stored events, in order; the first corrupt row fails them all. */
export const toStoredAll = (rows: ReadonlyArray<EventRow>): Either.Either<Array<StoredEvent>, SerializationError> => {
  const events: Array<StoredEvent> = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) {
    const event = toStored(rows[i]!)
    if (Either.isLeft(event)) return Either.left(event.left)
    events[i] = event.right
  }
  return Either.right(events)
}
