/**
 * 07 — Dependency injection with layers: app services that depend on the `EventStore` and on each
 * other, wired once on the live store from `EVENTUALI_URL`, and the same program run again on
 * test layers (the in-memory store, a mailer that only records).
 *
 *   npx tsx examples/07-dependency-injection.ts                            # sqlite://.data/demo.db
 *   EVENTUALI_URL=sqlite:///tmp/users.db npx tsx examples/07-dependency-injection.ts
 */
import { Config, Console, Context, Effect, Layer, Option, Redacted, Ref, Schema } from "effect"
import { Aggregate, ConnectionString, EventStore, InMemoryEventStore } from "eventuali"

// --- The domain ----------------------------------------------------------------------------------

class UserRegistered extends Schema.TaggedClass<UserRegistered>()("UserRegistered", { name: Schema.String, email: Schema.String }) {}
class UserEmailChanged extends Schema.TaggedClass<UserEmailChanged>()("UserEmailChanged", { newEmail: Schema.String }) {}

const User = Aggregate.make({
  type: "User",
  events: [UserRegistered, UserEmailChanged],
  initialState: { name: "", email: "" },
  evolve: (state, event) =>
    event._tag === "UserRegistered" ? { name: event.name, email: event.email } : { ...state, email: event.newEmail }
})

// --- Services: each says what it needs, none says how it is provided ----------------------------

/** Sends mail. Two implementations below: the live one, and one for tests that records. */
class Mailer extends Context.Tag("examples/Mailer")<Mailer, {
  readonly send: (to: string, subject: string) => Effect.Effect<void>
}>() {}

/** Users: needs the store and the mailer. */
class UserService extends Effect.Service<UserService>()("examples/UserService", {
  effect: Effect.gen(function*() {
    const store = yield* EventStore
    const mailer = yield* Mailer
    return {
      register: (id: string, name: string, email: string) =>
        Effect.gen(function*() {
          const user = yield* store.save(Aggregate.apply(Aggregate.empty(User, id), new UserRegistered({ name, email })))
          yield* mailer.send(email, `Welcome, ${name}`)
          return user
        }),
      changeEmail: (id: string, newEmail: string) =>
        Effect.gen(function*() {
          const user = yield* store.loadOrFail(User, id)
          const saved = yield* store.save(Aggregate.apply(user, new UserEmailChanged({ newEmail })))
          yield* mailer.send(newEmail, "Your email address changed")
          return saved
        })
    }
  })
}) {}

/** A read side: needs only the store — the same store instance as UserService, see below. */
class UserDirectory extends Effect.Service<UserDirectory>()("examples/UserDirectory", {
  effect: Effect.map(EventStore, (store) => ({
    emailOf: (id: string) => Effect.map(store.load(User, id), Option.map((user) => user.state.email))
  }))
}) {}

// --- The program: written against the services, run on whichever layers are provided ------------

const program = Effect.gen(function*() {
  const users = yield* UserService
  const directory = yield* UserDirectory
  const id = `user-${crypto.randomUUID().slice(0, 8)}`
  yield* users.register(id, "Ada", "ada@example.com")
  const saved = yield* users.changeEmail(id, "ada@lovelace.example")
  // UserDirectory reads what UserService wrote: one store, built once, shared by both.
  const email = yield* directory.emailOf(id)
  yield* Console.log(`${id} at version ${saved.version}; the directory says ${Option.getOrElse(email, () => "nothing")}`)
})

// --- Live wiring ---------------------------------------------------------------------------------

const url = Config.redacted("EVENTUALI_URL").pipe(Config.withDefault(Redacted.make("sqlite://.data/demo.db")))

const MailerLive = Layer.succeed(Mailer, { send: (to, subject) => Console.log(`  mail to ${to}: ${subject}`) })

/** The app's services; what they need is provided below, once per wiring. */
const Services = Layer.mergeAll(UserService.Default, UserDirectory.Default)

/** Both services over one store: the store layer is built once and shared (and the program gets it too). */
const AppLive = Services.pipe(
  Layer.provide(MailerLive),
  Layer.provideMerge(EventStore.layerConfig(url))
)

// --- Test wiring: swap the leaves, keep the services ---------------------------------------------

/** A mailer that records what it would send, for the test to read. */
class SentMail extends Context.Tag("examples/SentMail")<SentMail, Ref.Ref<ReadonlyArray<string>>>() {}

const MailerTest = Layer.effect(Mailer, Effect.map(SentMail, (sent) => ({
  send: (to: string, subject: string) => Ref.update(sent, (mails) => [...mails, `${to}: ${subject}`])
}))).pipe(Layer.provideMerge(Layer.effect(SentMail, Ref.make<ReadonlyArray<string>>([]))))

const AppTest = Services.pipe(
  Layer.provideMerge(MailerTest),
  Layer.provideMerge(InMemoryEventStore.layer)
)

const main = Effect.gen(function*() {
  yield* Console.log(`# live: EventStore.layerConfig(${ConnectionString.redact(Redacted.value(yield* url))}), a mailer that sends`)
  yield* program.pipe(Effect.provide(AppLive))

  yield* Console.log("\n# test: the same program on InMemoryEventStore.layer and a mailer that records")
  yield* Effect.gen(function*() {
    yield* program
    const mails = yield* Ref.get(yield* SentMail)
    yield* Console.log(`recorded ${mails.length} mails:\n${mails.map((mail) => `  ${mail}`).join("\n")}`)
    const users = yield* (yield* EventStore).loadEventsByType("User")
    yield* Console.log(`the test store holds ${users.length} events: this test's, nothing else`)
  }).pipe(Effect.provide(AppTest))

  yield* Console.log("\n# a layer that cannot be built fails with a typed error")
  const Unsupported = Services.pipe(Layer.provide(MailerLive), Layer.provide(EventStore.layer("mysql://localhost/app")))
  yield* program.pipe(
    Effect.provide(Unsupported),
    Effect.catchTag("DatabaseError", (error) => Console.log(`DatabaseError: ${error.message}`))
  )
  yield* Console.log("\ndone")
})

Effect.runPromise(main)
