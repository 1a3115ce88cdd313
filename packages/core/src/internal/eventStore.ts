import { Chunk, Clock, Duration, Effect, Either, Option, ParseResult, PubSub, Queue, Schema, type Scope, Stream } from "effect"
import * as Aggregate from "../Aggregate.js"
import * as Event from "../Event.js"
import { AggregateNotFoundError, EventStoreError, OptimisticConcurrencyError, SerializationError } from "../Errors.js"
import * as EventRegistry from "../EventRegistry.js"
import type { AppendConflict, AppendRequest, EncodedEvent, EventStorage, SnapshotToWrite, StoredEvent } from "../EventStorage.js"
import * as Checkpoint from "../Checkpoint.js"
import type { AppendResult, ReadError, SaveOptions, Service, StoreOptions, SubscriptionEvent, WriteError } from "../EventStore.js"
import * as ExpectedVersion from "../ExpectedVersion.js"
import * as Metrics from "../Metrics.js"
import { decodeEvent, encodeEvent, toJson } from "./codec.js"
import * as Observability from "./observability.js"
import * as Versions from "./versions.js"
import * as Validate from "./validate.js"

/** The storage moved between the refused append and `inspect`: try the append again. */
class AppendRace {
  readonly _tag = "AppendRace"
}

/** How often an append the storage refused without a conflict (it lost a race) is tried again. */
const MAX_APPEND_RACES = 20

const DEFAULT_BATCH_SIZE = 1000

const DEFAULT_SUBSCRIPTION_BATCH_SIZE = 500

const encoders = new WeakMap<Schema.Schema.AnyNoContext, (state: unknown) => Either.Either<unknown, ParseResult.ParseError>>()
const decoders = new WeakMap<Schema.Schema.AnyNoContext, (state: unknown) => Either.Either<unknown, ParseResult.ParseError>>()
const cached = (
  cache: WeakMap<Schema.Schema.AnyNoContext, (state: unknown) => Either.Either<unknown, ParseResult.ParseError>>,
  make: (schema: Schema.Schema.AnyNoContext) => (state: unknown) => Either.Either<unknown, ParseResult.ParseError>
) =>
(schema: Schema.Schema.AnyNoContext) => {
  let codec = cache.get(schema)
  if (codec === undefined) {
    codec = make(schema)
    cache.set(schema, codec)
  }
  return codec
}
const encodeSnapshot = cached(encoders, (schema) => Schema.encodeUnknownEither(schema))
const decodeSnapshot = cached(decoders, (schema) => Schema.decodeUnknownEither(schema))
const liveClock = Clock.make()
const DEFAULT_POLL_INTERVAL = Duration.millis(250)

/** Span attributes of a read by position: where it starts, and the filters. */
const readAttributes = (
  fromPosition: bigint | number | undefined,
  filters: { readonly aggregateTypes?: ReadonlyArray<string> | undefined; readonly eventTypes?: ReadonlyArray<string> | undefined }
): Record<string, unknown> => ({
  "eventuali.position.from": fromPosition ?? 0,
  // Computed before the filters are validated: a filter that is not an array must not throw here.
  ...(filters.aggregateTypes === undefined ? {} : { "eventuali.aggregate.type": String(filters.aggregateTypes) }),
  ...(filters.eventTypes === undefined ? {} : { "eventuali.event.type": String(filters.eventTypes) })
})

export const make = (storage: EventStorage, options: StoreOptions = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    const registry = yield* EventRegistry.make
    // Wakes live subscribers: this store's own appends, and the backend's notifications from
    // other processes. A subscriber only needs to know that something happened since it last
    // read, so one pending signal per subscriber is enough.
    const changes = yield* PubSub.sliding<void>(1)
    if (storage.notifications !== undefined) {
      yield* Effect.forkScoped(Stream.runForEach(storage.notifications, () => PubSub.publish(changes, undefined)))
    }
    const pollInterval = Duration.decode(options.pollInterval ?? DEFAULT_POLL_INTERVAL)
    return build(storage, registry, changes, pollInterval)
  })

const build = (
  storage: EventStorage,
  registry: EventRegistry.EventRegistry,
  changes: PubSub.PubSub<void>,
  pollInterval: Duration.Duration
): Service => {
  /** Appends, says why the storage refused, and tries again when it only lost a race. */
  const appendEncoded = (request: AppendRequest, attempt = 1): Effect.Effect<AppendResult, WriteError> =>
    Effect.flatMap(storage.append(request), (outcome) => {
      if (Option.isSome(outcome)) {
        const events = outcome.value
        const result: AppendResult = { version: events[events.length - 1]!.aggregateVersion, events }
        return Effect.as(
          Effect.zipRight(Observability.recordAppend(request.aggregateType, events), PubSub.publish(changes, undefined)),
          result
        )
      }
      return storage.inspect(request.aggregateId, request.events.map((e) => e.eventId)).pipe(
        Effect.flatMap((conflict) => explainRefusal(request, conflict)),
        Effect.tap((result) => Observability.annotatePosition(result.events)),
        Effect.catchIf((error): error is AppendRace => error instanceof AppendRace, () =>
          attempt <= MAX_APPEND_RACES
            ? appendEncoded(request, attempt + 1)
            : Effect.flatMap(storage.version(request.aggregateId), (version) =>
              Effect.fail(
                new OptimisticConcurrencyError({
                  aggregateId: request.aggregateId,
                  expectedVersion: request.expectedVersion,
                  actualVersion: Option.getOrElse(version, () => 0)
                })
              )))
      )
    })

  /** Says why the storage refused an append, or recognises an idempotent retry. */
  const explainRefusal = (
    request: AppendRequest,
    conflict: AppendConflict
  ): Effect.Effect<AppendResult, WriteError | AppendRace> => {
    if (conflict.existing.length > 0) {
      const stored = new Map(conflict.existing.map((e) => [e.eventId, e]))
      const first = stored.get(request.events[0]!.eventId)
      // A retry repeats the request: the same aggregate, of the same type (an id of another type
      // is not the stream the events were appended to, whatever their ids).
      const isRetry = first !== undefined && first.aggregateId === request.aggregateId &&
        conflict.aggregateType === request.aggregateType &&
        request.events.every((event, i) => {
          const match = stored.get(event.eventId)
          return match !== undefined && match.aggregateId === request.aggregateId &&
            match.aggregateVersion === first.aggregateVersion + i
        }) &&
        ExpectedVersion.isSatisfiedBy(request.expectedVersion, first.aggregateVersion - 1)
      if (isRetry) {
        return Effect.map(
          storage.readStream(request.aggregateId, first.aggregateVersion - 1),
          (events): AppendResult => {
            const written = events.slice(0, request.events.length)
            return { version: written[written.length - 1]!.aggregateVersion, events: written }
          }
        )
      }
      const clash = conflict.existing[0]!
      return Effect.fail(
        new EventStoreError({
          message: `Event id ${JSON.stringify(clash.eventId)} is already stored (aggregate ${
            JSON.stringify(clash.aggregateId)
          }, version ${clash.aggregateVersion}); an idempotent retry must repeat the same events at the same expected version`
        })
      )
    }
    if (conflict.aggregateType !== undefined && conflict.aggregateType !== request.aggregateType) {
      return Effect.fail(
        new EventStoreError({
          message: `Aggregate ${JSON.stringify(request.aggregateId)} is a ${JSON.stringify(conflict.aggregateType)}, not a ${
            JSON.stringify(request.aggregateType)
          }`
        })
      )
    }
    if (!ExpectedVersion.isSatisfiedBy(request.expectedVersion, conflict.actualVersion)) {
      return Effect.fail(
        new OptimisticConcurrencyError({
          aggregateId: request.aggregateId,
          expectedVersion: request.expectedVersion,
          actualVersion: conflict.actualVersion
        })
      )
    }
    return Effect.fail(new AppendRace())
  }

  const annotateCount = (events: ReadonlyArray<unknown>) => Observability.annotate({ "eventuali.event.count": events.length })

  const decodeAll = (events: ReadonlyArray<StoredEvent>) =>
    Effect.suspend(() => {
      const decoded: Array<StoredEvent> = new Array(events.length)
      for (let i = 0; i < events.length; i++) {
        const event = events[i]!
        const data = registry.decode(event.eventType, event.eventVersion, event.data)
        if (Either.isLeft(data)) return Either.left(data.left)
        decoded[i] = data.right === event.data ? event : { ...event, data: data.right }
      }
      return Either.right(decoded)
    })

  const foldStream = <State, Ev extends { readonly _tag: string }>(
    definition: Aggregate.Definition<State, Ev>,
    aggregateId: string,
    events: ReadonlyArray<StoredEvent>,
    from: { readonly state: State; readonly version: number } | undefined = undefined
  ): Either.Either<Option.Option<Aggregate.Root<State, Ev>>, SerializationError | EventStoreError> => {
    if (events.length === 0 && from === undefined) return Either.right(Option.none())
    const owner = events[0]?.aggregateType ?? definition.type
    if (owner !== definition.type) {
      return Either.left(
        new EventStoreError({
          message: `Aggregate ${JSON.stringify(aggregateId)} is a ${JSON.stringify(owner)}, not a ${JSON.stringify(definition.type)}`
        })
      )
    }
    let isEvent: ((value: unknown) => boolean) | undefined
    let state = from?.state ?? definition.initialState
    let version = from?.version ?? 0
    for (const stored of events) {
      // The store writes versions 1, 2, 3, ...: anything else was changed behind its back.
      if (stored.aggregateVersion !== ++version) {
        return Either.left(
          new EventStoreError({
            message: `The stored versions of ${JSON.stringify(aggregateId)} are not contiguous: version ${version} expected, ${stored.aggregateVersion} found at position ${stored.position}`
          })
        )
      }
      let decoded: Either.Either<unknown, SerializationError>
      const member = Versions.memberOf(definition, stored.eventType)
      if (member !== undefined) {
        const current = Versions.upcast(member, stored.eventType, stored.eventVersion, stored.data)
        decoded = Either.isLeft(current) ? current : decodeEvent(member, stored.eventType, current.right)
      } else {
        const alias = registry.unsafeGet(stored.eventType)
        decoded = alias === undefined
          ? Either.left(
            new SerializationError({
              eventType: stored.eventType,
              message: `Event type ${JSON.stringify(stored.eventType)} is not an event of ${
                JSON.stringify(definition.type)
              } (register it as an alias of one of its event schemas)`
            })
          )
          : Either.filterOrLeft(registry.decode(stored.eventType, stored.eventVersion, stored.data), isEvent ??= Schema.is(definition.schema), () =>
            new SerializationError({
              eventType: stored.eventType,
              message: `Event type ${JSON.stringify(stored.eventType)} decodes to a value that is not an event of ${
                JSON.stringify(definition.type)
              }`
            }))
      }
      if (Either.isLeft(decoded)) return Either.left(decoded.left)
      state = definition.evolve(state, decoded.right as Ev)
    }
    return Either.right(Option.some({
      definition,
      type: definition.type,
      id: aggregateId,
      version: events.length > 0 ? events[events.length - 1]!.aggregateVersion : from!.version,
      state,
      uncommittedEvents: []
    }))
  }

  /**
   * The newest snapshot `load` can start from: of this aggregate type and of the policy's
   * version, and decodable; anything else is ignored (a full replay is always correct).
   */
  const usableSnapshot = <State>(
    policy: Aggregate.SnapshotPolicy<State>,
    aggregateType: string,
    aggregateId: string
  ) =>
    Effect.map(storage.readSnapshot(aggregateId), (snapshot): { readonly state: State; readonly version: number } | undefined => {
      if (Option.isNone(snapshot)) return undefined
      const { aggregateType: type, aggregateVersion, schemaVersion, state } = snapshot.value
      if (type !== aggregateType || schemaVersion !== policy.version) return undefined
      const decoded = decodeSnapshot(policy.schema)(state)
      // The cache is keyed by schema, so the decoded value is the policy schema's State.
      return Either.isRight(decoded) ? { state: decoded.right as State, version: aggregateVersion } : undefined
    })

  /** The snapshot a save writes: when it crosses a multiple of the policy's `every`. */
  const snapshotOf = <State, Ev extends { readonly _tag: string }>(
    root: Aggregate.Root<State, Ev>
  ): Either.Either<SnapshotToWrite | undefined, EventStoreError | SerializationError> => {
    const policy = root.definition.snapshot
    if (policy === undefined) return Either.right(undefined)
    if (!Number.isSafeInteger(policy.every) || policy.every < 1) {
      return Either.left(new EventStoreError({ message: `${root.type}: snapshot.every must be a positive integer, got ${policy.every}` }))
    }
    const committed = Aggregate.committedVersion(root)
    if (Math.floor(root.version / policy.every) === Math.floor(committed / policy.every)) return Either.right(undefined)
    return encodeSnapshot(policy.schema)(root.state).pipe(
      Either.mapLeft((error) =>
        new SerializationError({
          eventType: root.type,
          message: `The state of ${root.type} ${JSON.stringify(root.id)} does not match its snapshot schema: ${
            ParseResult.TreeFormatter.formatErrorSync(error)
          }`,
          cause: error
        })
      ),
      Either.flatMap((encoded) => toJson(root.type, encoded, "snapshot")),
      Either.map((stateJson) => ({ schemaVersion: policy.version, stateJson }))
    )
  }

  /** What a save appends: its uncommitted events encoded, checked, with ids and metadata. */
  const saveRequest = <State, Ev extends { readonly _tag: string }>(
    root: Aggregate.Root<State, Ev>,
    options: SaveOptions | undefined,
    timestamp: Date
  ): Either.Either<AppendRequest, EventStoreError | SerializationError> => {
    const pending = root.uncommittedEvents
    const invalidType = Validate.name("aggregate type", root.type)
    if (Either.isLeft(invalidType)) return Either.left(invalidType.left)
    const invalidId = Validate.name("aggregate id", root.id)
    if (Either.isLeft(invalidId)) return Either.left(invalidId.left)
    const eventIds = options?.eventIds
    if (eventIds !== undefined && eventIds.length !== pending.length) {
      return Either.left(new EventStoreError({ message: `save: ${eventIds.length} event ids given for ${pending.length} uncommitted events` }))
    }
    const metadataOf = Validate.metadataOf(root.type, options)
    if (Either.isLeft(metadataOf)) return Either.left(metadataOf.left)
    const { metadata, metadataJson } = metadataOf.right
    const encoded: Array<EncodedEvent> = new Array(pending.length)
    for (let i = 0; i < pending.length; i++) {
      const event = pending[i]!
      // Its own schema (the aggregate's union would first look for it among the others).
      const member = Versions.memberOf(root.definition, event._tag)
      const payload = encodeEvent(member ?? root.definition.schema, event)
      if (Either.isLeft(payload)) return Either.left(payload.left)
      encoded[i] = {
        eventId: eventIds?.[i] ?? Event.makeId(),
        eventType: event._tag,
        eventVersion: member === undefined ? 1 : Versions.versionsOf(member).current,
        timestamp,
        metadata,
        data: payload.right.data,
        dataJson: payload.right.json,
        metadataJson
      }
    }
    // Ids the store made are valid and distinct; ids given must be checked.
    if (eventIds !== undefined) {
      const invalidEvents = Validate.events(encoded)
      if (Either.isLeft(invalidEvents)) return Either.left(invalidEvents.left)
    }
    return Either.map(snapshotOf(root), (snapshot): AppendRequest => ({
      aggregateId: root.id,
      aggregateType: root.type,
      // Computed, so valid: built without validating it again.
      expectedVersion: new ExpectedVersion.Exact({ version: Aggregate.committedVersion(root) }, true),
      events: encoded,
      snapshot
    }))
  }

  const load: Service["load"] = (definition, aggregateId) =>
    Validate.name("aggregate id", aggregateId).pipe(
      Effect.zipRight(
        definition.snapshot === undefined
          ? Effect.succeed(undefined)
          : usableSnapshot(definition.snapshot, definition.type, aggregateId)
      ),
      Effect.flatMap((from) =>
        Effect.flatMap(
          storage.readStream(aggregateId, from?.version ?? 0),
          (events) => foldStream(definition, aggregateId, events, from)
        )
      ),
      Observability.observe(Metrics.loadDuration, definition.type),
      Observability.span("EventStore.load", { "eventuali.aggregate.type": definition.type, "eventuali.aggregate.id": aggregateId })
    )

  const stream = (aggregateType: string | undefined, options: { readonly fromPosition?: bigint | number | undefined; readonly batchSize?: number | undefined } | undefined) => {
    const batchSize = options?.batchSize ?? DEFAULT_BATCH_SIZE
    return Stream.unwrap(
      Effect.map(
        Effect.zipLeft(Effect.all([
          Validate.position(options?.fromPosition),
          Validate.positiveInt("batch size", batchSize),
          aggregateType === undefined ? Effect.void : Validate.name("aggregate type", aggregateType)
        ]), storage.catchUp),
        ([fromPosition]) =>
          Stream.paginateChunkEffect(fromPosition, (cursor) =>
            storage.readAll({ aggregateTypes: aggregateType === undefined ? undefined : [aggregateType], fromPosition: cursor, limit: batchSize }).pipe(
              Effect.flatMap(decodeAll),
              Effect.tap(annotateCount),
              Observability.span(
                aggregateType === undefined ? "EventStore.streamAll.page" : "EventStore.streamEventsByType.page",
                readAttributes(cursor, { aggregateTypes: aggregateType === undefined ? undefined : [aggregateType] })
              ),
              Effect.map((events) =>
                [
                  Chunk.unsafeFromArray(events),
                  events.length < batchSize ? Option.none() : Option.some(events[events.length - 1]!.position)
                ] as const
              )
            ))
      )
    )
  }

  const validateFilters = (filters: { readonly aggregateTypes?: ReadonlyArray<string> | undefined; readonly eventTypes?: ReadonlyArray<string> | undefined }) =>
    Effect.gen(function*() {
      yield* Validate.filter("aggregate type", filters.aggregateTypes)
      yield* Validate.filter("event type", filters.eventTypes)
    })

  const readEvents: Service["readEvents"] = (readOptions) =>
    Effect.gen(function*() {
      const limit = readOptions.limit ?? DEFAULT_SUBSCRIPTION_BATCH_SIZE
      yield* Validate.positiveInt("limit", limit)
      yield* validateFilters(readOptions)
      const fromPosition = yield* Validate.position(readOptions.fromPosition)
      const events = yield* storage.readAll({
        fromPosition,
        limit,
        aggregateTypes: readOptions.aggregateTypes,
        eventTypes: readOptions.eventTypes
      })
      return yield* decodeAll(events)
    }).pipe(
      Effect.tap(annotateCount),
      Observability.span("EventStore.readEvents", readAttributes(readOptions.fromPosition, readOptions))
    )

  const subscribe: Service["subscribe"] = (subscribeOptions = {}) =>
    Stream.unwrapScoped(Effect.gen(function*() {
      const batchSize = subscribeOptions.batchSize ?? DEFAULT_SUBSCRIPTION_BATCH_SIZE
      yield* Validate.positiveInt("batch size", batchSize)
      yield* validateFilters(subscribeOptions)
      // Subscribe to wake-ups before the first read, so none can fall between a read and the wait.
      const wakeups = yield* PubSub.subscribe(changes)
      const from = subscribeOptions.from ?? "beginning"
      let cursor = from === "beginning"
        ? 0n
        : from === "end"
        ? yield* storage.head
        : yield* Effect.flatMap(Checkpoint.toPosition(from), Validate.position)
      const filter = { aggregateTypes: subscribeOptions.aggregateTypes, eventTypes: subscribeOptions.eventTypes, limit: batchSize }
      const pull: Effect.Effect<Chunk.Chunk<SubscriptionEvent>, ReadError> = Effect.gen(function*() {
        while (true) {
          // Whatever was signalled before this read is covered by it.
          yield* Queue.takeAll(wakeups)
          const page = yield* Effect.flatMap(storage.readAll({ ...filter, fromPosition: cursor }), decodeAll).pipe(
            Effect.tap(annotateCount),
            Observability.span("EventStore.subscribe.page", readAttributes(cursor, filter))
          )
          if (page.length > 0) {
            cursor = page[page.length - 1]!.position
            return Chunk.unsafeFromArray(page.map((event) => ({ ...event, checkpoint: Checkpoint.fromPosition(event.position) })))
          }
          // Polling other processes is real time, also in tests that run on a TestClock.
          yield* Effect.raceFirst(Queue.take(wakeups), Effect.withClock(Effect.sleep(pollInterval), liveClock))
        }
      })
      return Stream.repeatEffectChunk(pull)
    }))

  const service: Service = {
    save: (root, options) =>
      Effect.suspend(() => {
        if (root.uncommittedEvents.length === 0) return Effect.succeed(root)
        return Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const request = saveRequest(root, options, new Date(now))
          return Either.isLeft(request) ? Effect.fail(request.left) : Effect.as(appendEncoded(request.right), Aggregate.markCommitted(root))
        }).pipe(
          Observability.observe(Metrics.saveDuration, root.type),
          Observability.span("EventStore.save", {
            "eventuali.aggregate.type": root.type,
            "eventuali.aggregate.id": root.id,
            "eventuali.event.count": root.uncommittedEvents.length
          })
        )
      }),

    append: (aggregateType, aggregateId, events, options) =>
      Effect.gen(function*() {
        yield* Validate.name("aggregate type", aggregateType)
        yield* Validate.name("aggregate id", aggregateId)
        const expectedVersion = options?.expectedVersion === undefined
          ? ExpectedVersion.any
          : yield* Validate.expectedVersion(options.expectedVersion)
        if (!Array.isArray(events)) {
          return yield* new EventStoreError({ message: `append takes an array of events, got ${typeof events}` })
        }
        if (events.length === 0) {
          const version = Option.getOrElse(yield* storage.version(aggregateId), () => 0)
          if (!ExpectedVersion.isSatisfiedBy(expectedVersion, version)) {
            return yield* new OptimisticConcurrencyError({ aggregateId, expectedVersion, actualVersion: version })
          }
          return { version, events: [] }
        }
        const now = new Date(yield* Clock.currentTimeMillis)
        const encoded: Array<EncodedEvent> = []
        for (const event of events) encoded.push(yield* Validate.newEvent(event, now))
        yield* Validate.events(encoded)
        return yield* appendEncoded({ aggregateId, aggregateType, expectedVersion, events: encoded })
      }).pipe(
        Observability.observe(Metrics.saveDuration, aggregateType),
        Observability.span("EventStore.append", {
          "eventuali.aggregate.type": aggregateType,
          "eventuali.aggregate.id": aggregateId,
          "eventuali.event.count": events.length
        })
      ),

    load,

    loadOrFail: (definition, aggregateId) =>
      Effect.flatMap(load(definition, aggregateId), Option.match({
        onNone: () => Effect.fail(new AggregateNotFoundError({ aggregateType: definition.type, aggregateId })),
        onSome: Effect.succeed
      })),

    loadEvents: (aggregateId, fromVersion = 0) =>
      Validate.name("aggregate id", aggregateId).pipe(
        Effect.zipRight(Validate.nonNegativeInt("fromVersion", fromVersion)),
        Effect.zipRight(Effect.suspend(() => storage.readStream(aggregateId, fromVersion))),
        Effect.flatMap(decodeAll),
        Effect.tap(annotateCount),
        Observability.span("EventStore.loadEvents", { "eventuali.aggregate.id": aggregateId })
      ),

    loadEventsByType: (aggregateType, fromPosition) =>
      Effect.all([Validate.name("aggregate type", aggregateType), Validate.position(fromPosition)]).pipe(
        Effect.zipLeft(storage.catchUp),
        Effect.flatMap(([, from]) => storage.readAll({ aggregateTypes: [aggregateType], fromPosition: from })),
        Effect.flatMap(decodeAll),
        Effect.tap(annotateCount),
        Observability.span("EventStore.loadEventsByType", { "eventuali.aggregate.type": aggregateType, "eventuali.position.from": fromPosition ?? 0 })
      ),

    streamEventsByType: (aggregateType, options) => stream(aggregateType, options),

    streamAll: (options) => stream(undefined, options),

    subscribe,

    readEvents,

    currentCheckpoint: Effect.zipRight(storage.catchUp, Effect.map(storage.head, Checkpoint.fromPosition)).pipe(
      Observability.span("EventStore.currentCheckpoint", {})
    ),

    getAggregateVersion: (aggregateId) =>
      Effect.zipRight(Validate.name("aggregate id", aggregateId), storage.version(aggregateId)).pipe(
        Observability.span("EventStore.getAggregateVersion", { "eventuali.aggregate.id": aggregateId })
      ),

    registerEventClass: registry.register,
    unregisterEventClass: registry.unregister,
    getRegisteredEventClasses: () => registry.entries
  }
  return service
}

