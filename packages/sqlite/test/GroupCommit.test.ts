/**
 * Group commit on its own, over a recording writer: concurrent appends share one write, each
 * caller gets its own outcome, a failed group is written again one by one, and a closed store
 * answers instead of leaving callers waiting.
 */
import { describe, expect, it } from "@effect/vitest"
import { DatabaseError } from "@eventuali/core/Errors"
import { type AppendOutcome, type AppendRequest, appended, refused } from "@eventuali/core/EventStorage"
import * as ExpectedVersion from "@eventuali/core/ExpectedVersion"
import { Effect, Exit, Fiber, Scope } from "effect"
import * as GroupCommit from "../src/internal/groupCommit.js"

const request = (aggregateId: string): AppendRequest => ({
  aggregateId,
  aggregateType: "T",
  expectedVersion: ExpectedVersion.noStream,
  events: []
})

/** A writer that records each group and refuses the appends to ids starting with "refused". */
const recordingWriter = (fail: (requests: ReadonlyArray<AppendRequest>) => boolean = () => false) => {
  const groups: Array<ReadonlyArray<string>> = []
  const write: GroupCommit.WriteGroup = (requests) =>
    Effect.suspend(() => {
      groups.push(requests.map((r) => r.aggregateId))
      if (fail(requests)) return Effect.fail(new DatabaseError({ message: "Appending events failed: disk full" }))
      return Effect.succeed(requests.map((r): AppendOutcome => r.aggregateId.startsWith("refused") ? refused : appended([])))
    })
  return { groups, write }
}

const appendAll = (append: (request: AppendRequest) => Effect.Effect<AppendOutcome, DatabaseError>, ids: ReadonlyArray<string>) =>
  Effect.all(ids.map((id) => Effect.either(append(request(id)))), { concurrency: "unbounded" })

describe("group commit", () => {
  it.scoped("writes concurrent appends as one group and answers each caller with its own outcome", () =>
    Effect.gen(function*() {
      const { groups, write } = recordingWriter()
      const append = yield* GroupCommit.make(write)
      const ids = ["a", "refused-b", "c", "d", "refused-e"]
      const outcomes = yield* appendAll(append, ids)
      expect(groups).toEqual([ids])
      expect(outcomes.map((o) => o._tag === "Right" && o.right._tag)).toEqual(["Some", "None", "Some", "Some", "None"])
    }))

  it.scoped("writes a lone append alone, and later appends in later groups", () =>
    Effect.gen(function*() {
      const { groups, write } = recordingWriter()
      const append = yield* GroupCommit.make(write)
      yield* append(request("first"))
      yield* appendAll(append, ["x", "y"])
      expect(groups).toEqual([["first"], ["x", "y"]])
    }))

  it.scoped(`takes at most ${GroupCommit.MAX_GROUP} appends per group`, () =>
    Effect.gen(function*() {
      const { groups, write } = recordingWriter()
      const append = yield* GroupCommit.make(write)
      const ids = Array.from({ length: GroupCommit.MAX_GROUP + 10 }, (_, i) => `a${i}`)
      yield* appendAll(append, ids)
      expect(groups.map((group) => group.length)).toEqual([GroupCommit.MAX_GROUP, 10])
      expect(groups.flat()).toEqual(ids)
    }))

  it.scoped("writes a failed group again one by one, so one append that cannot be written fails alone", () =>
    Effect.gen(function*() {
      const { groups, write } = recordingWriter((requests) => requests.some((r) => r.aggregateId === "too-large"))
      const append = yield* GroupCommit.make(write)
      const outcomes = yield* appendAll(append, ["a", "too-large", "b"])
      expect(groups).toEqual([["a", "too-large", "b"], ["a"], ["too-large"], ["b"]])
      expect(outcomes.map((o) => o._tag)).toEqual(["Right", "Left", "Right"])
    }))

  it.effect("answers waiting and later appends with DatabaseError once its scope is closed", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      // A writer that never finishes: appends stay waiting behind it.
      const append = yield* Scope.extend(GroupCommit.make(() => Effect.never), scope)
      yield* Effect.fork(append(request("stuck")))
      yield* Effect.yieldNow()
      const waiting = yield* Effect.fork(append(request("waiting")))
      yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      const answered = yield* Fiber.join(waiting).pipe(Effect.flip)
      expect(answered.message).toBe("Appending events failed: the event store is closed")
      expect((yield* Effect.flip(append(request("later")))).message).toBe("Appending events failed: the event store is closed")
    }))
})
