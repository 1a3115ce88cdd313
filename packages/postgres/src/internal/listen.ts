/**
 * Wake-ups for live subscriptions from other processes' appends: one dedicated connection per
 * server LISTENs on the channels of the stores open on it (one store, or the schemas of many
 * tenants) while they have live subscribers ({@link wakeUps}), which the stores' appends notify (`notifier.ts`: after they commit, or in the caller's
 * transaction, delivered when it commits). The connection is re-opened whenever it drops, and
 * every (re)connection is itself a wake-up on every channel, since notifications sent while it
 * was down are lost. Notifications only say "look again": the subscriber re-reads with the
 * gap-safe query.
 *
 * Ours rather than `PgClient.listen`, which drops notifications with an empty payload (ours carry
 * none: the channel is the message), swallows the listening connection's errors and does not
 * reconnect when that connection drops — a subscriber would then wait for polling alone.
 */
import { Effect, PubSub, Schedule, type Scope, Stream } from "effect"
import Pg from "pg"

/** The listening connection of one server. */
export interface Listener {
  /** The wake-ups on `channel`, listened to for as long as the scope lives. */
  readonly channel: (channel: string) => Effect.Effect<Stream.Stream<void>, never, Scope.Scope>
}

interface Channel {
  readonly wakeups: PubSub.PubSub<void>
  users: number
}

/** The server's listening connection, (re)opened for as long as the scope lives. */
export const make = (url: string): Effect.Effect<Listener, never, Scope.Scope> =>
  Effect.gen(function*() {
    const channels = new Map<string, Channel>()
    /** The connection, once it is ready for LISTEN and UNLISTEN. */
    let connected: Pg.Client | undefined
    /** The connection's commands, one after the other (node-postgres wants one query at a time). */
    let commands: Promise<unknown> = Promise.resolve()
    const command = (verb: "LISTEN" | "UNLISTEN", channel: string, then: () => void = () => {}) => {
      const client = connected
      // Not connected: connecting listens to every channel wanted then, and wakes them.
      if (client === undefined) return
      // A failure ends the connection (its "error" event), which re-listens to every channel.
      commands = commands.then(() => client.query(`${verb} ${Pg.escapeIdentifier(channel)}`)).then(then).catch(() => {})
    }
    const wake = (channel: Channel) => {
      channel.wakeups.unsafeOffer(undefined)
    }

    /** One connection's life: resolves (to be re-opened) when it ends or fails. */
    const listenOnce = Effect.async<void, Error>((resume) => {
      const client = new Pg.Client({ connectionString: url, application_name: "eventuali-listen" })
      let ended = false
      const close = () => {
        ended = true
        if (connected === client) connected = undefined
        client.removeAllListeners()
        client.on("error", () => {})
        client.end().catch(() => {})
      }
      const end = (error?: Error) => {
        if (ended) return
        close()
        resume(Effect.fail(error ?? new Error("LISTEN connection ended")))
      }
      client.on("notification", (message) => {
        const channel = channels.get(message.channel)
        if (channel !== undefined) wake(channel)
      })
      client.on("error", end)
      client.on("end", () => end())
      client.connect().then(() => {
        if (ended) return
        // From here on a new channel sends its own LISTEN; the ones already wanted are listened
        // to now, and woken once listening, for what was missed before.
        connected = client
        const wanted = Array.from(channels.keys())
        const listening = wanted.map((channel) => `LISTEN ${Pg.escapeIdentifier(channel)}`).join("; ")
        commands = wanted.length === 0 ? Promise.resolve() : client.query(listening)
        return commands.then(() => {
          for (const name of wanted) {
            const channel = channels.get(name)
            if (channel !== undefined) wake(channel)
          }
        })
      }).catch(end)
      return Effect.sync(close)
    })

    yield* listenOnce.pipe(
      Effect.retry(Schedule.exponential("50 millis").pipe(Schedule.union(Schedule.spaced("2 seconds")))),
      Effect.forkScoped
    )

    const release = (name: string, channel: Channel) =>
      Effect.sync(() => {
        channel.users -= 1
        if (channel.users > 0) return
        channels.delete(name)
        command("UNLISTEN", name)
      })

    return {
      channel: (name) =>
        Effect.acquireRelease(
          Effect.gen(function*() {
            const existing = channels.get(name)
            if (existing !== undefined) {
              existing.users += 1
              return existing
            }
            const channel: Channel = { wakeups: yield* PubSub.sliding<void>(1), users: 1 }
            channels.set(name, channel)
            // Woken once listening: an append notified before was not heard.
            command("LISTEN", name, () => wake(channel))
            return channel
          }),
          (channel) => release(name, channel)
        ).pipe(Effect.map((channel) => Stream.fromPubSub(channel.wakeups)))
    }
  })

/**
 * The wake-ups on `channel`, listened to while the stream runs (`EventStorage.notifications`: the
 * store runs it only while it has live subscribers), on the listener's connection.
 */
export const wakeUps = (listener: Listener, channel: string): Stream.Stream<void> =>
  Stream.unwrapScoped(listener.channel(channel))
