/**
 * Wake-ups for live subscriptions from other processes' appends: one dedicated connection LISTENs
 * on the store's channel, which the store's appends notify (`notifier.ts`: after they commit, or
 * in the caller's transaction, delivered when it commits). The connection is re-opened whenever
 * it drops, and every (re)connection is itself a wake-up, since notifications sent while it was
 * down are lost. Notifications only say "look again": the subscriber re-reads with the gap-safe
 * query.
 *
 * Ours rather than `PgClient.listen`, which drops notifications with an empty payload (ours carry
 * none: the channel is the message), swallows the listening connection's errors and does not
 * reconnect when that connection drops — a subscriber would then wait for polling alone.
 */
import { Effect, PubSub, Schedule, type Scope, Stream } from "effect"
import Pg from "pg"

/** The wake-ups on `channel`, listening for as long as the scope lives. */
export const notifications = (url: string, channel: string): Effect.Effect<Stream.Stream<void>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const wakeups = yield* PubSub.sliding<void>(1)
    const wake = () => {
      wakeups.unsafeOffer(undefined)
    }

    /** One connection's life: resolves (to be re-opened) when it ends or fails. */
    const listenOnce = Effect.async<void, Error>((resume) => {
      const client = new Pg.Client({ connectionString: url, application_name: "eventuali-listen" })
      let ended = false
      const close = () => {
        ended = true
        client.removeAllListeners()
        client.on("error", () => {})
        client.end().catch(() => {})
      }
      const end = (error?: Error) => {
        if (ended) return
        close()
        resume(Effect.fail(error ?? new Error("LISTEN connection ended")))
      }
      client.on("notification", wake)
      client.on("error", end)
      client.on("end", () => end())
      client.connect()
        .then(() => client.query(`LISTEN ${Pg.escapeIdentifier(channel)}`))
        .then(wake, end)
      return Effect.sync(close)
    })

    yield* listenOnce.pipe(
      Effect.retry(Schedule.exponential("50 millis").pipe(Schedule.union(Schedule.spaced("2 seconds")))),
      Effect.forkScoped
    )
    return Stream.fromPubSub(wakeups)
  })
