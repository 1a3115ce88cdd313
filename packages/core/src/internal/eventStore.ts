/**
 * The store service over a backend's {@link EventStorage}: the operations assembled from the
 * modules in `./eventStore/`, one concept each — `append` (conditional appends, refusals,
 * idempotent retries), `save` (encoding an aggregate's events), `snapshots`, `fold` and `load`
 * (an aggregate's reads), `logReads` (reads of the global log by position), `subscriptions`
 * (catch-up then live), `inline` (inline projections in the append's transaction), `lifecycle`
 * (delete, restore, truncate, retention).
 */
import { Duration, Effect, Option, type Scope } from "effect"
import * as EventRegistry from "../EventRegistry.js"
import type { EventStorage } from "../EventStorage.js"
import type { Service, StoreOptions } from "../EventStore.js"
import * as ReadPreference from "../ReadPreference.js"
import * as Observability from "./observability.js"
import * as Validate from "./validate.js"
import { append, type Writer } from "./eventStore/append.js"
import * as Inline from "./eventStore/inline.js"
import { applyRetention, archive, deleteStream, restore, truncate } from "./eventStore/lifecycle.js"
import { load, loadEvents, loadOrFail } from "./eventStore/load.js"
import { currentCheckpoint, loadEventsByType, readEvents, streamAll, streamEventsByType } from "./eventStore/logReads.js"
import { save } from "./eventStore/save.js"
import { revealingStorage } from "./privacy.js"
import { DEFAULT_POLL_INTERVAL, makeWakeUps, subscribe } from "./eventStore/subscriptions.js"

/** `operation` with its reads on the primary of a store with replicas (`ReadPreference`). */
const onPrimary = <Args extends ReadonlyArray<unknown>, A, E, R>(operation: (...args: Args) => Effect.Effect<A, E, R>) =>
(...args: Args): Effect.Effect<A, E, R> => ReadPreference.primary(operation(...args))

export const make = (backendStorage: EventStorage, options: StoreOptions = {}): Effect.Effect<Service, never, Scope.Scope> =>
  Effect.gen(function*() {
    // Every read of the store goes through here, so every read sees personal data opened.
    const storage = revealingStorage(backendStorage, options.privacy)
    const registry = yield* EventRegistry.make
    const { listening, wakeUps } = yield* makeWakeUps(storage)
    const pollInterval = Duration.decode(options.pollInterval ?? DEFAULT_POLL_INTERVAL)
    const loadAggregate = load(storage, registry)
    const inline = Inline.make(storage, registry, options.privacy)
    const writer: Writer = { storage, wakeUps, append: inline.append, privacy: options.privacy, registry }
    const service: Service = {
      save: save(writer),
      append: append(writer),
      load: loadAggregate,
      loadOrFail: loadOrFail(loadAggregate),
      loadEvents: loadEvents(storage, registry),
      loadEventsByType: loadEventsByType(storage, registry),
      streamEventsByType: streamEventsByType(storage, registry),
      streamAll: streamAll(storage, registry),
      subscribe: subscribe(storage, registry, wakeUps, listening, pollInterval),
      readEvents: readEvents(storage, registry),
      currentCheckpoint: currentCheckpoint(storage),
      getAggregateVersion: (aggregateId) =>
        Effect.zipRight(Validate.name("aggregate id", aggregateId), storage.inspect(aggregateId, [])).pipe(
          Effect.map((head) => head.actualVersion === 0 || head.deleted ? Option.none() : Option.some(head.actualVersion)),
          Observability.span("EventStore.getAggregateVersion", { "eventuali.aggregate.id": aggregateId })
        ),
      // What they remove and restore is decided on what they read: read it where they write.
      delete: onPrimary(deleteStream(writer)),
      restore: onPrimary(restore(writer)),
      truncate: onPrimary(truncate(storage)),
      applyRetention: onPrimary(applyRetention(storage)),
      archive: onPrimary(archive(storage)),
      registerEventClass: registry.register,
      unregisterEventClass: registry.unregister,
      getRegisteredEventClasses: () => registry.entries,
      registerInline: inline.register
    }
    return service
  })
