/**
 * The UI's API over a real SQLite file: each endpoint answers with the seeded data, bad input
 * is a 400 naming the problem, the token and read-only mode refuse what they must.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { EventStore, Projection } from "eventuali"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { describePg, freshUrl } from "../../postgres/test/support/pg.js"
import { EventualiUi } from "../src/index.js"
import { Order, seed, type Seeded } from "./support/seed.js"
import { type Running, start } from "./support/server.js"

const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-ui-api-"))
const storeUrl = `sqlite://${Path.join(directory, "shop.db")}`

let ui: Running
let seeded: Seeded

const get = async (path: string, init: RequestInit = {}) => {
  const response = await fetch(new URL(path, ui.url), init)
  return { status: response.status, headers: response.headers, body: await response.text() }
}
const json = async (path: string) => {
  const response = await get(path)
  expect(response.status, response.body).toBe(200)
  return JSON.parse(response.body)
}

beforeAll(async () => {
  ui = await start(storeUrl, { aggregates: [Order] })
  seeded = await ui.run(Effect.flatMap(EventStore, seed))
})
afterAll(async () => {
  await ui?.close()
  Fs.rmSync(directory, { recursive: true, force: true })
})

describe("the API on SQLite", () => {
  it("overview: exact counts once counted, types, chart, backend, projections", async () => {
    let overview = await json("api/overview")
    for (let tries = 0; overview.counts !== "exact" && tries < 50; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      overview = await json("api/overview")
    }
    expect(overview.counts).toBe("exact")
    expect(overview.backend).toBe("sqlite")
    expect(overview.events).toBe(46)
    expect(overview.aggregates).toBe(42)
    expect(overview.aggregateTypes).toEqual([
      { name: "Customer", events: 42, aggregates: 41 },
      { name: "Order", events: 4, aggregates: 1 }
    ])
    expect(overview.eventTypes).toContainEqual({ name: "ItemAdded", events: 2 })
    expect(overview.perMinute).toHaveLength(60)
    expect(overview.perMinute.reduce((sum: number, bucket: { events: number }) => sum + bucket.events, 0)).toBe(46)
    expect(overview.projections).toMatchObject([{ name: "order-summaries", lag: 45, lagAtLeast: false }])
    expect(overview.allowWrites).toBe(false)
    expect(overview.foldableTypes).toEqual(["Order"])
  })

  it("overview: the counts follow new events", async () => {
    await ui.run(Effect.flatMap(EventStore, (store) => store.append("Customer", "c-new", [{ eventType: "CustomerRegistered", data: { name: "New" } }])))
    const overview = await json("api/overview")
    expect(overview.events).toBe(47)
    expect(overview.aggregates).toBe(43)
  })

  it("log: newest first, paged both ways by position, filtered", async () => {
    const first = await json("api/events?limit=10")
    expect(first.events.map((event: { position: string }) => Number(event.position))).toEqual([47, 46, 45, 44, 43, 42, 41, 40, 39, 38])
    expect(first.newer).toBeNull()
    expect(first.older).toBe("38")
    const second = await json(`api/events?limit=10&before=${first.older}`)
    expect(Number(second.events[0].position)).toBe(37)
    const back = await json(`api/events?limit=10&after=${second.newer}`)
    expect(back.events.map((event: { position: string }) => event.position)).toEqual(first.events.map((event: { position: string }) => event.position))
    const orders = await json("api/events?aggregateType=Order")
    expect(orders.events.map((event: { eventType: string }) => event.eventType)).toEqual(["OrderShipped", "ItemAdded", "ItemAdded", "OrderPlaced"])
    const items = await json("api/events?eventType=ItemAdded&aggregateType=Order")
    expect(items.events).toHaveLength(2)
    expect((await json("api/events?aggregateId=c-ada")).events).toHaveLength(2)
    expect((await json(`api/events?eventId=${seeded.rootEventId}`)).events[0].data).toEqual({ customer: "c-ada", total: 42.5 })
    const correlated = await json(`api/events?correlationId=${seeded.correlationId}`)
    expect(correlated.events.map((event: { eventType: string }) => event.eventType)).toEqual(["CustomerNotified", "ItemAdded", "OrderPlaced"])
    expect(correlated.scannedDownTo).toBeNull()
  })

  it("log: a time range", async () => {
    const future = new Date(Date.now() + 3_600_000).toISOString()
    expect((await json(`api/events?since=${future}`)).events).toHaveLength(0)
    expect((await json(`api/events?until=${future}&limit=500`)).events).toHaveLength(47)
    expect((await json("api/events?until=2000-01-01T00:00:00Z")).events).toHaveLength(0)
  })

  it("aggregate: events by version, and the state after any version with the previous one", async () => {
    const order = await json("api/aggregate?aggregateId=o-1001")
    expect(order).toMatchObject({ aggregateType: "Order", version: 4, foldable: true })
    expect(order.events.map((event: { aggregateVersion: number }) => event.aggregateVersion)).toEqual([1, 2, 3, 4])
    const state = await json("api/aggregate/state?aggregateId=o-1001&version=3")
    expect(state.state).toEqual({ status: "placed", customer: "c-ada", items: { "tea-earl-grey": 2, scone: 4 }, total: 42.5 })
    expect(state.previous).toEqual({ status: "placed", customer: "c-ada", items: { "tea-earl-grey": 2 }, total: 42.5 })
    expect((await json("api/aggregate?aggregateId=c-ada")).foldable).toBe(false)
    expect((await get("api/aggregate/state?aggregateId=c-ada&version=1")).status).toBe(404)
    expect((await get("api/aggregate?aggregateId=nobody")).status).toBe(404)
    expect((await get("api/aggregate/state?aggregateId=o-1001&version=5")).status).toBe(404)
  })

  it("causation: the chain and the conversation", async () => {
    const graph = await json(`api/causation?eventId=${seeded.effectEventId}`)
    expect(graph.chain).toEqual([seeded.rootEventId, seeded.effectEventId])
    expect(graph.nodes.map((node: { eventType: string }) => node.eventType)).toEqual(["OrderPlaced", "ItemAdded", "CustomerNotified"])
    expect(graph.nodes[2].causationId).toBe(seeded.rootEventId)
    expect(graph.truncated).toBe(false)
  })

  it("live: a new event arrives as a server-sent event", async () => {
    const controller = new AbortController()
    const response = await fetch(new URL("api/live?aggregateType=Order", ui.url), { signal: controller.signal })
    expect(response.headers.get("content-type")).toContain("text/event-stream")
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    const first = await reader.read() // the stream opened
    expect(first.value).toBeDefined()
    await ui.run(Effect.flatMap(EventStore, (store) => store.append("Customer", "c-live", [{ eventType: "CustomerRegistered", data: {} }])))
    await ui.run(Effect.flatMap(EventStore, (store) => store.append("Order", "o-live", [{ eventType: "OrderPlaced", data: { customer: "c-live", total: 1 } }])))
    let text = ""
    while (!text.includes("data: ")) text += (await reader.read()).value ?? ""
    controller.abort()
    const event = JSON.parse(text.split("data: ")[1]!.split("\n")[0]!)
    expect(event).toMatchObject({ aggregateId: "o-live", eventType: "OrderPlaced", data: { customer: "c-live", total: 1 } })
  })

  it("bad input is a 400 that says what is wrong", async () => {
    for (const path of ["api/events?limit=100000", "api/events?limit=abc", "api/events?before=-1", "api/events?before=1&after=2", "api/events?since=yesterday", `api/events?aggregateId=${"x".repeat(201)}`, "api/events?before=123456789012345678901234"]) {
      const response = await get(path)
      expect(response.status, path).toBe(400)
      expect(response.body.length, path).toBeGreaterThan(0)
    }
    expect(JSON.parse((await get("api/events?limit=100000")).body).message).toContain("limit must be from 1 to 500")
    // A parameter given twice: which value was meant cannot be known, whatever the endpoint.
    for (const path of ["api/events?aggregateType=Order&aggregateType=Customer", "api/events?limit=5&limit=6", "api/aggregate?aggregateId=a&aggregateId=b", "api/live?eventType=a&eventType=a", "api/events?schema=a&schema=b", "?token=a&token=b"]) {
      const response = await get(path)
      expect(response.status, path).toBe(400)
      const name = /[?&]([a-zA-Z]+)=/.exec(path)![1]
      expect(JSON.parse(response.body), path).toEqual({ _tag: "UiBadRequest", message: `The query parameter "${name}" is given 2 times: give it once` })
    }
    const crafted = await get(`api/aggregate?aggregateId=${"x".repeat(300)}`)
    expect(crafted.status).toBe(400)
    expect(crafted.body).toContain("at most 200 characters")
  })

  it("read-only: rebuild is refused (403), and a write without the UI's header too", async () => {
    const refused = await get("api/projections/rebuild?name=order-summaries", { method: "POST", headers: { "x-eventuali-ui": "1" } })
    expect(refused.status).toBe(403)
    expect(JSON.parse(refused.body).message).toContain("read-only")
    expect((await get("api/projections/rebuild?name=order-summaries", { method: "POST" })).status).toBe(403)
  })

  it("pages and the OpenAPI document: no connection string anywhere, strict headers", async () => {
    const page = await get("")
    expect(page.status).toBe(200)
    expect(page.body).toContain('<base href="/">')
    expect(page.headers.get("content-security-policy")).toContain("default-src 'self'")
    const script = await get("app.js")
    expect(script.headers.get("content-type")).toContain("javascript")
    const openApi = await json("openapi.json")
    expect(Object.keys(openApi.paths)).toContain("/api/events")
    for (const path of ["", "app.js", "api/overview", "openapi.json"]) {
      expect((await get(path)).body).not.toContain(directory)
    }
  })
})

describe("with a token and writes allowed", () => {
  let guarded: Running
  const token = "s3cret-token-for-tests"
  beforeAll(async () => {
    guarded = await start(storeUrl, { token: Redacted.make(token), allowWrites: true })
  })
  afterAll(() => guarded?.close())

  it("every request without the token is refused; ?token= sets a cookie; Bearer works", async () => {
    for (const path of ["", "app.js", "app.css", "api/overview", "api/events", "openapi.json", "api/live"]) {
      expect((await fetch(new URL(path, guarded.url))).status, path).toBe(401)
    }
    expect((await fetch(new URL("api/overview", guarded.url), { headers: { authorization: "Bearer wrong" } })).status).toBe(401)
    // Two tokens in the address: refused, whichever is right (neither is taken silently).
    expect((await fetch(new URL(`api/overview?token=${token}&token=wrong`, guarded.url))).status).toBe(400)
    expect((await fetch(new URL("api/overview", guarded.url), { headers: { authorization: `Bearer ${token}` } })).status).toBe(200)
    const visit = await fetch(new URL(`?token=${token}`, guarded.url), { redirect: "manual" })
    expect(visit.status).toBe(303)
    expect(visit.headers.get("location")).toBe("/")
    const cookie = visit.headers.get("set-cookie")!
    expect(cookie).toContain("HttpOnly")
    expect(cookie).toContain("SameSite=Strict")
    const withCookie = await fetch(new URL("api/overview", guarded.url), { headers: { cookie: cookie.split(";")[0]! } })
    expect(withCookie.status).toBe(200)
  })

  it("rebuild resets the checkpoint when writes are allowed", async () => {
    const response = await fetch(new URL("api/projections/rebuild?name=order-summaries", guarded.url), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "x-eventuali-ui": "1" }
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ name: "order-summaries", position: "0" })
    const missing = await fetch(new URL("api/projections/rebuild?name=nope", guarded.url), {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "x-eventuali-ui": "1" }
    })
    expect(missing.status).toBe(404)
  })

  it("rebuild of a rebuildable projection is without downtime: the running instance builds the next generation and switches; the status shows each build's part", async () => {
    const post = (path: string) =>
      Effect.promise(async () => {
        const response = await fetch(new URL(path, guarded.url), { method: "POST", headers: { authorization: `Bearer ${token}`, "x-eventuali-ui": "1" } })
        return { status: response.status, body: await response.json() }
      })
    const statusOf = Effect.promise(async () => {
      const response = await fetch(new URL("api/projections/status", guarded.url), { headers: { authorization: `Bearer ${token}` } })
      const all: ReadonlyArray<{ readonly name: string; readonly build: unknown; readonly rebuildable: boolean }> = await response.json()
      return all.filter((projection) => projection.name.startsWith("customer-directory")).map(({ build, name, rebuildable }) => ({ name, build, rebuildable }))
    })
    const outcome = await guarded.run(Effect.scoped(Effect.gen(function*() {
      let serving = "none"
      const running = yield* Projection.run(Projection.make({
        name: "customer-directory",
        aggregateTypes: ["Customer"],
        leaseDuration: "600 millis",
        handle: () => Effect.void,
        activate: (build) => Effect.sync(() => { serving = `v${build.version}.g${build.generation}` })
      }))
      yield* running.whenCaughtUp
      const asked = yield* post("api/projections/rebuild?name=customer-directory")
      yield* running.whenCaughtUp
      return { asked, serving, status: yield* statusOf }
    })))
    expect(outcome.asked).toMatchObject({ status: 200, body: { name: "customer-directory@v1.g1", position: "0", inPlace: false, alreadyRequested: false } })
    expect(outcome.serving).toBe("v1.g1")
    expect(outcome.status).toEqual([
      { name: "customer-directory", rebuildable: true, build: { projection: "customer-directory", version: 1, generation: 0, role: "replaced", rebuilding: null } },
      { name: "customer-directory@v1.g1", rebuildable: true, build: { projection: "customer-directory", version: 1, generation: 1, role: "serving", rebuilding: null } }
    ])
  })
})

describePg("the API on PostgreSQL", () => {
  let pg: Running
  let pgSeeded: Seeded
  beforeAll(async () => {
    const url = freshUrl("ui_api")
    pg = await start(url, { aggregates: [Order], schema: new URL(url).searchParams.get("schema")! })
    pgSeeded = await pg.run(Effect.flatMap(EventStore, seed))
  })
  afterAll(() => pg?.close())
  const pgJson = async (path: string) => {
    const response = await fetch(new URL(path, pg.url))
    expect(response.status).toBe(200)
    return response.json() as Promise<Record<string, any>>
  }

  it("paging, filters, a time range, search, states and causation", async () => {
    const first = await pgJson("api/events?limit=10")
    expect(first.events).toHaveLength(10)
    const second = await pgJson(`api/events?limit=10&before=${first.older}`)
    expect(BigInt(second.events[0].position)).toBeLessThan(BigInt(first.events[9].position))
    const back = await pgJson(`api/events?limit=10&after=${second.newer}`)
    expect(back.events.map((event: { position: string }) => event.position)).toEqual(first.events.map((event: { position: string }) => event.position))
    expect((await pgJson("api/events?aggregateType=Order")).events).toHaveLength(4)
    const future = new Date(Date.now() + 3_600_000).toISOString()
    expect((await pgJson(`api/events?since=${future}`)).events).toHaveLength(0)
    expect((await pgJson(`api/events?until=${future}&limit=500`)).events).toHaveLength(46)
    expect((await pgJson(`api/events?since=${new Date(Date.now() - 3_600_000).toISOString()}&limit=500`)).events).toHaveLength(46)
    expect((await pgJson("api/events?until=2000-01-01T00:00:00Z")).events).toHaveLength(0)
    expect((await pgJson(`api/events?correlationId=${pgSeeded.correlationId}`)).events).toHaveLength(3)
    expect((await pgJson("api/aggregate/state?aggregateId=o-1001&version=4")).state).toMatchObject({ status: "shipped" })
    const graph = await pgJson(`api/causation?eventId=${pgSeeded.effectEventId}`)
    expect(graph.chain).toEqual([pgSeeded.rootEventId, pgSeeded.effectEventId])
    expect(graph.nodes).toHaveLength(3)
  })
})

describe("options the UI refuses", () => {
  it.each([
    [{ token: Redacted.make("") }, "the token must be at least 16 characters long"],
    [{ token: Redacted.make("fifteen-chars!!") }, "the token must be at least 16 characters long"],
    [{ schema: "no-dashes" }, "Invalid schema name \"no-dashes\""]
  ] as const)("%o: UiOptionsError before anything is served", async (options, message) => {
    const exit = await Effect.runPromiseExit(Effect.scoped(EventualiUi.httpApp(options)).pipe(Effect.provide(EventStore.layerSql(storeUrl))))
    expect(exit).toMatchObject({ _tag: "Failure", cause: { _tag: "Fail", error: { _tag: "UiOptionsError", message: expect.stringContaining(message) } } })
  })

  it("a path with a query is refused; a token of 16 characters is taken", async () => {
    const path = await Effect.runPromiseExit(Effect.scoped(EventualiUi.httpApp({ path: "/ui?x=1" })).pipe(Effect.provide(EventStore.layerSql(storeUrl))))
    expect(path).toMatchObject({ _tag: "Failure", cause: { error: { _tag: "UiOptionsError" } } })
    const taken = await Effect.runPromiseExit(Effect.scoped(EventualiUi.httpApp({ token: Redacted.make("x".repeat(16)) })).pipe(Effect.provide(EventStore.layerSql(storeUrl))))
    expect(taken._tag).toBe("Success")
  })
})
