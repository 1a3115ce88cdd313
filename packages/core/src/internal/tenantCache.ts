/**
 * The open tenants: each opened once (concurrent first uses wait for the same opening), shared
 * while in use, closed once unused for the idle time, all closed with the cache's scope.
 *
 * Ours rather than `RcMap`, whose idle time costs a fiber forked when a tenant's last user leaves
 * and interrupted when the next arrives: with a tenant's services provided per request, that was
 * most of the cost tenancy added to a load (docs/performance.md, "Tenancy"). Here a request
 * counts itself in and out of an entry, and one sweeper closes what has been idle long enough.
 */
import { Clock, Deferred, Duration, Effect, Exit, Option, Schedule, Scope } from "effect"

const liveClock = Clock.make()

/** A key's place in the cache; held by a request from {@link TenantCache.hold} to {@link TenantCache.release}. */
export interface Entry<A, E> {
  readonly opened: Deferred.Deferred<A, E>
  /** The value once opened: a request for an open entry takes it without awaiting `opened`. */
  value: Option.Option<A>
  readonly scope: Scope.CloseableScope
  /** Requests holding the entry (or waiting for it to open). */
  users: number
  lastUsed: number
  /** Evicted while in use: closed when its last user leaves. */
  evicted: boolean
}

/** The cache's operations. */
export interface TenantCache<A, E> {
  /**
   * Holds `key`'s value at once if it is open (the path of every request for an open tenant):
   * `undefined` when it is not, and nothing is held. Call it where nothing can interrupt between
   * it and the {@link unsafeRelease} that must follow.
   */
  readonly unsafeHold: (key: string) => readonly [Entry<A, E>, A] | undefined
  /** Gives back at once an entry {@link unsafeHold} held; the effect closes it if it was evicted meanwhile. */
  readonly unsafeRelease: (entry: Entry<A, E>) => Effect.Effect<void>
  /** Holds `key`'s value (opened if needed) while `use` runs. */
  readonly use: <B, E2, R>(key: string, use: (value: A) => Effect.Effect<B, E2, R>) => Effect.Effect<B, E | E2, R>
  /** Holds `key`'s value for as long as the scope lives. */
  readonly get: (key: string) => Effect.Effect<A, E, Scope.Scope>
  /** Forgets `key`'s value: the next use opens it again; users holding it keep it until they leave. */
  readonly evict: (key: string) => Effect.Effect<void>
}

/** A cache opening values with `open` (in a scope of their own), for as long as the scope lives. */
export const make = <A, E>(
  open: (key: string) => Effect.Effect<A, E, Scope.Scope>,
  idleTimeToLive: Duration.Duration
): Effect.Effect<TenantCache<A, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const entries = new Map<string, Entry<A, E>>()
    const close = (entry: Entry<A, E>) => Scope.close(entry.scope, Exit.void)

    const acquire = (key: string): Effect.Effect<readonly [Entry<A, E>, A], E> =>
      Effect.suspend(() => {
        const existing = entries.get(key)
        if (existing !== undefined) {
          existing.users += 1
          if (Option.isSome(existing.value)) return Effect.succeed([existing, existing.value.value] as const)
          return Effect.map(Deferred.await(existing.opened), (value) => [existing, value] as const).pipe(
            Effect.onError(() => release(existing))
          )
        }
        return Effect.gen(function*() {
          const entry: Entry<A, E> = {
            opened: yield* Deferred.make<A, E>(),
            value: Option.none(),
            scope: yield* Scope.make(),
            users: 1,
            lastUsed: Date.now(),
            evicted: false
          }
          entries.set(key, entry)
          // Interruptible: acquiring runs uninterruptibly (it is `acquireUseRelease`'s acquire),
          // and fibers the opening forks (a listener, a notifier) inherit that, and the scope's
          // close would then wait for them forever.
          const opened = yield* Effect.exit(Scope.extend(Effect.interruptible(open(key)), entry.scope))
          yield* Deferred.done(entry.opened, opened)
          if (Exit.isSuccess(opened)) entry.value = Option.some(opened.value)
          if (Exit.isFailure(opened)) {
            // Not cached: the next use tries again.
            if (entries.get(key) === entry) entries.delete(key)
            yield* close(entry)
          }
          return yield* Effect.map(opened, (value) => [entry, value] as const).pipe(Effect.onError(() => release(entry)))
        })
      })

    const unsafeRelease = (entry: Entry<A, E>): Effect.Effect<void> => {
      entry.users -= 1
      entry.lastUsed = Date.now()
      return entry.users === 0 && entry.evicted ? close(entry) : Effect.void
    }
    const release = (entry: Entry<A, E>): Effect.Effect<void> => Effect.suspend(() => unsafeRelease(entry))

    const sweep = Effect.suspend(() => {
      const now = Date.now()
      const idle: Array<Entry<A, E>> = []
      for (const [key, entry] of entries) {
        if (entry.users === 0 && now - entry.lastUsed >= Duration.toMillis(idleTimeToLive)) {
          entries.delete(key)
          idle.push(entry)
        }
      }
      return Effect.forEach(idle, close, { discard: true })
    })

    if (Duration.isFinite(idleTimeToLive)) {
      const every = Duration.clamp(Duration.divide(idleTimeToLive, 2).pipe(Option.getOrElse(() => idleTimeToLive)), {
        minimum: Duration.millis(10),
        maximum: Duration.seconds(30)
      })
      // On the real clock, as `lastUsed` is: a test's clock (TestClock) must not close tenants, nor
      // wake the sweeper when it jumps.
      yield* Effect.forkScoped(Effect.withClock(Effect.repeat(sweep, Schedule.spaced(every)), liveClock))
    }
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        const all = Array.from(entries.values())
        entries.clear()
        return Effect.forEach(all, close, { discard: true })
      })
    )

    const acquireAndUse = <B, E2, R>(key: string, use: (value: A) => Effect.Effect<B, E2, R>): Effect.Effect<B, E | E2, R> =>
      Effect.acquireUseRelease(acquire(key), ([, value]) => use(value), ([entry]) => release(entry))

    return {
      // The path of every request for an open tenant, measured (docs/performance.md, "Tenancy"):
      // counted in and out without awaiting the opening.
      unsafeHold: (key) => {
        const entry = entries.get(key)
        if (entry === undefined || Option.isNone(entry.value)) return undefined
        entry.users += 1
        return [entry, entry.value.value]
      },
      unsafeRelease,
      use: acquireAndUse,
      get: (key) => Effect.map(Effect.acquireRelease(acquire(key), ([entry]) => release(entry)), ([, value]) => value),
      evict: (key) =>
        Effect.suspend(() => {
          const entry = entries.get(key)
          if (entry === undefined) return Effect.void
          entries.delete(key)
          entry.evicted = true
          return entry.users === 0 ? close(entry) : Effect.void
        })
    }
  })
