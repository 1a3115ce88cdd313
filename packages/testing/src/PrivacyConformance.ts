/**
 * The conformance suite of crypto-shredding (`Privacy`): personal fields read back through every
 * read path before `Privacy.forget`, and their replacements (or `PersonalDataErasedError`) after
 * it; other subjects unaffected; key rotation; forget racing saves; annotations that cannot be
 * honoured refused. Run by every backend that provides `Privacy` with its store.
 *
 * @example
 * ```ts
 * import { PrivacyConformance } from "@eventuali/testing/vitest"
 *
 * PrivacyConformance.run("MyEventStore", MyEventStore.layer({ ... }))
 * ```
 *
 * @since 0.2.0
 */
import { describe, expect, it } from "@effect/vitest"
import { Aggregate, EventStore, Privacy, Projection, type ProjectionStore } from "@eventuali/core"
import { Chunk, Effect, Exit, type Layer, Option, Ref, Schema, Stream, type TestServices } from "effect"
import { expectFailure, unique } from "./internal/fixtures.js"

type Services = EventStore.EventStore | ProjectionStore.ProjectionStore | Privacy.Privacy
type Body = (store: EventStore.Service) => Effect.Effect<void, unknown, Services | TestServices.TestServices>

const ERASED_NAME = "[erased]"
const ERASED_EMAIL = "erased@invalid"

class Registered extends Schema.TaggedClass<Registered>()("Registered", {
  userId: Schema.String,
  name: Schema.String.pipe(Privacy.personal({ subject: "userId", replacement: ERASED_NAME })),
  email: Schema.String.pipe(Privacy.personal({ subject: "userId", replacement: ERASED_EMAIL })),
  plan: Schema.String
}) {}

/** A field without a replacement: reads after forget fail with PersonalDataErasedError. */
class Noted extends Schema.TaggedClass<Noted>()("Noted", {
  note: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId }))
}) {}

/** A field of any type: its encoded JSON is what is sealed. */
class Moved extends Schema.TaggedClass<Moved>()("Moved", {
  address: Schema.Struct({ street: Schema.String, city: Schema.String }).pipe(
    Privacy.personal({ subject: Privacy.aggregateId, replacement: { street: "", city: "" } })
  ),
  at: Schema.optional(Schema.DateFromString.pipe(Privacy.personal({ subject: Privacy.aggregateId })))
}) {}

type UserEvent = Registered | Noted | Moved

interface UserState {
  readonly name: string
  readonly email: string
  readonly city: string
  readonly notes: number
}

const UserState = Schema.Struct({
  name: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId })),
  email: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId })),
  city: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId })),
  notes: Schema.Number
})

const evolve = (state: UserState, event: UserEvent): UserState => {
  switch (event._tag) {
    case "Registered":
      return { ...state, name: event.name, email: event.email }
    case "Noted":
      return { ...state, notes: state.notes + 1 }
    case "Moved":
      return { ...state, city: event.address.city }
  }
}

const userOf = (type: string, snapshot?: Aggregate.SnapshotPolicy<UserState>) =>
  Aggregate.make({
    type,
    events: [Registered, Noted, Moved],
    initialState: { name: "", email: "", city: "", notes: 0 } as UserState,
    evolve,
    ...(snapshot === undefined ? {} : { snapshot })
  })

const register = (definition: Aggregate.Definition<UserState, UserEvent>, id: string, name: string, email: string) =>
  Effect.flatMap(EventStore.EventStore, (store) =>
    store.save(Aggregate.apply(Aggregate.empty(definition, id), new Registered({ userId: id, name, email, plan: "pro" }))))

const collect = <A, E, R>(stream: Stream.Stream<A, E, R>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

/** What every read path shows of a user's `Registered` event: name and email, from each read. */
const readEverywhere = (store: EventStore.Service, definition: Aggregate.Definition<UserState, UserEvent>, id: string) =>
  Effect.gen(function*() {
    const loaded = Option.getOrThrow(yield* store.load(definition, id)).state
    const fromEvents = (yield* store.loadEvents(id))[0]!.data as Registered
    const byType = (yield* store.loadEventsByType(definition.type)).find((event) => event.aggregateId === id)!.data as Registered
    const streamed = (yield* collect(store.streamAll({ aggregateTypes: [definition.type] }))).find((event) => event.aggregateId === id)!
      .data as Registered
    const page = (yield* store.readEvents({ aggregateTypes: [definition.type] })).find((event) => event.aggregateId === id)!
      .data as Registered
    const subscribed = (yield* collect(
      store.subscribe({ aggregateTypes: [definition.type] }).pipe(Stream.filter((event) => event.aggregateId === id), Stream.take(1))
    ))[0]!.data as Registered
    return [loaded, fromEvents, byType, streamed, page, subscribed].map(({ email, name }) => ({ name, email }))
  })

/**
 * Declares the suite as `describe(name, ...)`, each test an `it.effect` that provides `layer`
 * (which must provide the store and its `Privacy` service).
 *
 * @since 0.2.0
 * @category tests
 */
export const run = (name: string, layer: Layer.Layer<Services, unknown>): void => {
  const test = (title: string, body: Body) =>
    it.effect(title, () => EventStore.EventStore.pipe(Effect.flatMap(body), Effect.provide(layer)))

  describe(name, () => {
    describe("personal data (Privacy)", () => {
      test("every read path shows the personal fields before forget, their replacements after; other subjects unaffected", (store) =>
        Effect.gen(function*() {
          const User = userOf(unique("User"))
          const ada = unique("ada")
          const bob = unique("bob")
          yield* register(User, ada, "Ada Lovelace", "ada@example.com")
          yield* register(User, bob, "Bob Babbage", "bob@example.com")
          for (const read of yield* readEverywhere(store, User, ada)) expect(read).toEqual({ name: "Ada Lovelace", email: "ada@example.com" })

          expect(yield* Privacy.forget(ada)).toBe(true)
          for (const read of yield* readEverywhere(store, User, ada)) expect(read).toEqual({ name: ERASED_NAME, email: ERASED_EMAIL })
          for (const read of yield* readEverywhere(store, User, bob)) expect(read).toEqual({ name: "Bob Babbage", email: "bob@example.com" })
          // The fields that are not personal are as written.
          expect(((yield* store.loadEvents(ada))[0]!.data as Registered).plan).toBe("pro")
          expect(yield* Privacy.forget(ada)).toBe(false)
        }))

      test("a personal field without a replacement fails reads with PersonalDataErasedError after forget", (store) =>
        Effect.gen(function*() {
          const User = userOf(unique("User"))
          const id = unique("user")
          const root = yield* register(User, id, "Ada", "ada@example.com")
          yield* store.save(Aggregate.apply(root, new Noted({ note: "asked for a refund" })))
          expect(((yield* store.loadEvents(id))[1]!.data as Noted).note).toBe("asked for a refund")
          yield* Privacy.forget(id)
          const error = yield* expectFailure(store.loadEvents(id), "PersonalDataErasedError")
          expect(error.subjectId).toBe(id)
          expect(error.fields).toEqual(["note"])
          yield* expectFailure(store.load(User, id), "PersonalDataErasedError")
          yield* expectFailure(collect(store.streamAll({ aggregateTypes: [User.type] })), "PersonalDataErasedError")
          // The event after the one that fails still reads.
          expect(yield* store.loadEvents(id, 2)).toEqual([])
        }))

      test("fields of any type are sealed as their encoded JSON; absent optional fields are left out", (store) =>
        Effect.gen(function*() {
          const User = userOf(unique("User"))
          const id = unique("user")
          const root = yield* register(User, id, "Ada", "ada@example.com")
          const at = new Date("2026-01-02T03:04:05.000Z")
          yield* store.save(Aggregate.applyAll(root, [
            new Moved({ address: { street: "1 Main St", city: "London" }, at }),
            new Moved({ address: { street: "2 High St", city: "Paris" } })
          ]))
          const loaded = Option.getOrThrow(yield* store.load(User, id))
          expect(loaded.state.city).toBe("Paris")
          const raw = yield* store.loadEvents(id)
          expect(raw[1]!.data).toEqual({ address: { street: "1 Main St", city: "London" }, at: at.toISOString() })
          expect(raw[2]!.data).toEqual({ address: { street: "2 High St", city: "Paris" } })
          yield* store.registerEventClass(Moved._tag, Moved)
          const typed = yield* store.loadEvents(id)
          expect((typed[1]!.data as Moved).at).toEqual(at)
          yield* store.unregisterEventClass(Moved._tag)
        }))

      test("a save after forget makes a new key: new events read, the older ones stay erased", (store) =>
        Effect.gen(function*() {
          const User = userOf(unique("User"))
          const id = unique("user")
          const root = yield* register(User, id, "Ada", "ada@example.com")
          yield* Privacy.forget(id)
          const loaded = Option.getOrThrow(yield* store.load(User, id))
          expect(loaded.state.name).toBe(ERASED_NAME)
          yield* store.save(Aggregate.apply(loaded, new Registered({ userId: id, name: "Ada again", email: "new@example.com", plan: "free" })))
          const events = yield* store.loadEvents(id)
          expect(events.map((event) => (event.data as Registered).name)).toEqual([ERASED_NAME, "Ada again"])
          expect(root.version).toBe(1)
        }))

      test("rotation: new writes use a new key, earlier ones still read; forget erases both", (store) =>
        Effect.gen(function*() {
          const User = userOf(unique("User"))
          const id = unique("user")
          const root = yield* register(User, id, "Ada", "ada@example.com")
          yield* Privacy.rotate(id)
          yield* store.save(Aggregate.apply(root, new Registered({ userId: id, name: "Ada L.", email: "al@example.com", plan: "pro" })))
          yield* Privacy.rotate(id)
          const names = (yield* store.loadEvents(id)).map((event) => (event.data as Registered).name)
          expect(names).toEqual(["Ada", "Ada L."])
          const privacy = yield* Privacy.Privacy
          expect((yield* privacy.keyStore.keysOf([id])).get(id)?.length).toBe(3)
          yield* Privacy.forget(id)
          expect((yield* privacy.keyStore.keysOf([id])).get(id)).toBeUndefined()
          expect((yield* store.loadEvents(id)).map((event) => (event.data as Registered).name)).toEqual([ERASED_NAME, ERASED_NAME])
        }))

      test("forget racing saves of the same subject: each event reads as written (with a key made after forget) or erased, never otherwise", (store) =>
        Effect.gen(function*() {
          const type = unique("Note")
          const subject = unique("user")
          const eventType = unique("Registered")
          yield* store.registerEventClass(eventType, Registered)
          const saves = Array.from({ length: 12 }, (_, i) =>
            store.append(type, unique("note"), [{ eventType, data: { userId: subject, name: `name ${i}`, email: `e${i}@example.com`, plan: "p" } }]))
          const results = yield* Effect.all(
            [...saves.slice(0, 6).map((save) => Effect.asVoid(save)), Effect.asVoid(Privacy.forget(subject)), ...saves.slice(6).map((save) => Effect.asVoid(save))],
            { concurrency: "unbounded" }
          )
          expect(results.length).toBe(13)
          const read = yield* store.loadEventsByType(type)
          expect(read.length).toBe(12)
          for (const event of read) {
            const { email, name } = event.data as Registered
            expect(name === ERASED_NAME ? email === ERASED_EMAIL : /^name \d+$/.test(name) && email.endsWith("@example.com")).toBe(true)
          }
          yield* Privacy.forget(subject)
          for (const event of yield* store.loadEventsByType(type)) expect((event.data as Registered).name).toBe(ERASED_NAME)
        }))

      test("raw append of a registered event type is sealed like save; the result shows the payload as given", (store) =>
        Effect.gen(function*() {
          const eventType = unique("Registered")
          yield* store.registerEventClass(eventType, Registered)
          const type = unique("User")
          const id = unique("user")
          const result = yield* store.append(type, id, [{ eventType, data: { userId: id, name: "Ada", email: "ada@example.com", plan: "pro" } }])
          expect(result.events[0]!.data).toEqual({ userId: id, name: "Ada", email: "ada@example.com", plan: "pro" })
          expect(((yield* store.loadEvents(id))[0]!.data as Registered).name).toBe("Ada")
          yield* Privacy.forget(id)
          expect(((yield* store.loadEvents(id))[0]!.data as Registered).name).toBe(ERASED_NAME)
        }))

      test("a projection rebuilt after forget sees the replacements", (store) =>
        Effect.scoped(Effect.gen(function*() {
          const User = userOf(unique("User"))
          const id = unique("user")
          yield* register(User, id, "Ada", "ada@example.com")
          const names = yield* Ref.make<ReadonlyArray<string>>([])
          const running = yield* Projection.run(Projection.make({
            name: unique("names"),
            aggregateTypes: [User.type],
            handle: (event) => Ref.update(names, (all) => [...all, (event.data as Registered).name]),
            reset: Ref.set(names, [])
          }))
          yield* running.whenCaughtUp
          expect(yield* Ref.get(names)).toEqual(["Ada"])
          yield* Privacy.forget(id)
          yield* running.rebuild
          yield* running.whenCaughtUp
          expect(yield* Ref.get(names)).toEqual([ERASED_NAME])
          expect(store).toBeDefined()
        })))

      test("an inline projection sees the personal fields opened", (store) =>
        Effect.scoped(Effect.gen(function*() {
          const User = userOf(unique("User"))
          const seen = yield* Ref.make<ReadonlyArray<string>>([])
          yield* store.registerInline({
            name: unique("inline"),
            aggregateTypes: [User.type],
            handle: (event) => Ref.update(seen, (all) => [...all, (event.data as Registered).email])
          })
          yield* register(User, unique("user"), "Ada", "ada@example.com")
          expect(yield* Ref.get(seen)).toEqual(["ada@example.com"])
        })))

      test("snapshots: the state's personal fields are sealed too; after forget load replays from the events", (store) =>
        Effect.gen(function*() {
          const User = userOf(unique("User"), { every: 2, version: 1, schema: UserState })
          const id = unique("user")
          let root = yield* register(User, id, "Ada", "ada@example.com")
          root = yield* store.save(Aggregate.apply(root, new Moved({ address: { street: "1 Main St", city: "London" } })))
          expect(Option.getOrThrow(yield* store.load(User, id)).state).toEqual({ name: "Ada", email: "ada@example.com", city: "London", notes: 0 })
          yield* Privacy.forget(id)
          expect(Option.getOrThrow(yield* store.load(User, id)).state).toEqual({ name: ERASED_NAME, email: ERASED_EMAIL, city: "", notes: 0 })
        }))

      test("a snapshot schema that would copy personal data in plaintext is refused, nothing written", (store) =>
        Effect.gen(function*() {
          const Plain = Schema.Struct({ name: Schema.String, email: Schema.String, city: Schema.String, notes: Schema.Number })
          const User = userOf(unique("User"), { every: 1, version: 1, schema: Plain })
          const id = unique("user")
          const error = yield* expectFailure(register(User, id, "Ada", "ada@example.com"), "EventStoreError")
          expect(error.message).toContain("Privacy.withoutPersonalData")
          expect(yield* store.getAggregateVersion(id)).toEqual(Option.none())
          // Declared free of personal data: accepted.
          const Counted = userOf(unique("User"), { every: 1, version: 1, schema: Privacy.withoutPersonalData(Plain) as unknown as typeof UserState })
          yield* register(Counted, id, "Ada", "ada@example.com")
        }))

      test("annotations that cannot be honoured are refused at registration and at save, nothing written", (store) =>
        Effect.gen(function*() {
          const cases: ReadonlyArray<readonly [string, Schema.Schema.AnyNoContext, string]> = [
            ["nested", Schema.TaggedStruct("Nested", { profile: Schema.Struct({ email: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId })) }) }), "top-level fields"],
            ["missing subject", Schema.TaggedStruct("NoSubject", { email: Schema.String.pipe(Privacy.personal({ subject: "userId" })) }), "another field"],
            ["personal subject", Schema.TaggedStruct("PersonalSubject", {
              userId: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId })),
              email: Schema.String.pipe(Privacy.personal({ subject: "userId" }))
            }), "is itself personal"],
            ["bad replacement", Schema.TaggedStruct("BadReplacement", { age: Schema.Number.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "none" as unknown as number })) }), "replacement"],
            ["reserved name", Schema.TaggedStruct("Reserved", { $personal: Schema.String }), "reserved"]
          ]
          for (const [label, schema, message] of cases) {
            const error = yield* expectFailure(store.registerEventClass(unique(label), schema), "EventStoreError")
            expect(error.message).toContain(message)
          }
          class Bad extends Schema.TaggedClass<Bad>()("Bad", { email: Schema.String.pipe(Privacy.personal({ subject: "nobody" })) }) {}
          const definition = Aggregate.make({ type: unique("Bad"), events: [Bad], initialState: 0, evolve: (n) => n + 1 })
          const id = unique("bad")
          yield* expectFailure(store.save(Aggregate.apply(Aggregate.empty(definition, id), new Bad({ email: "x@example.com" }))), "EventStoreError")
          expect(yield* store.getAggregateVersion(id)).toEqual(Option.none())
          // A subject field that holds no usable id: SerializationError, nothing written.
          const User = userOf(unique("User"))
          const empty = yield* store.save(Aggregate.apply(Aggregate.empty(User, id), new Registered({ userId: "", name: "A", email: "a@example.com", plan: "p" }))).pipe(Effect.exit)
          expect(Exit.isFailure(empty)).toBe(true)
          expect(yield* store.getAggregateVersion(id)).toEqual(Option.none())
          yield* expectFailure(Privacy.forget(""), "EventStoreError")
        }))
    })
  })
}
