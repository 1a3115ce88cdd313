import { describe, expect, it } from "@effect/vitest"
import { Effect, Option, Schema } from "effect"
import { Aggregate, EventStore } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"

class UserRegistered extends Schema.TaggedClass<UserRegistered>()("UserRegistered", {
  name: Schema.String,
  email: Schema.String
}) {}
class UserEmailChanged extends Schema.TaggedClass<UserEmailChanged>()("UserEmailChanged", {
  newEmail: Schema.String
}) {}

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

describe("smoke", () => {
  it.effect("save and load", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      let user = Aggregate.empty(User, "user-1")
      user = Aggregate.apply(user, new UserRegistered({ name: "J", email: "j@x" }))
      user = yield* store.save(user)
      user = Aggregate.apply(user, new UserEmailChanged({ newEmail: "k@x" }))
      user = yield* store.save(user)
      const loaded = yield* store.load(User, "user-1")
      expect(Option.getOrThrow(loaded).state).toEqual({ name: "J", email: "k@x" })
      expect(Option.getOrThrow(loaded).version).toBe(2)
      const events = yield* store.loadEvents("user-1")
      expect(events.map((e) => e.data)).toEqual([{ name: "J", email: "j@x" }, { newEmail: "k@x" }])
    }).pipe(Effect.provide(SqliteEventStore.layer({ filename: ":memory:" }))))
})
