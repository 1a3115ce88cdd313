/**
 * The reference model of the event store (the oracle the model-based tests compare every store
 * with): a log of events in plain arrays, and what every operation must return for it, written
 * from the contract (the `EventStore` service's and `EventStorage`'s doc comments in
 * `@eventuali/core`, docs/reliability.md), not from any backend.
 * Positions are the one thing it cannot know in advance: it learns them from the store the first
 * time an event is written, and from then on requires every read to report the same ones.
 */
import type { Event } from "@eventuali/core"
import { ExpectedVersion } from "@eventuali/core"

/** An event as the model holds it. `data` and `metadata` are in their JSON form. */
export interface ModelEvent {
  readonly eventId: string
  readonly eventType: string
  readonly eventVersion: number
  readonly aggregateId: string
  readonly aggregateType: string
  readonly aggregateVersion: number
  readonly timestamp: number
  readonly metadata: Event.EventMetadata
  readonly data: unknown
  readonly position: bigint
}

/** What a failing operation must fail with (and the fields that must match). */
export type ExpectedError =
  | { readonly _tag: "EventStoreError" }
  | { readonly _tag: "SerializationError"; readonly eventType: string }
  | {
    readonly _tag: "OptimisticConcurrencyError"
    readonly expectedVersion: ExpectedVersion.ExpectedVersion
    readonly actualVersion: number
  }
  | { readonly _tag: "AggregateNotFoundError" }

export type Expected<A> =
  | { readonly _tag: "Success"; readonly value: A }
  | { readonly _tag: "Failure"; readonly error: ExpectedError }

const success = <A>(value: A): Expected<A> => ({ _tag: "Success", value })
const failure = (error: ExpectedError): Expected<never> => ({ _tag: "Failure", error })
const storeError = failure({ _tag: "EventStoreError" })

/** An event of an append or save, settled: the id is `undefined` when the store picks one. */
export interface RequestEvent {
  readonly eventId: string | undefined
  readonly eventType: string
  readonly eventVersion: number
  readonly timestamp: number
  readonly metadata: Event.EventMetadataInput | undefined
  readonly data: unknown
}

/** One append (a save is an append at the root's committed version). */
export interface AppendRequest {
  readonly aggregateType: string
  readonly aggregateId: string
  readonly expectedVersion: ExpectedVersion.ExpectedVersion
  readonly events: ReadonlyArray<RequestEvent>
}

/** An event the store must write; its id is learned from the store when the store picks it. */
export interface PendingEvent extends Omit<ModelEvent, "eventId" | "position"> {
  readonly eventId: string | undefined
}

/** What the storage does with an append that passed validation. */
export type AppendExpectation =
  | { readonly _tag: "Written"; readonly version: number; readonly events: ReadonlyArray<PendingEvent> }
  | { readonly _tag: "Retried"; readonly version: number; readonly events: ReadonlyArray<ModelEvent> }
  | { readonly _tag: "Unchanged"; readonly version: number }

// --- Validation, as the contract states it ----------------------------------------------------

const MAX_NAME_LENGTH = 1000
const MAX_NAME_BYTES = 2000

/** Ids and type names: non-empty, at most 1000 characters and 2000 bytes of UTF-8, no NUL, no lone surrogate. */
export const isValidName = (value: string): boolean =>
  value.length > 0 && value.length <= MAX_NAME_LENGTH && !value.includes("\u0000") && value.isWellFormed() &&
  new TextEncoder().encode(value).length <= MAX_NAME_BYTES

const badString = (value: string) => value.includes("\u0000") || !value.isWellFormed()

/** Whether a JSON value holds a string (or key) no backend can store, a non-finite number or -0. */
export const hasUnstorableJson = (value: unknown): boolean => {
  if (typeof value === "string") return badString(value)
  // -0 too: JSON writes it as 0.
  if (typeof value === "number") return !Number.isFinite(value) || Object.is(value, -0)
  if (typeof value !== "object" || value === null) return false
  if (Array.isArray(value)) return value.some(hasUnstorableJson)
  return Object.entries(value).some(([key, inner]) => badString(key) || hasUnstorableJson(inner))
}

/** The JSON form of a value: what any store gives back for it. */
export const json = (value: unknown): unknown => value === undefined ? undefined : JSON.parse(JSON.stringify(value))

/** Metadata normalised: absent fields dropped, headers default to `{}`. */
export const metadataOf = (input: Event.EventMetadataInput | undefined): Event.EventMetadata => ({
  ...(input?.correlationId === undefined ? {} : { correlationId: input.correlationId }),
  ...(input?.causationId === undefined ? {} : { causationId: input.causationId }),
  ...(input?.userId === undefined ? {} : { userId: input.userId }),
  headers: { ...input?.headers }
})

/** The first problem of a metadata input: a name that is not one, or a string that cannot be stored. */
const metadataProblem = (eventType: string, input: Event.EventMetadataInput | undefined): Expected<never> | undefined => {
  if (input === undefined) return undefined
  for (const name of [input.correlationId, input.causationId, input.userId]) {
    if (name !== undefined && !isValidName(name)) return storeError
  }
  if (hasUnstorableJson(metadataOf(input))) return failure({ _tag: "SerializationError", eventType })
  return undefined
}

const duplicateIds = (events: ReadonlyArray<RequestEvent>) => {
  const ids = events.flatMap((event) => event.eventId === undefined ? [] : [event.eventId])
  return new Set(ids).size !== ids.length
}

// --- The model ----------------------------------------------------------------------------------

/** A decoder of the registry: the decoded value, or `undefined` when the payload does not match. */
export type Decode = (data: unknown) => { readonly value: unknown } | undefined

export const makeReference = () => {
  const log: Array<ModelEvent> = []
  const registry = new Map<string, Decode>()

  const streamOf = (aggregateId: string) => log.filter((event) => event.aggregateId === aggregateId)
  const byId = (eventId: string) => log.find((event) => event.eventId === eventId)

  /** What the storage does with a valid, non-empty append: write, recognise a retry, or refuse. */
  const storage = (request: AppendRequest): Expected<AppendExpectation> => {
    const stream = streamOf(request.aggregateId)
    const actualVersion = stream.length
    const owner = stream[0]?.aggregateType
    const satisfied = ExpectedVersion.isSatisfiedBy(request.expectedVersion, actualVersion)
    const ownerMatches = owner === undefined || owner === request.aggregateType
    const existing = request.events.filter((event) => event.eventId !== undefined && byId(event.eventId) !== undefined)
    if (satisfied && ownerMatches && existing.length === 0) {
      return success({
        _tag: "Written",
        version: actualVersion + request.events.length,
        events: request.events.map((event, i) => ({
          eventId: event.eventId,
          eventType: event.eventType,
          eventVersion: event.eventVersion,
          aggregateId: request.aggregateId,
          aggregateType: request.aggregateType,
          aggregateVersion: actualVersion + i + 1,
          timestamp: event.timestamp,
          metadata: json(metadataOf(event.metadata)) as Event.EventMetadata,
          data: json(event.data)
        }))
      })
    }
    if (existing.length > 0) {
      // An idempotent retry: the same ids, stored in this aggregate (of this type) at
      // consecutive versions, appended at an expectation that held before the first of them.
      const first = request.events[0]!.eventId === undefined ? undefined : byId(request.events[0]!.eventId)
      const isRetry = first !== undefined && first.aggregateId === request.aggregateId && ownerMatches &&
        request.events.every((event, i) => {
          const stored = event.eventId === undefined ? undefined : byId(event.eventId)
          return stored !== undefined && stored.aggregateId === request.aggregateId &&
            stored.aggregateVersion === first.aggregateVersion + i
        }) &&
        ExpectedVersion.isSatisfiedBy(request.expectedVersion, first.aggregateVersion - 1)
      if (!isRetry) return storeError
      const events = stream.slice(first.aggregateVersion - 1, first.aggregateVersion - 1 + request.events.length)
      return success({ _tag: "Retried", version: events[events.length - 1]!.aggregateVersion, events })
    }
    if (!ownerMatches) return storeError
    return failure({ _tag: "OptimisticConcurrencyError", expectedVersion: request.expectedVersion, actualVersion })
  }

  /** `append(type, id, events, { expectedVersion })` with raw events. */
  const append = (request: AppendRequest): Expected<AppendExpectation> => {
    if (!isValidName(request.aggregateType) || !isValidName(request.aggregateId)) return storeError
    if (request.events.length === 0) {
      const version = streamOf(request.aggregateId).length
      return ExpectedVersion.isSatisfiedBy(request.expectedVersion, version)
        ? success({ _tag: "Unchanged", version })
        : failure({ _tag: "OptimisticConcurrencyError", expectedVersion: request.expectedVersion, actualVersion: version })
    }
    for (const event of request.events) {
      if (!isValidName(event.eventType)) return storeError
      if (event.eventId !== undefined && !isValidName(event.eventId)) return storeError
      const problem = metadataProblem(event.eventType, event.metadata)
      if (problem !== undefined) return problem
      if (hasUnstorableJson(event.data)) return failure({ _tag: "SerializationError", eventType: event.eventType })
    }
    if (duplicateIds(request.events)) return storeError
    return storage(request)
  }

  /**
   * `save(root)`: the events are already encoded by the caller of the model (their schema only
   * refuses non-finite amounts, which `hasUnstorableJson` sees); nothing to save is a no-op.
   */
  const save = (request: AppendRequest): Expected<AppendExpectation | undefined> => {
    if (request.events.length === 0) return success(undefined)
    if (!isValidName(request.aggregateType) || !isValidName(request.aggregateId)) return storeError
    const problem = metadataProblem(request.aggregateType, request.events[0]!.metadata)
    if (problem !== undefined) return problem
    for (const event of request.events) {
      if (hasUnstorableJson(event.data)) return failure({ _tag: "SerializationError", eventType: event.eventType })
    }
    if (duplicateIds(request.events)) return storeError
    return storage(request)
  }

  /** Adds written events (ids and positions as the store reported them) to the log. */
  const commit = (events: ReadonlyArray<ModelEvent>) => {
    log.push(...events)
  }

  /** The events decoded by the registry, failing at the first that does not decode. */
  const decodeAll = (events: ReadonlyArray<ModelEvent>): Expected<ReadonlyArray<ModelEvent>> => {
    const decoded: Array<ModelEvent> = []
    for (const event of events) {
      const decode = registry.get(event.eventType)
      if (decode === undefined) {
        decoded.push(event)
        continue
      }
      const result = decode(event.data)
      if (result === undefined) return failure({ _tag: "SerializationError", eventType: event.eventType })
      decoded.push({ ...event, data: result.value })
    }
    return success(decoded)
  }

  /** Events after a position, of the given types (all when empty), by position. */
  const matching = (fromPosition: bigint, aggregateTypes: ReadonlyArray<string>, eventTypes: ReadonlyArray<string>) =>
    log.filter((event) =>
      event.position > fromPosition &&
      (aggregateTypes.length === 0 || aggregateTypes.includes(event.aggregateType)) &&
      (eventTypes.length === 0 || eventTypes.includes(event.eventType))
    )

  return {
    log: log as ReadonlyArray<ModelEvent>,
    append,
    save,
    commit,
    version: (aggregateId: string): Expected<number | undefined> =>
      isValidName(aggregateId) ? success(streamOf(aggregateId).length || undefined) : storeError,
    /**
     * `load(definition, id)`: `undefined` when there are no events. `decode` decodes one stored
     * event with the definition's own schemas (the registry plays no part).
     */
    load: <State>(
      definition: { readonly type: string; readonly initialState: State; readonly evolve: (state: State, event: ModelEvent) => State },
      aggregateId: string,
      decode: (event: ModelEvent) => ModelEvent | undefined
    ): Expected<{ readonly version: number; readonly state: State } | undefined> => {
      if (!isValidName(aggregateId)) return storeError
      const stream = streamOf(aggregateId)
      if (stream.length === 0) return success(undefined)
      if (stream[0]!.aggregateType !== definition.type) return storeError
      let state = definition.initialState
      for (const event of stream) {
        const decoded = decode(event)
        if (decoded === undefined) return failure({ _tag: "SerializationError", eventType: event.eventType })
        state = definition.evolve(state, decoded)
      }
      return success({ version: stream.length, state })
    },
    loadEvents: (aggregateId: string, fromVersion: number): Expected<ReadonlyArray<ModelEvent>> =>
      isValidName(aggregateId) ? decodeAll(streamOf(aggregateId).slice(fromVersion)) : storeError,
    /** Everything matching after the position (loadEventsByType and the paged streams). */
    readAll: (fromPosition: bigint, aggregateTypes: ReadonlyArray<string>, eventTypes: ReadonlyArray<string> = []) =>
      decodeAll(matching(fromPosition, aggregateTypes, eventTypes)),
    /** One page: the first `limit` matching events. */
    readPage: (fromPosition: bigint, limit: number, aggregateTypes: ReadonlyArray<string>, eventTypes: ReadonlyArray<string>) =>
      decodeAll(matching(fromPosition, aggregateTypes, eventTypes).slice(0, limit)),
    /**
     * A subscription taking `take` events (of those already stored) in pages of `batchSize`:
     * every page it reads must decode, also the part of the last page it does not deliver.
     */
    subscribe: (
      fromPosition: bigint,
      take: number,
      batchSize: number,
      aggregateTypes: ReadonlyArray<string>,
      eventTypes: ReadonlyArray<string>
    ): Expected<ReadonlyArray<ModelEvent>> => {
      const events = matching(fromPosition, aggregateTypes, eventTypes)
      const pagesRead = Math.ceil(take / batchSize)
      const read = decodeAll(events.slice(0, pagesRead * batchSize))
      return read._tag === "Failure" ? read : success(read.value.slice(0, take))
    },
    available: (fromPosition: bigint, aggregateTypes: ReadonlyArray<string>, eventTypes: ReadonlyArray<string>) =>
      matching(fromPosition, aggregateTypes, eventTypes).length,
    register: (eventType: string, decode: Decode) => {
      registry.set(eventType, decode)
    },
    unregister: (eventType: string): boolean => registry.delete(eventType)
  }
}

export type Reference = ReturnType<typeof makeReference>
