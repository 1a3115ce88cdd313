/**
 * A request through its tenant's services issues exactly the statements the same request on a
 * store without tenants does: nothing per request (no directory lookup, no `SET`, no
 * transaction), and the store's own statements stay named prepared statements on the shared
 * pool (parsed once per connection), not unnamed ones through `@effect/sql`. Counted on the
 * driver itself (`pg`'s `Client.prototype.query`, called through), on both strategies.
 */
import { afterEach, expect, it, vi } from "@effect/vitest"
import { Aggregate, EventStore, Tenants } from "@eventuali/core"
import { PgEventStore, PgTenants } from "@eventuali/postgres"
import { Effect, Schema } from "effect"
import Pg from "pg"
import { describePg, freshUrl, serverUrl } from "./support/pg.js"
import { freshConfig } from "./support/tenants.js"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}

const Account = Aggregate.make({
  type: "Account",
  events: [Deposited],
  initialState: { balance: 0 },
  evolve: (state: { readonly balance: number }, event: Deposited) => ({ balance: state.balance + event.amount })
})

/** The statements `pg` is asked to run while `self` runs: name (if prepared) and text. */
const statementsOf = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const seen: Array<{ readonly name: string | undefined; readonly text: string }> = []
    const query = Pg.Client.prototype.query
    const spy = vi.spyOn(Pg.Client.prototype, "query").mockImplementation(function(this: Pg.Client, ...args: Array<unknown>) {
      const [first] = args
      if (typeof first === "string") seen.push({ name: undefined, text: first })
      else if (typeof first === "object" && first !== null && "text" in first) {
        const named = first as { readonly name?: string; readonly text: string }
        seen.push({ name: named.name, text: named.text })
      }
      return Reflect.apply(query, this, args)
    } as typeof Pg.Client.prototype.query)
    yield* Effect.ensuring(self, Effect.sync(() => spy.mockRestore()))
    return seen
  })

afterEach(() => vi.restoreAllMocks())

describePg("PostgreSQL tenants: statements per request", () => {
  for (const strategy of ["schema", "conjoined"] as const) {
    it.scoped(`a tenant's load and save run the plain store's statements, prepared (${strategy})`, () =>
      Effect.gen(function*() {
        const { store } = yield* PgEventStore.make({ url: freshUrl("plain") })
        const tenants = yield* PgTenants.make(freshConfig({ main: serverUrl }, { strategy }))
        yield* tenants.create("acme")
        const asTenant = <A, E>(body: (target: EventStore.Service) => Effect.Effect<A, E>) =>
          Tenants.provide("acme")(Effect.flatMap(EventStore.EventStore, body)).pipe(Effect.provideService(Tenants.Tenants, tenants))
        const deposit = (target: EventStore.Service, id: string) =>
          Effect.flatMap(target.load(Account, id), (loaded) =>
            target.save(Aggregate.apply(loaded._tag === "Some" ? loaded.value : Aggregate.empty(Account, id), new Deposited({ amount: 1 }))))
        // Both opened and warmed (each connection's first use of a statement prepares it).
        for (let i = 0; i < 3; i++) {
          yield* deposit(store, "a1")
          yield* asTenant((target) => deposit(target, "a1"))
        }

        // A save's wake-up of other processes (`pg_notify`) is sent after the commit, in the
        // background, and may land in the next count: the statements counted are the request's own.
        const own = (statements: ReadonlyArray<{ readonly text: string; readonly name: string | undefined }>) =>
          statements.filter((statement) => !statement.text.includes("pg_notify"))
        const loadsPlain = own(yield* statementsOf(Effect.repeatN(store.load(Account, "a1"), 9)))
        const loadsTenant = own(yield* statementsOf(Effect.repeatN(asTenant((target) => target.load(Account, "a1")), 9)))
        expect(loadsPlain).toHaveLength(10)
        expect(loadsTenant).toHaveLength(loadsPlain.length)
        expect(loadsTenant.every((statement) => statement.name !== undefined)).toBe(true)

        const savePlain = own(yield* statementsOf(deposit(store, "a2")))
        const saveTenant = own(yield* statementsOf(asTenant((target) => deposit(target, "a2"))))
        expect(saveTenant.length).toBeGreaterThan(0)
        expect(saveTenant).toHaveLength(savePlain.length)
        expect(saveTenant.every((statement) => statement.name !== undefined)).toBe(true)
      }))
  }
})
