import { expect, it } from "@effect/vitest"
import { DatabaseError, EventStore, InMemoryEventStore, ProjectionStore, Tenants } from "@eventuali/core"
import { Context, Effect, Either, Exit, Fiber, Option } from "effect"

const append = (n: number) =>
  Effect.flatMap(EventStore.EventStore, (store) => store.append("Counter", "c", [{ eventType: "Ticked", data: { n } }]))
const events = Effect.flatMap(EventStore.EventStore, (store) => store.loadEvents("c"))

/** A tenant's services in memory, as a backend's `open` gives them. */
const memoryServices = Effect.map(
  Effect.all([InMemoryEventStore.make, ProjectionStore.makeMemory]),
  ([store, projections]) => Context.make(EventStore.EventStore, store).pipe(Context.add(ProjectionStore.ProjectionStore, projections))
)

it.effect("validateId accepts 1 to 48 lowercase letters, digits and _ and refuses everything else", () =>
  Effect.sync(() => {
    for (const valid of ["a", "0", "acme", "acme_eu_1", "x".repeat(48)]) expect(Tenants.validateId(valid)).toStrictEqual(Either.right(valid))
    for (const invalid of ["", "_a", "Acme", "a-b", "a b", "a.b", "é", "x".repeat(49), "a\u0000", 1, undefined, null]) {
      expect(Either.isLeft(Tenants.validateId(invalid))).toBe(true)
    }
  }))

it.effect("in memory: each tenant has its own store; uncreated tenants and invalid ids are refused", () =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    yield* tenants.create("one")
    yield* tenants.create("two")
    yield* append(1).pipe(Tenants.provide("one"))
    yield* append(2).pipe(Tenants.provide("two"))
    yield* append(3).pipe(Effect.provide(Tenants.layer("one")))
    expect((yield* events.pipe(Tenants.provide("one"))).map((event) => event.data)).toStrictEqual([{ n: 1 }, { n: 3 }])
    expect((yield* events.pipe(Tenants.provide("two"))).map((event) => event.data)).toStrictEqual([{ n: 2 }])
    expect(yield* Effect.flatMap(Tenants.Tenant, (tenant) => Effect.succeed(tenant.id)).pipe(Tenants.provide("two"))).toBe("two")
    expect(yield* Effect.exit(append(4).pipe(Tenants.provide("three")))).toStrictEqual(
      Exit.fail(expect.objectContaining({ _tag: "TenantNotFoundError", tenantId: "three" }))
    )
    expect(yield* Effect.exit(tenants.create("Three"))).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "EventStoreError" })))
    expect(yield* tenants.list).toStrictEqual(["one", "two"])
  }).pipe(Effect.provide(Tenants.layerMemory)))

it.live("a tenant opens once for concurrent first uses, stays open while used, closes when idle, and a failed opening is not cached", () =>
  Effect.gen(function*() {
    let opened = 0
    let closed = 0
    let failNext = true
    const tenants = yield* Tenants.make({
      open: () =>
        Effect.gen(function*() {
          if (failNext) {
            failNext = false
            return yield* new DatabaseError({ message: "first opening fails" })
          }
          opened += 1
          yield* Effect.addFinalizer(() => Effect.sync(() => void (closed += 1)))
          // A fiber of the tenant's (as a listener is): closing the tenant interrupts it.
          yield* Effect.forkScoped(Effect.never)
          return yield* memoryServices
        }),
      create: () => Effect.void,
      list: Effect.succeed([]),
      idleTimeToLive: "100 millis"
    })
    const use = Effect.flatMap(Tenants.Tenant, (tenant) => Effect.succeed(tenant.id)).pipe(
      Tenants.provide("acme"),
      Effect.provideService(Tenants.Tenants, tenants)
    )
    expect(yield* Effect.exit(use)).toStrictEqual(Exit.fail(expect.objectContaining({ _tag: "DatabaseError" })))
    expect(yield* Effect.all(Array.from({ length: 20 }, () => use), { concurrency: "unbounded" })).toStrictEqual(Array(20).fill("acme"))
    expect(opened).toBe(1)
    // Held by a scope: not closed however long it is idle otherwise.
    yield* Effect.scoped(Effect.gen(function*() {
      yield* tenants.context("acme")
      yield* Effect.sleep("400 millis")
      expect(closed).toBe(0)
    }))
    yield* Effect.sleep("400 millis")
    expect(closed).toBe(1)
    yield* use
    expect(opened).toBe(2)
    yield* tenants.evict("acme")
    expect(closed).toBe(2)
  }).pipe(Effect.scoped))

it.live("requests on an open tenant that fail, die or are interrupted leave it closable: it closes when idle, and an evicted one when its last user leaves", () =>
  Effect.gen(function*() {
    let closed = 0
    const tenants = yield* Tenants.make({
      open: () =>
        Effect.gen(function*() {
          yield* Effect.addFinalizer(() => Effect.sync(() => void (closed += 1)))
          return yield* memoryServices
        }),
      create: () => Effect.void,
      list: Effect.succeed([]),
      idleTimeToLive: "100 millis"
    })
    const as = <A, E>(self: Effect.Effect<A, E, Tenants.Services>) =>
      self.pipe(Tenants.provide("acme"), Effect.provideService(Tenants.Tenants, tenants))
    yield* as(append(1))
    // The tenant is open: these take the path of every later request.
    yield* Effect.exit(as(Effect.fail("failed")))
    yield* Effect.exit(as(Effect.die("died")))
    const hanging = yield* Effect.fork(as(Effect.never))
    yield* Effect.sleep("300 millis")
    expect(closed).toBe(0)
    yield* Fiber.interrupt(hanging)
    yield* Effect.all(Array.from({ length: 50 }, (_, n) => as(append(n))), { concurrency: 10 })
    yield* Effect.sleep("400 millis")
    expect(closed).toBe(1)
    // Evicted while a request holds it: closed when that request ends, not before.
    const holding = yield* Effect.fork(as(Effect.sleep("200 millis")))
    yield* Effect.sleep("50 millis")
    yield* tenants.evict("acme")
    expect(closed).toBe(1)
    yield* Fiber.join(holding)
    expect(closed).toBe(2)
  }).pipe(Effect.scoped))

class Request extends Context.Tag("test/Request")<Request, string>() {}

it.effect("provide on an open tenant: the caller's services stay visible, the caller's context comes back after success, failure and interruption, and a nested provide is the inner tenant's", () =>
  Effect.gen(function*() {
    const tenants = yield* Tenants.Tenants
    yield* tenants.create("one")
    yield* tenants.create("two")
    const seen = Effect.all([Tenants.Tenant, Request, Effect.serviceOption(Tenants.Tenant)])
    // Twice each, from two parents in turn: the second request of a parent reuses its merged context.
    for (const request of ["a", "b", "a", "b"]) {
      const [tenant, inside] = yield* seen.pipe(Tenants.provide("one"), Effect.provideService(Request, request))
      expect([tenant.id, inside]).toStrictEqual(["one", request])
      expect(Option.isNone(yield* Effect.serviceOption(Tenants.Tenant))).toBe(true)
    }
    expect(yield* Effect.exit(Effect.fail("boom").pipe(Tenants.provide("one")))).toStrictEqual(Exit.fail("boom"))
    expect(Option.isNone(yield* Effect.serviceOption(Tenants.Tenant))).toBe(true)
    const nested = Effect.all([Tenants.Tenant, Tenants.Tenant.pipe(Tenants.provide("two")), Tenants.Tenant])
    const [outer, inner, after] = yield* nested.pipe(Tenants.provide("one"), Effect.provideService(Request, "c"))
    expect([outer.id, inner.id, after.id]).toStrictEqual(["one", "two", "one"])
    const hanging = yield* Effect.fork(Effect.never.pipe(Tenants.provide("one")))
    yield* Effect.yieldNow()
    yield* Fiber.interrupt(hanging)
    expect(Option.isNone(yield* Effect.serviceOption(Tenants.Tenant))).toBe(true)
    // An id that was never opened is checked, however it is spelled.
    expect(yield* Effect.exit(Tenants.Tenant.pipe(Tenants.provide("One")))).toStrictEqual(
      Exit.fail(expect.objectContaining({ _tag: "EventStoreError" }))
    )
  }).pipe(Effect.provide(Tenants.layerMemory)))

it.effect("reopenAfter: a failure it names makes the next request open the tenant again; other failures do not", () =>
  Effect.gen(function*() {
    let opened = 0
    const tenants = yield* Tenants.make({
      open: () =>
        Effect.gen(function*() {
          opened += 1
          return yield* memoryServices
        }),
      create: () => Effect.void,
      list: Effect.succeed([]),
      reopenAfter: (error) => error === "moved"
    })
    const as = <A, E>(self: Effect.Effect<A, E, Tenants.Services>) =>
      self.pipe(Tenants.provide("acme"), Effect.provideService(Tenants.Tenants, tenants))
    yield* as(Effect.void)
    yield* Effect.exit(as(Effect.fail("other")))
    yield* as(Effect.void)
    expect(opened).toBe(1)
    yield* Effect.exit(as(Effect.fail("moved")))
    yield* as(Effect.void)
    expect(opened).toBe(2)
    yield* Effect.exit(tenants.use("acme", () => Effect.fail("moved")))
    yield* tenants.use("acme", () => Effect.void)
    expect(opened).toBe(3)
  }).pipe(Effect.scoped))
