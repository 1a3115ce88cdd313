import { Effect, Either } from "effect"
import { EventStoreError, type SerializationError } from "../Errors.js"
import * as Event from "../Event.js"
import type * as ExpectedVersion from "../ExpectedVersion.js"
import type { EncodedEvent } from "../EventStorage.js"
import { toJson } from "./codec.js"

/** Ids and type names are stored as text by every backend, so they must survive as text. */
const MAX_NAME_LENGTH = 1000

const invalid = (message: string) => Either.left(new EventStoreError({ message }))

/** A non-empty, well-formed string without NUL of at most 1000 characters. */
export const name = (kind: string, value: unknown): Either.Either<void, EventStoreError> => {
  if (typeof value !== "string") return invalid(`The ${kind} must be a string, got ${typeof value}`)
  if (value.length === 0) return invalid(`The ${kind} must not be empty`)
  if (value.length > MAX_NAME_LENGTH) {
    return invalid(`The ${kind} is ${value.length} characters long; at most ${MAX_NAME_LENGTH} are allowed`)
  }
  if (value.includes("\u0000")) return invalid(`The ${kind} ${JSON.stringify(value)} contains a NUL character`)
  if (!value.isWellFormed()) return invalid(`The ${kind} ${JSON.stringify(value)} contains a lone surrogate`)
  return Either.void
}

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
    if (Either.isLeft(problem)) return problem
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

/** Checks and normalises metadata input, and serialises it. */
export const metadataOf = (
  eventType: string,
  input: Event.EventMetadataInput | undefined
): Effect.Effect<{ readonly metadata: Event.EventMetadata; readonly metadataJson: string }, EventStoreError | SerializationError> =>
  Effect.gen(function*() {
    if (input !== undefined && (typeof input !== "object" || input === null || Array.isArray(input))) {
      return yield* invalid(`Event ${JSON.stringify(eventType)}: metadata must be an object, got ${input === null ? "null" : typeof input}`)
    }
    if (input !== undefined) {
      yield* optionalName("correlation id", input.correlationId)
      yield* optionalName("causation id", input.causationId)
      yield* optionalName("user id", input.userId)
      yield* headers(eventType, input.headers)
    }
    const metadata = Event.metadata(input)
    return { metadata, metadataJson: yield* toJson(eventType, metadata, "metadata") }
  })

/** Settles ids, timestamp and metadata of a NewEvent and checks its payload is JSON. */
export const newEvent = (
  event: Event.NewEvent,
  now: Date
): Effect.Effect<EncodedEvent, EventStoreError | SerializationError> =>
  Effect.gen(function*() {
    if (typeof event !== "object" || event === null) {
      return yield* new EventStoreError({ message: `An event to append must be an object, got ${String(event)}` })
    }
    yield* name("event type", event.eventType)
    const eventType = event.eventType
    const eventId = event.eventId ?? crypto.randomUUID()
    yield* name("event id", eventId)
    const eventVersion = event.eventVersion ?? 1
    yield* positiveInt(`event version of ${JSON.stringify(eventType)}`, eventVersion)
    if (eventVersion > MAX_EVENT_VERSION) {
      return yield* invalid(`Event ${JSON.stringify(eventType)}: the event version ${eventVersion} is beyond the largest, ${MAX_EVENT_VERSION}`)
    }
    const timestamp = event.timestamp ?? now
    if (!(timestamp instanceof Date) || Number.isNaN(timestamp.getTime())) {
      return yield* new EventStoreError({ message: `Event ${JSON.stringify(eventType)}: timestamp must be a valid Date` })
    }
    if (timestamp.getTime() < EARLIEST_TIMESTAMP) {
      return yield* invalid(`Event ${JSON.stringify(eventType)}: the timestamp ${timestamp.toISOString()} is before the earliest storable, 4714-11-24 BC`)
    }
    const { metadata, metadataJson } = yield* metadataOf(eventType, event.metadata)
    const dataJson = yield* toJson(eventType, event.data)
    return { eventId, eventType, eventVersion, timestamp, metadata, data: event.data, dataJson, metadataJson }
  })

/** Event ids must be valid names (save takes them as given), unique within one append. */
export const events = (encoded: ReadonlyArray<EncodedEvent>): Either.Either<void, EventStoreError> => {
  const seen = new Set<string>()
  for (const event of encoded) {
    const invalidId = name("event id", event.eventId)
    if (Either.isLeft(invalidId)) return invalidId
    if (seen.has(event.eventId)) return invalid(`Event id ${JSON.stringify(event.eventId)} appears twice in one append`)
    seen.add(event.eventId)
  }
  return Either.void
}
