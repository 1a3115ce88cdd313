/**
 * 01 — The basic event store: the EventStore API reference, operation by operation.
 *
 *   npx -y pnpm@10 demo                                  # sqlite://.data/demo.db
 *   EVENTUALI_URL=sqlite://:memory: npx -y pnpm@10 demo  # any supported connection string
 *
 * Ids get a fresh random suffix, so the demo can run again and again on the same file.
 */
import { BigDecimal, Config, Console, Effect, Layer, Option, Redacted, Ref, Schedule, Schema } from "effect"
import { Aggregate, ConnectionString, Event, EventStore, ExpectedVersion } from "eventuali"

// --- Events: schemas whose `_tag` is the event type ---------------------------------------------

class UserRegistered extends Schema.TaggedClass<UserRegistered>()("UserRegistered", {
  name: Schema.String,
  email: Schema.String
}) {}

class UserEmailChanged extends Schema.TaggedClass<UserEmailChanged>()("UserEmailChanged", {
  newEmail: Schema.String
}) {}

class OrderCreated extends Schema.TaggedClass<OrderCreated>()("OrderCreated", {
  customerId: Schema.String,
  amount: Schema.BigDecimal // stored as the string "19.99": no float rounding, no broken save
}) {}

// --- An aggregate: a pure fold over its events ---------------------------------------------------

const User = Aggregate.make({
  type: "User",
  events: [UserRegistered, UserEmailChanged],
  initialState: { name: "", email: "" },
  evolve: (state, event) => {
    switch (event._tag) {
      case "UserRegistered":
        return { name: event.name, email: event.email }
      case "UserEmailChanged":
        return { ...state, email: event.newEmail }
    }
  }
})

// --- An app service built on the store: "load, apply, save", retried on conflict ----------------

class Users extends Effect.Service<Users>()("examples/Users", {
  effect: Effect.gen(function*() {
    const store = yield* EventStore
    return {
      /** `afterLoad` runs between the load and the save (it lets the demo stage a race). */
      changeEmail: (id: string, newEmail: string, afterLoad: Effect.Effect<void> = Effect.void) =>
        Effect.gen(function*() {
          const user = yield* store.loadOrFail(User, id)
          yield* afterLoad
          return yield* store.save(Aggregate.apply(user, new UserEmailChanged({ newEmail })))
        }).pipe(
          Effect.tapErrorTag("OptimisticConcurrencyError", (error) =>
            Console.log(`  ${newEmail}: conflict, the store is at version ${error.actualVersion}; retrying`)),
          // Someone else wrote first: load again and re-apply, at most 3 more times.
          Effect.retry({ schedule: Schedule.recurs(3), while: (error) => error._tag === "OptimisticConcurrencyError" })
        )
    }
  })
}) {}

// --- The walk-through ----------------------------------------------------------------------------

const program = Effect.gen(function*() {
  const store = yield* EventStore
  const run = crypto.randomUUID().slice(0, 8)
  const userId = `user-${run}`

  yield* Console.log("\n# Event registration")
  yield* store.registerEventClass("UserRegistered", UserRegistered)
  yield* store.registerEventClass("UserEmailChanged", UserEmailChanged)
  yield* store.registerEventClass("OrderCreated", OrderCreated)
  yield* store.registerEventClass("order.created", OrderCreated) // an alias
  const registered = yield* store.getRegisteredEventClasses()
  yield* Console.log(`registered: ${[...registered.keys()].join(", ")}`)

  yield* Console.log("\n# save")
  let user = Aggregate.empty(User, userId) // version 0, initial state
  user = Aggregate.apply(user, new UserRegistered({ name: "John", email: "john@example.com" }))
  user = yield* store.save(user, { correlationId: `signup-${run}`, userId: "admin" })
  yield* Console.log(`saved ${user.id} at version ${user.version}: ${JSON.stringify(user.state)}`)
  user = Aggregate.apply(user, new UserEmailChanged({ newEmail: "john.doe@example.com" }))
  user = yield* store.save(user)
  yield* Console.log(`updated and saved at version ${user.version}: ${JSON.stringify(user.state)}`)

  yield* Console.log("\n# load")
  const loaded = yield* store.load(User, userId)
  yield* Option.match(loaded, {
    onNone: () => Console.log("not found"),
    onSome: (root) => Console.log(`loaded ${root.id} at version ${root.version}: ${JSON.stringify(root.state)}`)
  })
  const nobody = yield* store.load(User, `nobody-${run}`)
  yield* Console.log(`load of an unknown id: ${Option.isNone(nobody) ? "None" : "Some"}`)
  yield* store.loadOrFail(User, `nobody-${run}`).pipe(
    Effect.catchTag("AggregateNotFoundError", (error) => Console.log(`loadOrFail: ${error._tag}: ${error.message}`))
  )

  yield* Console.log("\n# loadEvents")
  const events = yield* store.loadEvents(userId) // envelopes, ascending by version
  for (const event of events) {
    yield* Console.log(
      `version ${event.aggregateVersion}: ${event.eventType} (position ${event.position}, ${event.timestamp.toISOString()})`
    )
  }
  const [first] = events
  if (first?.data instanceof UserRegistered) { // decoded with the registered schema
    yield* Console.log(`  data: UserRegistered ${first.data.name}; metadata: ${JSON.stringify(first.metadata)}`)
  }
  const later = yield* store.loadEvents(userId, 1) // only versions > 1
  yield* Console.log(`loadEvents(id, 1): versions ${later.map((event) => event.aggregateVersion).join(", ")}`)

  yield* Console.log("\n# aliases: events written as \"order.created\" decode with OrderCreated")
  yield* store.append("Order", `order-${run}`, [
    Event.make({ eventType: "order.created", data: { customerId: userId, amount: "19.99" } })
  ], { expectedVersion: ExpectedVersion.noStream })
  const [order] = yield* store.loadEvents(`order-${run}`)
  if (order !== undefined && order.data instanceof OrderCreated) {
    yield* Console.log(`${order.eventType} decoded as OrderCreated, amount ${BigDecimal.format(order.data.amount)}`)
  }

  yield* Console.log("\n# loadEventsByType (global position order)")
  const allUsers = yield* store.loadEventsByType("User")
  yield* Console.log(`all User events in the store: ${allUsers.length}`)
  const before = (first?.position ?? 1n) - 1n // just before this run's first event
  const sinceThisRun = yield* store.loadEventsByType("User", before)
  yield* Console.log(`loadEventsByType("User", ${before}): ${sinceThisRun.map((event) => event.eventType).join(", ")}`)

  yield* Console.log("\n# getAggregateVersion")
  const version = yield* store.getAggregateVersion(userId)
  yield* Console.log(`${userId}: ${Option.match(version, { onNone: () => "absent", onSome: (v) => `version ${v}` })}`)
  const missing = yield* store.getAggregateVersion(`nobody-${run}`)
  yield* Console.log(`nobody-${run}: ${Option.isNone(missing) ? "absent" : "present"}`)

  yield* Console.log("\n# OptimisticConcurrencyError")
  const stale = user // version 2
  user = yield* store.save(Aggregate.apply(user, new UserEmailChanged({ newEmail: "j@example.com" })))
  yield* store.save(Aggregate.apply(stale, new UserEmailChanged({ newEmail: "stale@example.com" }))).pipe(
    Effect.catchTag("OptimisticConcurrencyError", (error) =>
      Console.log(`${error._tag}: ${error.message} (actualVersion = ${error.actualVersion})`))
  )

  yield* Console.log("\n# retry on conflict: two concurrent writers")
  const users = yield* Users
  // Make the race reproducible: each writer's first attempt waits until both have loaded.
  const bothLoaded = yield* Effect.makeLatch()
  const loads = yield* Ref.make(0)
  const afterLoad = Ref.updateAndGet(loads, (n) => n + 1).pipe(
    Effect.flatMap((n) => (n >= 2 ? bothLoaded.open : bothLoaded.await))
  )
  const results = yield* Effect.all(
    ["alice@example.com", "bob@example.com"].map((email) =>
      users.changeEmail(userId, email, afterLoad).pipe(
        Effect.tap((saved) => Console.log(`  ${email}: saved at version ${saved.version}`))
      )
    ),
    { concurrency: "unbounded" }
  )
  const final = yield* store.loadOrFail(User, userId)
  const versions = results.map((saved) => saved.version).sort((a, b) => a - b)
  yield* Console.log(`both writes kept: versions ${versions.join(" and ")}, final version ${final.version}`)
})

// --- Wiring: the store from a connection string, the app service on top ------------------------

// EventStore.layer(url) with the url read from Config (EVENTUALI_URL), kept Redacted.
const url = Config.redacted("EVENTUALI_URL").pipe(Config.withDefault(Redacted.make("sqlite://.data/demo.db")))
const StoreLive = EventStore.layerConfig(url)
const AppLive = Users.Default.pipe(Layer.provideMerge(StoreLive))

const main = Effect.gen(function*() {
  yield* Console.log(`# EventStore.layerConfig(${ConnectionString.redact(Redacted.value(yield* url))})`)
  yield* program
  yield* Console.log("\ndone")
}).pipe(Effect.provide(AppLive))

Effect.runPromise(main)
