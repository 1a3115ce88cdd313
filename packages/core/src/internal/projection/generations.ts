/**
 * A rebuildable projection's instance: it runs the active build of its version and, while a
 * rebuild is asked for (`ProjectionStore.requestRebuild`: by `Running.rebuild` or the CLI), the
 * next generation beside it. Each build is an ordinary run (own checkpoints, leases, parked
 * events and activation, see `projectionVersion.ts`), in a scope of its own: the new generation
 * activates itself once every partition has caught up, and the generation it replaced is stopped
 * here at the next look at the stored builds.
 *
 * Instances look every heartbeat (a third of `leaseDuration`): the CLI cannot reach them
 * otherwise, and they already wake that often to renew their leases. Several instances each run
 * each build and share its partitions through its leases, as they share the active build's.
 */
import { Clock, Deferred, Duration, Effect, ExecutionStrategy, Exit, Option, Ref, Scope } from "effect"
import type { DatabaseError, ProjectionError } from "../../Errors.js"
import type { EventStore, ReadError } from "../../EventStore.js"
import type { Build, Projection, Running, RunningStatus } from "../../Projection.js"
import { type Builds, ProjectionStore } from "../../ProjectionStore.js"

type RunBuild = <E, R>(
  projection: Projection<E, R>,
  build: Build | undefined
) => Effect.Effect<Running<E>, ProjectionError | DatabaseError, EventStore | ProjectionStore | R | Scope.Scope>

interface Runner<E> {
  readonly running: Running<E>
  readonly scope: Scope.CloseableScope
}

/**
 * The generations of `version` an instance runs: the active one and the one asked for; before
 * its version is the active one (or after a later one replaced it), what it runs already (its
 * first build to begin with).
 */
const wanted = (stored: Option.Option<Builds>, version: number, running: ReadonlyArray<number>): ReadonlyArray<number> => {
  if (Option.isNone(stored) || stored.value.active.version !== version) return running.length > 0 ? running : [0]
  return [stored.value.active.generation, ...Option.toArray(stored.value.requested)]
}

export const run = <E, R>(
  projection: Projection<E, R>,
  runBuild: RunBuild,
  heartbeat: Duration.Duration
): Effect.Effect<Running<E>, ProjectionError | DatabaseError, EventStore | ProjectionStore | R | Scope.Scope> =>
  Effect.gen(function*() {
    const checkpoints = yield* ProjectionStore
    const version = projection.version ?? 1
    const scope = yield* Effect.scope
    const context = yield* Effect.context<EventStore | ProjectionStore | R>()
    const stopped = yield* Deferred.make<never, E | ReadError | DatabaseError>()
    const runners = yield* Ref.make<ReadonlyMap<number, Runner<E>>>(new Map())
    const lock = yield* Effect.makeSemaphore(1)

    const start = (generation: number) =>
      Effect.gen(function*() {
        const child = yield* Scope.fork(scope, ExecutionStrategy.sequential)
        const running = yield* runBuild(projection, { version, generation }).pipe(
          Scope.extend(child),
          Effect.onError(() => Scope.close(child, Exit.void))
        )
        // A build that stops on an error fails the projection's `await`, as a single run's does.
        yield* Effect.forkIn(Effect.catchAllCause(running.await, (cause) => Deferred.failCause(stopped, cause)), child)
        yield* Ref.update(runners, (map) => new Map(map).set(generation, { running, scope: child }))
      })

    /** Starts the generations wanted and not running, and stops those no longer wanted (replaced). */
    const sync = lock.withPermits(1)(Effect.gen(function*() {
      const stored = yield* checkpoints.builds(projection.name)
      const want = wanted(stored, version, [...(yield* Ref.get(runners)).keys()])
      for (const generation of want) if (!(yield* Ref.get(runners)).has(generation)) yield* start(generation)
      for (const [generation, runner] of yield* Ref.get(runners)) {
        if (want.includes(generation)) continue
        yield* Ref.update(runners, (map) => {
          const next = new Map(map)
          next.delete(generation)
          return next
        })
        yield* Scope.close(runner.scope, Exit.void)
      }
    })).pipe(Effect.provide(context))

    /**
     * The same, for the running instance's own effects, whose error types do not include
     * `ProjectionError`: a build's registration is refused only for another partition count,
     * which the first build's registration has refused already.
     */
    const syncNow = sync.pipe(Effect.catchTag("ProjectionError", (error) => Effect.die(error)))

    const generations = Effect.map(Ref.get(runners), (map) => [...map.keys()].sort((a, b) => a - b))
    const runnerOf = (pick: (generations: ReadonlyArray<number>) => number) =>
      Effect.flatMap(Ref.get(runners), (map) => Effect.map(generations, (sorted) => map.get(pick(sorted))!.running))
    /** The build serving queries (the lowest generation running), and the newest (being built during a rebuild). */
    const serving = runnerOf((sorted) => sorted[0]!)
    const newest = runnerOf((sorted) => sorted[sorted.length - 1]!)

    yield* sync
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(
      // On the real clock, as the run loop's heartbeats: a test's `TestClock` must not stop it.
      Effect.withClock(Effect.sleep(heartbeat), Clock.make()),
      syncNow.pipe(Effect.catchAllCause((cause) => Effect.logWarning("Projection: reading the builds to rebuild failed", cause)))
    )).pipe(Effect.annotateLogs({ projection: projection.name })))

    const whenCaughtUp: Effect.Effect<void, E | ReadError | DatabaseError> = Effect.gen(function*() {
      while (true) {
        yield* syncNow
        const running = yield* newest
        yield* running.whenCaughtUp
        // A rebuild asked for meanwhile (by another process) is waited for too.
        const stored = yield* checkpoints.builds(projection.name)
        const pending = Option.isSome(stored) && stored.value.active.version === version &&
          Option.isSome(stored.value.requested) && !(yield* generations).includes(stored.value.requested.value)
        if (!pending) return yield* syncNow
      }
    })

    const rebuild: Effect.Effect<void, E | ReadError | DatabaseError> = Effect.gen(function*() {
      const stored = yield* checkpoints.builds(projection.name)
      // A build that serves no reader (its version not active yet, or replaced) starts over in place.
      if (Option.isNone(stored) || stored.value.active.version !== version) return yield* Effect.flatMap(newest, (running) => running.rebuild)
      yield* checkpoints.requestRebuild(projection.name)
      yield* syncNow
    })

    const running: Running<E> = {
      name: (yield* serving).name,
      whenCaughtUp,
      rebuild,
      position: Effect.flatMap(serving, (running) => running.position),
      await: Deferred.await(stopped),
      activeVersion: Effect.flatMap(serving, (running) => running.activeVersion),
      status: Effect.gen(function*() {
        const sorted = yield* generations
        const status: RunningStatus = yield* Effect.flatMap(serving, (running) => running.status)
        if (sorted.length < 2) return status
        return { ...status, rebuilding: yield* Effect.flatMap(newest, (running) => running.status) }
      }),
      parked: Effect.flatMap(serving, (running) => running.parked),
      retryParked: (options) => Effect.flatMap(serving, (running) => running.retryParked(options)),
      discardParked: (position) => Effect.flatMap(serving, (running) => running.discardParked(position)),
      verify: Effect.flatMap(serving, (running) => running.verify)
    }
    return running
  })
