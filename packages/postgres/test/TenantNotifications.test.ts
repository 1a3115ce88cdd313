/**
 * The tenants of one server share one notification sender (`internal/notifier.ts`): appends to
 * several tenants within one interval are announced in one statement, and every tenant's
 * subscribers in another process are still woken — with polling off, so only the notifications
 * can deliver.
 */
import { expect, it } from "@effect/vitest"
import { EventStore, Tenants } from "@eventuali/core"
import { PgTenants } from "@eventuali/postgres"
import { Chunk, Effect, Fiber, Stream } from "effect"
import { describePg, serverUrl } from "./support/pg.js"
import { freshConfig } from "./support/tenants.js"

describePg("PostgreSQL tenants: notifications", () => {
  it.live("appends to several tenants at once wake every tenant's subscribers in another process", () =>
    Effect.gen(function*() {
      const config = freshConfig({ main: serverUrl })
      const writer = yield* PgTenants.make(config)
      const reader = yield* PgTenants.make({ ...config, pollInterval: "1 hour" })
      const ids = ["n1", "n2", "n3", "n4"]
      for (const id of ids) yield* writer.create(id)
      const inTenant = <A, E>(tenants: Tenants.Service, id: string, body: (store: EventStore.Service) => Effect.Effect<A, E>) =>
        Tenants.provide(id)(Effect.flatMap(EventStore.EventStore, body)).pipe(Effect.provideService(Tenants.Tenants, tenants))
      const subscribers = yield* Effect.forEach(ids, (id) =>
        inTenant(reader, id, (store) => store.subscribe({ from: "end", aggregateTypes: ["Ping"] }).pipe(Stream.take(2), Stream.runCollect)).pipe(
          Effect.fork
        ))
      yield* Effect.sleep("300 millis")
      // Twice: the second round falls within the interval after the first, so its four channels
      // go out together.
      for (let round = 0; round < 2; round++) {
        yield* Effect.forEach(ids, (id) => inTenant(writer, id, (store) => store.append("Ping", `${id}-${round}`, [{ eventType: "Pinged", data: {} }])), {
          concurrency: "unbounded",
          discard: true
        })
      }
      for (const [i, subscriber] of subscribers.entries()) {
        const events = Chunk.toReadonlyArray(yield* Fiber.join(subscriber).pipe(Effect.timeout("10 seconds")))
        expect(events.map((event) => event.aggregateId)).toEqual([`${ids[i]}-0`, `${ids[i]}-1`])
      }
    }).pipe(Effect.scoped), 60_000)
})
