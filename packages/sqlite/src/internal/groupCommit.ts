/**
 * Group commit: appends from concurrent fibers queue up, and one writer fiber commits everything
 * waiting in one transaction, so N concurrent saves cost one commit (one fsync with
 * synchronous=FULL) instead of N. SQLite has one writer at a time anyway. A refused append
 * inserts nothing and fails nothing, so it does not disturb the others; each caller is answered
 * only after the commit.
 *
 * Callers wait in `Effect.async` and the writer sleeps in one: on the path of every save, a
 * plain array and two callbacks cost a fraction of a Queue and a Deferred (measured: Deferred
 * creation alone was 5% of a concurrent save; docs/performance.md).
 */
import { DatabaseError } from "@eventuali/core/Errors"
import type { AppendOutcome, AppendRequest } from "@eventuali/core/EventStorage"
import { Effect, Exit, type Scope } from "effect"

/** Most appends committed in one group. */
export const MAX_GROUP = 256

/** Writes a group in one transaction: an outcome per request, in order. */
export type WriteGroup = (requests: ReadonlyArray<AppendRequest>) => Effect.Effect<ReadonlyArray<AppendOutcome>, DatabaseError>

/** An append waiting for the writer, and how to answer its caller. */
interface Waiting {
  readonly request: AppendRequest
  readonly answer: (outcome: Effect.Effect<AppendOutcome, DatabaseError>) => void
}

const storeClosed = Effect.fail(new DatabaseError({ message: "Appending events failed: the event store is closed" }))

/**
 * Starts the writer (for the life of the scope) and returns how to append through it. Closing
 * the scope answers whatever still waits, and every later append, with a `DatabaseError` instead
 * of leaving them waiting for a writer that is gone.
 */
export const make = (writeGroup: WriteGroup): Effect.Effect<(request: AppendRequest) => Effect.Effect<AppendOutcome, DatabaseError>, never, Scope.Scope> =>
  Effect.gen(function*() {
    let waiting: Array<Waiting> = []
    let wakeWriter: (() => void) | undefined
    let closed = false

    const work = Effect.async<void>((resume) => {
      if (waiting.length > 0) return resume(Effect.void)
      wakeWriter = () => {
        wakeWriter = undefined
        resume(Effect.void)
      }
    })
    // Having woken for the first append, let the other ready fibers add theirs before taking
    // them all: that is what makes concurrent saves share a commit.
    const takeGroup = Effect.zipRight(Effect.zipRight(work, Effect.yieldNow()), Effect.sync(() => {
      const group = waiting.length <= MAX_GROUP ? waiting : waiting.slice(0, MAX_GROUP)
      waiting = waiting.length <= MAX_GROUP ? [] : waiting.slice(MAX_GROUP)
      return group
    }))

    const writeAlone = (item: Waiting) =>
      Effect.flatMap(Effect.exit(Effect.map(writeGroup([item.request]), (outcomes) => outcomes[0]!)), (exit) => Effect.sync(() => item.answer(exit)))

    const writeTogether = (group: ReadonlyArray<Waiting>) =>
      Effect.flatMap(Effect.exit(writeGroup(group.map((item) => item.request))), (exit) =>
        Exit.isSuccess(exit)
          ? Effect.sync(() => group.forEach((item, i) => item.answer(Exit.succeed(exit.value[i]!))))
          // The group was rolled back. One append that cannot be written (too large for the
          // disk space left) must not fail the others with it, again and again as they retry
          // together: each goes alone and gets its own answer.
          : Effect.forEach(group, writeAlone, { discard: true }))

    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        closed = true
        for (const item of waiting.splice(0)) item.answer(storeClosed)
      })
    )
    yield* takeGroup.pipe(
      Effect.flatMap((group) => group.length === 1 ? writeAlone(group[0]!) : writeTogether(group)),
      Effect.forever,
      Effect.forkScoped
    )
    return (request) =>
      Effect.async((answer) => {
        if (closed) return answer(storeClosed)
        waiting.push({ request, answer })
        wakeWriter?.()
      })
  })
