import { Duration, Either, Option } from "effect"
import { EventStoreError, type SerializationError } from "../Errors.js"
import * as Event from "../Event.js"
import type * as ExpectedVersion from "../ExpectedVersion.js"
import { type EncodedEvent, isReserved } from "../EventStorage.js"
import { toJson } from "./codec.js"

/** Ids and type names are stored as text by every backend, so they must survive as text. */
const MAX_NAME_LENGTH = 1000

/**
 * Names are keys of PostgreSQL's btree indexes, whose entries hold at most 2704 bytes: 2000 bytes
 * of UTF-8 fit beside the version or position. Every backend refuses what one cannot index, so
 * 1000 characters of a script of three bytes each (CJK) or of emoji are too long everywhere.
 */
const MAX_NAME_BYTES = 2000

/** The length of a well-formed string in UTF-8: 1 byte per ASCII code unit, 2 or 3 per other BMP one, 4 per surrogate pair (2 each). */
const utf8Length = (value: string): number => {
  let bytes = 0
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i)
    bytes += unit < 0x80 ? 1 : unit < 0x800 || (unit >= 0xd800 && unit <= 0xdfff) ? 2 : 3
  }
  return bytes
}

const invalid = (message: string) => Either.left(new EventStoreError({ message }))

/** A non-empty, well-formed string without NUL of at most 1000 characters and 2000 bytes of UTF-8. */
export const name = (kind: string, value: unknown): Either.Either<void, EventStoreError> => {
  if (typeof value !== "string") return invalid(`The ${kind} must be a string, got ${typeof value}`)
  if (value.length === 0) return invalid(`The ${kind} must not be empty`)
  if (value.length > MAX_NAME_LENGTH) {
    return invalid(`The ${kind} is ${value.length} characters long; at most ${MAX_NAME_LENGTH} are allowed`)
  }
  if (value.includes("\u0000")) return invalid(`The ${kind} ${JSON.stringify(value)} contains a NUL character`)
  if (!value.isWellFormed()) return invalid(`The ${kind} ${JSON.stringify(value)} contains a lone surrogate`)
  // At most 3 bytes per UTF-16 code unit: shorter names cannot exceed the byte limit.
  if (value.length * 3 > MAX_NAME_BYTES) {
    const bytes = utf8Length(value)
    if (bytes > MAX_NAME_BYTES) {
      return invalid(`The ${kind} is ${bytes} bytes long in UTF-8; at most ${MAX_NAME_BYTES} are allowed`)
    }
  }
  return Either.void
}

/** The store's own event types (`$deleted`, ...) are written only by the store. */
export const notReserved = (eventType: string): Either.Either<void, EventStoreError> =>
  isReserved(eventType)
    ? invalid(`The event type ${JSON.stringify(eventType)} is reserved: event types starting with "$" are the store's own`)
    : Either.void

export const nonNegativeInt = (kind: string, value: unknown): Either.Either<void, EventStoreError> =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 0
    ? Either.void
    : invalid(`The ${kind} must be a non-negative integer, got ${String(value)}`)

export const positiveInt = (kind: string, value: unknown): Either.Either<void, EventStoreError> =>
  typeof value === "number" && Number.isSafeInteger(value) && value > 0
    ? Either.void
    : invalid(`The ${kind} must be a positive integer, got ${String(value)}`)

/** Positions are signed 64-bit integers in every backend. */
const MAX_POSITION = 2n ** 63n - 1n

/** A position given as bigint or number; absent means from the beginning (0). */
export const position = (value: bigint | number | undefined): Either.Either<bigint, EventStoreError> => {
  if (value === undefined) return Either.right(0n)
  if (typeof value === "bigint") {
    if (value < 0n) return invalid(`The position must not be negative, got ${value}`)
    return value <= MAX_POSITION ? Either.right(value) : invalid(`The position ${value} is beyond the largest position, ${MAX_POSITION}`)
  }
  return Number.isSafeInteger(value) && value >= 0
    ? Either.right(BigInt(value))
    : invalid(`The position must be a non-negative integer, got ${String(value)}`)
}

/** Event versions are stored as 32-bit integers (PostgreSQL `integer`): every backend refuses what one cannot store. */
const MAX_EVENT_VERSION = 2 ** 31 - 1

/** The earliest instant PostgreSQL's `timestamptz` holds (4714-11-24 BC): every backend refuses what one cannot store. */
const EARLIEST_TIMESTAMP = Date.UTC(-4713, 10, 24)

/** `any`, `noStream`, `streamExists` or `exact(n)` with `n` a non-negative integer. */
export const expectedVersion = (value: unknown): Either.Either<ExpectedVersion.ExpectedVersion, EventStoreError> => {
  if (typeof value === "object" && value !== null && "_tag" in value) {
    switch (value._tag) {
      case "Any":
      case "NoStream":
      case "StreamExists":
        return Either.right(value as ExpectedVersion.ExpectedVersion)
      case "Exact":
        if ("version" in value && typeof value.version === "number" && Number.isSafeInteger(value.version) && value.version >= 0) {
          return Either.right(value as ExpectedVersion.ExpectedVersion)
        }
        return invalid(`ExpectedVersion.exact takes a non-negative integer, got ${String("version" in value ? value.version : undefined)}`)
    }
  }
  return invalid(
    `The expected version must be ExpectedVersion.any, noStream, streamExists or exact(n), got ${JSON.stringify(value) ?? String(value)}`
  )
}

/** A filter of reads: absent, or an array of names. */
export const filter = (kind: string, value: unknown): Either.Either<void, EventStoreError> => {
  if (value === undefined) return Either.void
  if (!Array.isArray(value)) return invalid(`The ${kind} filter must be an array of ${kind}s, got ${typeof value}`)
  for (const item of value) {
    const problem = name(kind, item)
    if (Either.isLeft(problem)) return Either.left(problem.left)
  }
  return Either.void
}

const headers = (eventType: string, value: unknown): Either.Either<void, EventStoreError> => {
  if (value === undefined) return Either.void
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid(`Event ${JSON.stringify(eventType)}: metadata headers must be an object of strings`)
  }
  for (const [key, header] of Object.entries(value)) {
    if (typeof header !== "string") {
      return invalid(`Event ${JSON.stringify(eventType)}: metadata header ${JSON.stringify(key)} must be a string`)
    }
  }
  return Either.void
}

const optionalName = (kind: string, value: unknown) => value === undefined ? Either.void : name(kind, value)

/** The metadata of an event written without any, as stored: most events' (every save's path). */
const NO_METADATA_JSON = JSON.stringify(Event.metadata())

/** Checks and normalises metadata input, and serialises it. */
export const metadataOf = (
  eventType: string,
  input: Event.EventMetadataInput | undefined
): Either.Either<{ readonly metadata: Event.EventMetadata; readonly metadataJson: string }, EventStoreError | SerializationError> => {
  if (input === undefined) return Either.right({ metadata: Event.metadata(), metadataJson: NO_METADATA_JSON })
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return invalid(`Event ${JSON.stringify(eventType)}: metadata must be an object, got ${input === null ? "null" : typeof input}`)
  }
  const problem = firstLeft([
    optionalName("correlation id", input.correlationId),
    optionalName("causation id", input.causationId),
    optionalName("user id", input.userId),
    headers(eventType, input.headers)
  ])
  if (problem !== undefined) return problem
  const metadata = Event.metadata(input)
  return Either.map(toJson(eventType, metadata, "metadata"), (metadataJson) => ({ metadata, metadataJson }))
}

const firstLeft = <E>(checks: ReadonlyArray<Either.Either<void, E>>): Either.Either<never, E> | undefined => {
  for (const check of checks) if (Either.isLeft(check)) return Either.left(check.left)
  return undefined
}

/** Settles ids, timestamp and metadata of a NewEvent and checks its payload is JSON. */
export const newEvent = (
  event: Event.NewEvent,
  now: Date
): Either.Either<EncodedEvent, EventStoreError | SerializationError> => {
  if (typeof event !== "object" || event === null) return invalid(`An event to append must be an object, got ${String(event)}`)
  const eventType = event.eventType
  const eventId = event.eventId ?? Event.makeId()
  const eventVersion = event.eventVersion ?? 1
  const invalidType = name("event type", eventType)
  if (Either.isLeft(invalidType)) return Either.left(invalidType.left)
  const invalidId = name("event id", eventId)
  if (Either.isLeft(invalidId)) return Either.left(invalidId.left)
  const invalidVersion = positiveInt(`event version of ${JSON.stringify(eventType)}`, eventVersion)
  if (Either.isLeft(invalidVersion)) return Either.left(invalidVersion.left)
  if (eventVersion > MAX_EVENT_VERSION) {
    return invalid(`Event ${JSON.stringify(eventType)}: the event version ${eventVersion} is beyond the largest, ${MAX_EVENT_VERSION}`)
  }
  const timestamp = event.timestamp ?? now
  if (!(timestamp instanceof Date) || Number.isNaN(timestamp.getTime())) {
    return invalid(`Event ${JSON.stringify(eventType)}: timestamp must be a valid Date`)
  }
  if (timestamp.getTime() < EARLIEST_TIMESTAMP) {
    return invalid(`Event ${JSON.stringify(eventType)}: the timestamp ${timestamp.toISOString()} is before the earliest storable, 4714-11-24 BC`)
  }
  return Either.flatMap(metadataOf(eventType, event.metadata), ({ metadata, metadataJson }) =>
    Either.map(toJson(eventType, event.data), (dataJson): EncodedEvent => ({
      eventId,
      eventType,
      eventVersion,
      timestamp,
      metadata,
      data: event.data,
      dataJson,
      metadataJson
    })))
}

/** Event ids must be valid names (save takes them as given), unique within one append. */
export const eventIds = (encoded: ReadonlyArray<EncodedEvent>): Either.Either<void, EventStoreError> => {
  const seen = new Set<string>()
  for (const event of encoded) {
    const invalidId = name("event id", event.eventId)
    if (Either.isLeft(invalidId)) return Either.left(invalidId.left)
    if (seen.has(event.eventId)) return invalid(`Event id ${JSON.stringify(event.eventId)} appears twice in one append`)
    seen.add(event.eventId)
  }
  return Either.void
}

/** `value` as a positive, finite duration, if it is one. */
export const positiveDuration = (value: unknown): Option.Option<Duration.Duration> =>
  Option.filter(Duration.decodeUnknown(value), (duration) => Duration.isFinite(duration) && Duration.toMillis(duration) > 0)
