/**
 * Events as the store sees them: the envelope every read returns, its metadata, and the
 * `NewEvent` an append takes.
 *
 * @since 0.1.0
 */

/**
 * Who and what caused an event. `headers` carries anything else (tenant, trace ids, ...).
 *
 * @since 0.1.0
 * @category models
 */
export interface EventMetadata {
  readonly correlationId?: string
  readonly causationId?: string
  readonly userId?: string
  readonly headers: Readonly<Record<string, string>>
}

/**
 * Metadata as given to an append or save: every field optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventMetadataInput {
  readonly correlationId?: string | undefined
  readonly causationId?: string | undefined
  readonly userId?: string | undefined
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/**
 * A stored event. `data` is the decoded payload when its type is known (the aggregate's own
 * schemas for `load`, the registry for the other reads) and the raw JSON value otherwise.
 *
 * - `aggregateVersion` is 1-based and gap-free per aggregate;
 * - `position` is global and strictly increasing in the order readers see commits;
 * - `eventVersion` is the version of the payload's schema (1 unless set).
 *
 * @since 0.1.0
 * @category models
 */
export interface EventEnvelope<A = unknown> {
  readonly eventId: string
  readonly eventType: string
  readonly eventVersion: number
  readonly aggregateId: string
  readonly aggregateType: string
  readonly aggregateVersion: number
  readonly position: bigint
  readonly timestamp: Date
  readonly metadata: EventMetadata
  readonly data: A
}

/**
 * An event to append. `data` is the JSON form of the payload (plain objects, arrays, strings,
 * finite numbers, booleans and null); anything else fails with `SerializationError`.
 * `eventId` defaults to a new {@link makeId} and `timestamp` to now; give your own `eventId` to make
 * retries idempotent.
 *
 * @since 0.1.0
 * @category models
 */
export interface NewEvent {
  readonly eventType: string
  readonly data: unknown
  readonly eventId?: string | undefined
  readonly eventVersion?: number | undefined
  readonly metadata?: EventMetadataInput | undefined
  readonly timestamp?: Date | undefined
}

/**
 * A new event id: a UUIDv7 (RFC 9562), unique and time-ordered — ids generated one after another
 * sort in that order, so the store's unique index on event ids grows at its end instead of
 * taking random inserts (on SQLite that halves the cost of writing an event). The ids the store
 * generates are these; use it for ids you pass yourself to make retries idempotent.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeId = (): string => {
  const now = Date.now()
  if (now > lastMillis) {
    setMillis(now)
    counter = 0
  } else if (++counter > 0xfff) {
    // 4,096 ids in one millisecond: borrow the next one, as RFC 9562 allows.
    setMillis(lastMillis + 1)
    counter = 0
  }
  // 62 random bits and the variant from a v4 UUID (Node's randomUUID draws from a cached pool:
  // several times cheaper than filling bytes for each id).
  return `${millisHex}-7${counter.toString(16).padStart(3, "0")}-${crypto.randomUUID().slice(19)}`
}

/** The millisecond and the counter within it of the last id made (RFC 9562, method 1: ids made here increase). */
let lastMillis = 0
let counter = 0
/** `lastMillis` as the first two groups of a UUID (formatting a timestamp in hex is the slow part of an id). */
let millisHex = ""

const setMillis = (millis: number) => {
  lastMillis = millis
  const hex = millis.toString(16).padStart(12, "0")
  millisHex = `${hex.slice(0, 8)}-${hex.slice(8)}`
}

/**
 * Builds a {@link NewEvent} (the identity, typed).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (event: NewEvent): NewEvent => event

/**
 * Normalises metadata input: absent fields are dropped, `headers` defaults to `{}`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const metadata = (...inputs: ReadonlyArray<EventMetadataInput | undefined>): EventMetadata => {
  let correlationId: string | undefined
  let causationId: string | undefined
  let userId: string | undefined
  let headers: Record<string, string> = {}
  for (const input of inputs) {
    if (input === undefined) continue
    if (input.correlationId !== undefined) correlationId = input.correlationId
    if (input.causationId !== undefined) causationId = input.causationId
    if (input.userId !== undefined) userId = input.userId
    if (input.headers !== undefined) headers = { ...headers, ...input.headers }
  }
  return {
    ...(correlationId === undefined ? {} : { correlationId }),
    ...(causationId === undefined ? {} : { causationId }),
    ...(userId === undefined ? {} : { userId }),
    headers
  }
}
