/**
 * Runs a program against a store and the reference model side by side: each command's result,
 * or its error's tag and fields, must be what the model says.
 */
import { assert, expect } from "@effect/vitest"
import { Aggregate, Checkpoint, type EventStore, ExpectedVersion } from "@eventuali/core"
import type { EventEnvelope } from "@eventuali/core/Event"
import { Chunk, Clock, Duration, Effect, Either, Inspectable, Option, Schema, Stream, TestClock } from "effect"
import { type Command, EVENT_TYPES, type EventSpec, type ExpectedSpec, POOL } from "./commands.js"
import {
  type Expected,
  type ExpectedError,
  json,
  type ModelEvent,
  type PendingEvent,
  type Reference,
  makeReference,
  type RequestEvent
} from "./reference.js"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}
class Withdrawn extends Schema.TaggedClass<Withdrawn>()("Withdrawn", { amount: Schema.Number }) {}

/** What the registry commands register: a schema that only takes `{ amount: number }`. */
const Amount = Schema.Struct({ amount: Schema.Number })

interface Movement {
  readonly tag: string
  readonly amount: number
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** The model of `Amount`: the decoded value, or `undefined` when the payload does not match. */
const decodeAmount = (data: unknown) =>
  isRecord(data) && typeof data["amount"] === "number" ? { value: { amount: data["amount"] } } : undefined

/** The names one program uses: unique to it, so programs can share a store. */
const namesOf = (prefix: string) => ({
  aggregateTypes: Array.from({ length: POOL.aggregateTypes }, (_, i) => `${String.fromCharCode(65 + i)}-${prefix}`),
  // The last id is invalid: every operation on it must fail with EventStoreError.
  aggregateIds: [...Array.from({ length: POOL.aggregateIds }, (_, i) => `agg${i}-${prefix}`), ""],
  eventIds: Array.from({ length: POOL.eventIds }, (_, i) => `ev${i}-${prefix}`)
})

const preview = (value: unknown): string => {
  let text: string
  try {
    text = JSON.stringify(value, (_, inner: unknown) => typeof inner === "bigint" ? `${inner}n` : inner) ?? String(value)
  } catch {
    text = Inspectable.toStringUnknown(value, 0)
  }
  return text.length > 400 ? `${text.slice(0, 400)}…` : text
}

const describeError = (error: ExpectedError) =>
  error._tag === "OptimisticConcurrencyError"
    ? `${error._tag}(expected ${ExpectedVersion.format(error.expectedVersion)}, actual ${error.actualVersion})`
    : error._tag === "SerializationError"
    ? `${error._tag}(${JSON.stringify(error.eventType)})`
    : error._tag

type Tagged = { readonly _tag: string; readonly message: string }

/** Checks an outcome against the model's expectation; on success, hands both values on. */
const check = <A, E extends Tagged, B>(
  label: string,
  actual: Either.Either<A, E>,
  expected: Expected<B>,
  onSuccess: (actual: A, expected: B) => void
): void => {
  if (expected._tag === "Failure") {
    if (Either.isRight(actual)) {
      return assert.fail(`${label}: expected ${describeError(expected.error)}, but it succeeded with ${preview(actual.right)}`)
    }
    const error: unknown = actual.left
    const tagged = actual.left
    expect(tagged._tag, `${label}: ${tagged._tag}: ${tagged.message}`).toBe(expected.error._tag)
    // Every error says what was wrong.
    expect(tagged.message.length, `${label}: the error has a message`).toBeGreaterThan(0)
    if (expected.error._tag === "OptimisticConcurrencyError") {
      const conflict = error as { readonly actualVersion: number; readonly expectedVersion: ExpectedVersion.ExpectedVersion }
      expect(conflict.actualVersion, `${label}: actualVersion`).toBe(expected.error.actualVersion)
      expect(ExpectedVersion.format(conflict.expectedVersion), `${label}: expectedVersion`).toBe(
        ExpectedVersion.format(expected.error.expectedVersion)
      )
    }
    if (expected.error._tag === "SerializationError") {
      expect((error as { readonly eventType: string }).eventType, `${label}: eventType`).toBe(expected.error.eventType)
    }
    return
  }
  if (Either.isLeft(actual)) {
    return assert.fail(`${label}: expected success, but it failed with ${actual.left._tag}: ${actual.left.message}`)
  }
  onSuccess(actual.right, expected.value)
}

/** The fields of an envelope every read must agree on, in JSON form. */
const view = (event: EventEnvelope | ModelEvent | PendingEvent, withPosition = true) => ({
  eventId: event.eventId,
  eventType: event.eventType,
  eventVersion: event.eventVersion,
  aggregateId: event.aggregateId,
  aggregateType: event.aggregateType,
  aggregateVersion: event.aggregateVersion,
  ...(withPosition && "position" in event ? { position: String(event.position) } : {}),
  timestamp: typeof event.timestamp === "number" ? event.timestamp : event.timestamp.getTime(),
  metadata: json(event.metadata),
  data: json(event.data)
})

const expectEvents = (label: string, actual: ReadonlyArray<EventEnvelope>, expected: ReadonlyArray<ModelEvent>) =>
  expect(actual.map((event) => view(event)), label).toEqual(expected.map((event) => view(event)))

/** Bit `i` of `mask` selects `values[i]`. */
const select = <A>(values: ReadonlyArray<A>, mask: number): Array<A> => values.filter((_, i) => (mask & (1 << i)) !== 0)

/** A live-clock bound on operations that wait for events (subscriptions), so a bug fails instead of hanging. */
const bounded = <A, E, R>(label: string, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.timeoutFail({ duration: Duration.seconds(20), onTimeout: () => new Error(`${label}: no answer within 20 seconds`) }),
    Effect.withClock(Clock.make()),
    Effect.orDie
  )

type History =
  | { readonly _tag: "Append"; readonly request: Parameters<Reference["append"]>[0] }
  | { readonly _tag: "Save"; readonly root: Aggregate.Root<ReadonlyArray<Movement>, Deposited | Withdrawn>; readonly eventIds: ReadonlyArray<string> | undefined; readonly metadata: EventSpec["metadata"] }

/** Runs `program` against `store`, asserting after each command that it did what the model does. */
export const execute = (store: EventStore.Service, program: ReadonlyArray<Command>) =>
  Effect.gen(function*() {
    const names = namesOf(crypto.randomUUID().slice(0, 8))
    const definitions = names.aggregateTypes.map((type) =>
      Aggregate.make({
        type,
        events: [Deposited, Withdrawn],
        initialState: [] as ReadonlyArray<Movement>,
        evolve: (state, event) => [...state, { tag: event._tag, amount: event.amount }]
      })
    )
    const model = makeReference()
    const history: Array<History> = []
    const currentVersion = (aggregateId: string) => model.log.filter((event) => event.aggregateId === aggregateId).length
    const positionAt = (index: number): bigint => {
      const k = index % (model.log.length + 1)
      return k === 0 ? 0n : model.log[k - 1]!.position
    }
    const resolveExpected = (spec: ExpectedSpec, aggregateId: string): ExpectedVersion.ExpectedVersion => {
      switch (spec._tag) {
        case "Any":
          return ExpectedVersion.any
        case "NoStream":
          return ExpectedVersion.noStream
        case "StreamExists":
          return ExpectedVersion.streamExists
        case "Current":
          return ExpectedVersion.exact(Math.max(0, currentVersion(aggregateId) + spec.delta))
        case "Exact":
          return ExpectedVersion.exact(spec.version)
      }
    }

    /** Checks written events against the model and adds them to it, with the ids and positions the store gave them. */
    const commitWritten = (label: string, pending: ReadonlyArray<PendingEvent>, actual: ReadonlyArray<EventEnvelope>) => {
      expect(actual.map((event) => view(event, false)), label).toEqual(
        pending.map((event, i) => view({ ...event, eventId: event.eventId ?? actual[i]?.eventId }, false))
      )
      let last = model.log.length === 0 ? -1n : model.log[model.log.length - 1]!.position
      const written = pending.map((event, i): ModelEvent => {
        const stored = actual[i]!
        assert.isTrue(stored.position > last, `${label}: position ${stored.position} follows ${last} (commit order)`)
        last = stored.position
        if (event.eventId === undefined) {
          expect(model.log.some((other) => other.eventId === stored.eventId), `${label}: a fresh event id`).toBe(false)
        }
        return { ...event, eventId: stored.eventId, position: stored.position }
      })
      model.commit(written)
    }

    const runAppend = (label: string, request: Parameters<Reference["append"]>[0]) =>
      Effect.gen(function*() {
        const expected = model.append(request)
        const actual = yield* Effect.either(
          store.append(
            request.aggregateType,
            request.aggregateId,
            request.events.map((event) => ({
              eventType: event.eventType,
              data: event.data,
              eventId: event.eventId,
              eventVersion: event.eventVersion,
              metadata: event.metadata,
              timestamp: new Date(event.timestamp)
            })),
            { expectedVersion: request.expectedVersion }
          )
        )
        check(label, actual, expected, (result, outcome) => {
          expect(result.version, `${label}: version`).toBe(outcome.version)
          switch (outcome._tag) {
            case "Unchanged":
              return expect(result.events, label).toEqual([])
            case "Retried":
              return expectEvents(`${label}: the events of the earlier append`, result.events, outcome.events)
            case "Written":
              return commitWritten(label, outcome.events, result.events)
          }
        })
      })

    const runSave = (label: string, entry: Extract<History, { readonly _tag: "Save" }>) =>
      Effect.gen(function*() {
        const { root } = entry
        const now = yield* Clock.currentTimeMillis
        const committed = Aggregate.committedVersion(root)
        const request = {
          aggregateType: root.type,
          aggregateId: root.id,
          expectedVersion: ExpectedVersion.exact(committed),
          events: root.uncommittedEvents.map((event, i): RequestEvent => ({
            eventId: entry.eventIds?.[i],
            eventType: event._tag,
            eventVersion: 1,
            timestamp: now,
            metadata: entry.metadata,
            data: { amount: event.amount }
          }))
        }
        const expected = model.save(request)
        const actual = yield* Effect.either(store.save(root, entry.metadata === undefined ? { eventIds: entry.eventIds } : { ...entry.metadata, eventIds: entry.eventIds }))
        let written: ReadonlyArray<PendingEvent> | undefined
        check(label, actual, expected, (saved, outcome) => {
          expect(saved.version, `${label}: version`).toBe(root.version)
          expect(saved.uncommittedEvents, `${label}: nothing uncommitted`).toEqual([])
          expect(saved.state, `${label}: state`).toEqual(root.state)
          if (outcome?._tag === "Written") written = outcome.events
        })
        if (written !== undefined) {
          // The store chose the positions (and perhaps the ids): learn them from a read.
          const events = yield* store.loadEvents(root.id, committed)
          commitWritten(`${label}: the saved events`, written, events)
        }
      })

    const decodeForLoad = (event: ModelEvent): ModelEvent | undefined => {
      if (event.eventType !== "Deposited" && event.eventType !== "Withdrawn") return undefined
      const decoded = decodeAmount(event.data)
      return decoded === undefined ? undefined : { ...event, data: decoded.value }
    }

    for (let index = 0; index < program.length; index++) {
      const command = program[index]!
      const label = `command ${index} ${preview(command)}`
      switch (command._tag) {
        case "Append": {
          const aggregateId = names.aggregateIds[command.aggregateId]!
          const now = yield* Clock.currentTimeMillis
          const request = {
            aggregateType: names.aggregateTypes[command.aggregateType]!,
            aggregateId,
            expectedVersion: resolveExpected(command.expected, aggregateId),
            events: command.events.map((event): RequestEvent => ({
              eventId: event.eventId === undefined ? undefined : names.eventIds[event.eventId]!,
              eventType: EVENT_TYPES[event.eventType]!,
              eventVersion: event.eventVersion ?? 1,
              timestamp: event.timestamp ?? now,
              metadata: event.metadata,
              data: event.data
            }))
          }
          history.push({ _tag: "Append", request })
          yield* runAppend(label, request)
          break
        }
        case "Save": {
          const definition = definitions[command.definition]!
          const aggregateId = names.aggregateIds[command.aggregateId]!
          const base = Math.max(0, currentVersion(aggregateId) + command.base)
          const root = Aggregate.applyAll(
            Aggregate.fromEvents(definition, aggregateId, Array.from({ length: base }, () => new Deposited({ amount: 0 }))),
            command.events.map(({ amount, deposit }) => deposit ? new Deposited({ amount }) : new Withdrawn({ amount }))
          )
          const entry = {
            _tag: "Save" as const,
            root,
            eventIds: command.withIds ? command.events.map(({ eventId }) => names.eventIds[eventId]!) : undefined,
            metadata: command.metadata
          }
          history.push(entry)
          yield* runSave(label, entry)
          break
        }
        case "Retry": {
          if (history.length === 0) break
          const earlier = history[command.index % history.length]!
          yield* earlier._tag === "Append" ? runAppend(`${label} (retrying an append)`, earlier.request) : runSave(`${label} (retrying a save)`, earlier)
          break
        }
        case "Load": {
          const definition = definitions[command.definition]!
          const aggregateId = names.aggregateIds[command.aggregateId]!
          const expected = model.load(
            {
              type: definition.type,
              initialState: [] as ReadonlyArray<Movement>,
              evolve: (state, event) => [...state, { tag: event.eventType, amount: (event.data as { readonly amount: number }).amount }]
            },
            aggregateId,
            decodeForLoad
          )
          if (command.orFail) {
            const actual = yield* Effect.either(store.loadOrFail(definition, aggregateId))
            const orFail: Expected<{ readonly version: number; readonly state: ReadonlyArray<Movement> }> =
              expected._tag === "Success" && expected.value === undefined
                ? { _tag: "Failure", error: { _tag: "AggregateNotFoundError" } }
                : expected as Expected<{ readonly version: number; readonly state: ReadonlyArray<Movement> }>
            check(label, actual, orFail, (root, loaded) => {
              expect({ version: root.version, state: json(root.state) }, label).toEqual({ version: loaded.version, state: json(loaded.state) })
            })
          } else {
            const actual = yield* Effect.either(store.load(definition, aggregateId))
            check(label, actual, expected, (root, loaded) => {
              expect(
                Option.match(root, { onNone: () => undefined, onSome: (root) => ({ version: root.version, state: json(root.state) }) }),
                label
              ).toEqual(loaded === undefined ? undefined : { version: loaded.version, state: json(loaded.state) })
            })
          }
          break
        }
        case "LoadEvents": {
          const aggregateId = names.aggregateIds[command.aggregateId]!
          const actual = yield* Effect.either(store.loadEvents(aggregateId, command.fromVersion))
          check(label, actual, model.loadEvents(aggregateId, command.fromVersion), (events, expected) => expectEvents(label, events, expected))
          break
        }
        case "GetVersion": {
          const aggregateId = names.aggregateIds[command.aggregateId]!
          const actual = yield* Effect.either(store.getAggregateVersion(aggregateId))
          check(label, actual, model.version(aggregateId), (version, expected) =>
            expect(Option.getOrUndefined(version), label).toBe(expected))
          break
        }
        case "ByType": {
          const aggregateType = names.aggregateTypes[command.aggregateType]!
          const fromPosition = positionAt(command.from)
          const actual = yield* Effect.either(
            command.batchSize === undefined
              ? store.loadEventsByType(aggregateType, fromPosition)
              : Effect.map(
                Stream.runCollect(store.streamEventsByType(aggregateType, { fromPosition, batchSize: command.batchSize })),
                Chunk.toReadonlyArray
              )
          )
          check(label, actual, model.readAll(fromPosition, [aggregateType]), (events, expected) => expectEvents(label, events, expected))
          break
        }
        case "ReadEvents": {
          const fromPosition = positionAt(command.from)
          const aggregateTypes = select(names.aggregateTypes, command.aggregateTypes)
          const eventTypes = select(EVENT_TYPES, command.eventTypes)
          // A page shows what is visible; after currentCheckpoint that is everything committed
          // before (PostgreSQL: no transaction of another test holds the visible prefix back).
          yield* store.currentCheckpoint
          const actual = yield* Effect.either(store.readEvents({ fromPosition, limit: command.limit, aggregateTypes, eventTypes }))
          check(label, actual, model.readPage(fromPosition, command.limit, aggregateTypes, eventTypes), (events, expected) =>
            expectEvents(label, events, expected))
          break
        }
        case "Subscribe": {
          const fromPosition = positionAt(command.from)
          const aggregateTypes = select(names.aggregateTypes, command.aggregateTypes)
          const eventTypes = select(EVENT_TYPES, command.eventTypes)
          // Only what is stored: a subscription waits for more, and a program is sequential.
          const take = Math.min(command.take, model.available(fromPosition, aggregateTypes, eventTypes))
          if (take === 0) break
          yield* store.currentCheckpoint
          const subscription = store.subscribe({
            from: fromPosition === 0n ? "beginning" : Checkpoint.fromPosition(fromPosition),
            aggregateTypes,
            eventTypes,
            batchSize: command.batchSize
          })
          const actual = yield* bounded(
            label,
            Effect.either(Effect.map(Stream.runCollect(Stream.take(subscription, take)), Chunk.toReadonlyArray))
          )
          check(label, actual, model.subscribe(fromPosition, take, command.batchSize, aggregateTypes, eventTypes), (events, expected) => {
            expectEvents(label, events, expected)
            expect(events.map((event) => event.checkpoint), `${label}: checkpoints`).toEqual(
              expected.map((event) => Checkpoint.fromPosition(event.position))
            )
          })
          break
        }
        case "Register": {
          const eventType = EVENT_TYPES[command.eventType]!
          yield* store.registerEventClass(eventType, Amount)
          model.register(eventType, decodeAmount)
          break
        }
        case "Unregister": {
          const eventType = EVENT_TYPES[command.eventType]!
          expect(yield* store.unregisterEventClass(eventType), label).toBe(model.unregister(eventType))
          break
        }
        case "Tick": {
          yield* TestClock.adjust(Duration.millis(command.millis))
          break
        }
      }
    }

    // In the end every aggregate holds exactly the model's events, and so does the log.
    for (const aggregateId of names.aggregateIds.slice(0, POOL.aggregateIds)) {
      for (const registered of EVENT_TYPES) model.unregister(registered)
      for (const registered of EVENT_TYPES) yield* store.unregisterEventClass(registered)
      const version = yield* store.getAggregateVersion(aggregateId)
      expect(Option.getOrElse(version, () => 0), `final version of ${aggregateId}`).toBe(currentVersion(aggregateId))
      check(`final events of ${aggregateId}`, yield* Effect.either(store.loadEvents(aggregateId)), model.loadEvents(aggregateId, 0), (events, expected) =>
        expectEvents(`final events of ${aggregateId}`, events, expected))
    }
    yield* store.currentCheckpoint
    check("the whole log", yield* Effect.either(store.readEvents({ aggregateTypes: names.aggregateTypes, limit: 10_000 })), model.readAll(0n, names.aggregateTypes), (events, expected) =>
      expectEvents("the whole log", events, expected))
  })
