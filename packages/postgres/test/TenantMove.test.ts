/**
 * Moving a tenant between two servers while writers run: nothing lost, nothing doubled, the log in
 * the same order, checkpoints rebased (or dropped), the old copy closed to writes, and the other
 * tenants untouched.
 */
import { expect, it } from "@effect/vitest"
import { EventStore, ProjectionStore, Tenants } from "@eventuali/core"
import { PgTenants } from "@eventuali/postgres"
import { Duration, Effect, Exit, Fiber, Option, Ref, Schedule } from "effect"
import Pg from "pg"
import { startEmbedded } from "./support/embedded.js"
import { describePg, serverUrl } from "./support/pg.js"
import { freshConfig } from "./support/tenants.js"

const secondServer = Effect.acquireRelease(Effect.promise(() => startEmbedded()), (server) => Effect.promise(() => server.dispose()))

const as = (tenants: PgTenants.Service, tenant: string) => <A, E, R>(self: Effect.Effect<A, E, R>) =>
  PgTenants.provide(tenant)(self).pipe(Effect.provideService(PgTenants.PgTenants, tenants))

const ids = (events: ReadonlyArray<{ readonly eventId: string }>) => events.map((event) => event.eventId)

describePg("PostgreSQL tenant move", () => {
  it.live("a tenant moved under 4 concurrent writers keeps every acknowledged event once, in order; checkpoints are rebased", () =>
    Effect.gen(function*() {
      const second = yield* secondServer
      const config = freshConfig({ one: serverUrl, two: second.url })
      const tenants = yield* PgTenants.make(config)
      yield* tenants.create("mover")
      yield* tenants.create("stayer")
      expect(yield* tenants.serverOf("mover")).toBe("one")
      const stayerServer = yield* tenants.serverOf("stayer")
      const mover = as(tenants, "mover")

      // Writers: one event per save with fixed ids; a save that fails is tried again (the tenant
      // opened anew), so a save refused by the old server lands on the new one.
      const acknowledged = yield* Ref.make<ReadonlyArray<string>>([])
      const stop = yield* Ref.make(false)
      const writer = (w: number) =>
        Effect.gen(function*() {
          for (let n = 0; !(yield* Ref.get(stop)) || n < 5; n++) {
            const eventId = `w${w}-${n}`
            yield* mover(Effect.flatMap(EventStore.EventStore, (store) =>
              store.append("Counter", `writer-${w}`, [{ eventId, eventType: "Ticked", data: { w, n } }]))).pipe(
                Effect.retry(Schedule.spaced("20 millis").pipe(Schedule.intersect(Schedule.recurs(100))))
              )
            yield* Ref.update(acknowledged, (all) => [...all, eventId])
          }
        })
      // A projection's checkpoint on the old server, part-way through the log.
      yield* mover(Effect.flatMap(EventStore.EventStore, (store) =>
        Effect.forEach(Array.from({ length: 30 }, (_, n) => n), (n) =>
          store.append("Counter", "before", [{ eventId: `before-${n}`, eventType: "Ticked", data: { n } }]), { discard: true })))
      const before = yield* mover(Effect.flatMap(EventStore.EventStore, (store) => store.readEvents({ fromPosition: 0n, limit: 1000 })))
      const checkpointAt = before[19]!.position
      yield* mover(Effect.flatMap(ProjectionStore.ProjectionStore, (store) =>
        store.withCheckpoint("counts", () => Effect.succeed([undefined, Option.some(checkpointAt)] as const))))
      yield* as(tenants, "stayer")(Effect.flatMap(EventStore.EventStore, (store) =>
        store.append("Counter", "s", [{ eventId: "stayer-0", eventType: "Ticked", data: {} }])))

      const writers = yield* Effect.fork(Effect.all(Array.from({ length: 4 }, (_, w) => writer(w)), { concurrency: "unbounded" }))
      yield* Effect.sleep("300 millis")
      const moved = yield* tenants.move("mover", "two", { checkpoints: "rebase", batchSize: 50 })
      yield* Effect.sleep("300 millis")
      yield* Ref.set(stop, true)
      yield* Fiber.join(writers)

      expect(yield* tenants.serverOf("mover")).toBe("two")
      expect(yield* tenants.serverOf("stayer")).toBe(stayerServer)
      expect(Duration.toMillis(moved.pause)).toBeGreaterThan(0)
      expect(moved.checkpoints).toBe(1)

      // Every acknowledged save is on the new server exactly once, each writer's saves in order.
      const after = yield* mover(Effect.flatMap(EventStore.EventStore, (store) => store.readEvents({ fromPosition: 0n, limit: 10_000 })))
      const stored = ids(after)
      expect(new Set(stored).size).toBe(stored.length)
      expect([...stored].sort()).toStrictEqual([...(yield* Ref.get(acknowledged)), ...ids(before)].sort())
      expect(stored.slice(0, 30)).toStrictEqual(ids(before))
      for (let w = 0; w < 4; w++) {
        const own = stored.filter((id) => id.startsWith(`w${w}-`)).map((id) => Number(id.split("-")[1]))
        expect(own).toStrictEqual(own.map((_, n) => n))
      }
      // Versions continue on the new server.
      const versions = after.filter((event) => event.aggregateId === "writer-0").map((event) => event.aggregateVersion)
      expect(versions).toStrictEqual(versions.map((_, i) => i + 1))

      // The rebased checkpoint: on the new server, the events after it are exactly those after it on the old one.
      const rebased = yield* mover(Effect.flatMap(ProjectionStore.ProjectionStore, (store) => store.get("counts")))
      const position = Option.getOrThrow(rebased).position
      const rest = yield* mover(Effect.flatMap(EventStore.EventStore, (store) => store.readEvents({ fromPosition: position, limit: 10_000 })))
      expect(ids(rest)).toStrictEqual(stored.slice(20))

      // The old copy refuses writes, even from a client that goes around the store.
      const direct = yield* Effect.promise(async () => {
        const client = new Pg.Client({ connectionString: serverUrl })
        await client.connect()
        try {
          await client.query(`INSERT INTO "${config.schemaPrefix}mover".eventuali_events SELECT * FROM "${config.schemaPrefix}mover".eventuali_events LIMIT 0`)
          return "written"
        } catch (error) {
          return (error as { readonly code?: string }).code
        } finally {
          await client.end()
        }
      })
      expect(direct).toBe("25006")

      // The tenant left behind is untouched.
      const stayer = yield* as(tenants, "stayer")(Effect.flatMap(EventStore.EventStore, (store) => store.loadEvents("s")))
      expect(ids(stayer)).toStrictEqual(["stayer-0"])

      // Moving again, back: the old schema still holds the first copy, so it is refused, and nothing changes.
      const back = yield* Effect.exit(tenants.move("mover", "one"))
      expect(back).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "DatabaseError" })))
      expect(yield* tenants.serverOf("mover")).toBe("two")
      expect(Exit.isFailure(yield* Effect.exit(tenants.move("mover", "nowhere")))).toBe(true)
      expect(Exit.isFailure(yield* Effect.exit(tenants.move("Mover", "one")))).toBe(true)
    }).pipe(Effect.scoped), 120_000)

  it.live("another process with the tenant open learns of the move from its first refused write, and its next request goes to the new server", () =>
    Effect.gen(function*() {
      const second = yield* secondServer
      const config = freshConfig({ one: serverUrl, two: second.url })
      const mover = yield* PgTenants.make(config)
      const other = yield* PgTenants.make(config)
      yield* mover.create("roamer")
      const append = (n: number) =>
        as(other, "roamer")(Effect.flatMap(EventStore.EventStore, (store) =>
          store.append("Counter", "c", [{ eventId: `e${n}`, eventType: "Ticked", data: { n } }])))
      yield* append(1)
      yield* mover.move("roamer", "two")
      const refused = yield* Effect.flip(append(2))
      expect(refused).toMatchObject({ _tag: "DatabaseError", message: expect.stringContaining("this tenant has moved") })
      yield* append(2)
      const events = yield* as(mover, "roamer")(Effect.flatMap(EventStore.EventStore, (store) => store.loadEvents("c")))
      expect(ids(events)).toStrictEqual(["e1", "e2"])
    }).pipe(Effect.scoped), 120_000)

  it.live("checkpoints are dropped by default: projections rebuild on the new server", () =>
    Effect.gen(function*() {
      const second = yield* secondServer
      const tenants = yield* PgTenants.make(freshConfig({ one: serverUrl, two: second.url }))
      yield* tenants.create("dropper")
      const dropper = as(tenants, "dropper")
      yield* dropper(Effect.flatMap(EventStore.EventStore, (store) => store.append("Counter", "c", [{ eventType: "Ticked", data: {} }])))
      yield* dropper(Effect.flatMap(ProjectionStore.ProjectionStore, (store) =>
        store.withCheckpoint("counts", () => Effect.succeed([undefined, Option.some(5n)] as const))))
      const moved = yield* tenants.move("dropper", "two")
      expect(moved).toMatchObject({ events: 1, checkpoints: 0 })
      expect(yield* dropper(Effect.flatMap(ProjectionStore.ProjectionStore, (store) => store.list))).toStrictEqual([])
      expect((yield* dropper(Effect.flatMap(Tenants.Tenant, (tenant) => Effect.succeed(tenant.id))))).toBe("dropper")
    }).pipe(Effect.scoped), 120_000)
})
