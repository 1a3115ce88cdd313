/**
 * A store used after its scope closed (a service kept past its layer): every operation fails
 * with a DatabaseError at once — none waits for a writer or a connection that is gone.
 */
import { describe, expect, it } from "@effect/vitest"
import { Aggregate, EventStore } from "@eventuali/core"
import { SqliteEventStore } from "@eventuali/sqlite"
import { Context, Effect, Exit, Layer, Schema, Scope } from "effect"

class Noted extends Schema.TaggedClass<Noted>()("Noted", { text: Schema.String }) {}
const Note = Aggregate.make({ type: "Note", events: [Noted], initialState: "", evolve: (_, event) => event.text })

const note = (id: string) => Aggregate.apply(Aggregate.empty(Note, id), new Noted({ text: id }))

describe("a closed SQLite store", () => {
  it.live("fails saves, concurrent saves, appends and reads with DatabaseError instead of waiting", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(SqliteEventStore.layer({ filename: ":memory:" }), scope)
      const store = Context.get(context, EventStore.EventStore)
      yield* store.save(note("before"))
      yield* Scope.close(scope, Exit.void)

      const failures = yield* Effect.all([
        Effect.flip(store.save(note("after"))),
        Effect.flip(Effect.all([store.save(note("a")), store.save(note("b")), store.save(note("c"))], { concurrency: "unbounded" })),
        Effect.flip(store.append("Note", "raw", [{ eventType: "Noted", data: { text: "x" } }])),
        Effect.flip(store.load(Note, "before")),
        Effect.flip(store.loadEvents("before"))
      ]).pipe(Effect.timeout("5 seconds"))
      for (const failure of failures) {
        expect(failure._tag).toBe("DatabaseError")
      }
      expect(failures[0]!.message).toContain("closed")
    }))
})
