import { Effect, Either } from "effect"
import { EventStoreError, type SerializationError } from "../Errors.js"
import * as Event from "../Event.js"
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

/** A position given as bigint or number; absent means from the beginning (0). */
export const position = (value: bigint | number | undefined): Either.Either<bigint, EventStoreError> => {
  if (value === undefined) return Either.right(0n)
  if (typeof value === "bigint") return value >= 0n ? Either.right(value) : invalid(`The position must not be negative, got ${value}`)
  return Number.isSafeInteger(value) && value >= 0
    ? Either.right(BigInt(value))
    : invalid(`The position must be a non-negative integer, got ${String(value)}`)
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
    const timestamp = event.timestamp ?? now
    if (!(timestamp instanceof Date) || Number.isNaN(timestamp.getTime())) {
      return yield* new EventStoreError({ message: `Event ${JSON.stringify(eventType)}: timestamp must be a valid Date` })
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
