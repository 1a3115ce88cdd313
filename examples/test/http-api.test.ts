/**
 * `03-http-api.ts` as its users meet it: started as a server (a child process on a free port,
 * over a fresh SQLite file), called with real HTTP requests (`fetch`), including the
 * Server-Sent Events tail, then stopped with SIGTERM; and its `--demo` mode, run twice on one
 * database like every other example.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const examplesDir = Path.resolve(import.meta.dirname, "..")
const example = Path.join(examplesDir, "03-http-api.ts")
const tempDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-http-api-"))

let server: ChildProcess
let baseUrl = ""
let output = ""

beforeAll(async () => {
  server = spawn(process.execPath, ["--import", "tsx", example], {
    cwd: examplesDir,
    env: { ...process.env, PORT: "0", EVENTUALI_URL: `sqlite://${Path.join(tempDir, "server.db")}` },
    stdio: ["ignore", "pipe", "pipe"]
  })
  server.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  server.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()))
  baseUrl = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${output}`)), 30_000)
    const onData = () => {
      const match = /^listening on (http:\/\/\S+)$/m.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1]!)
      }
    }
    server.stdout!.on("data", onData)
    server.on("exit", (code) => reject(new Error(`the server exited with ${code}:\n${output}`)))
  })
})

afterAll(() => {
  if (server.exitCode === null) server.kill("SIGKILL")
  Fs.rmSync(tempDir, { recursive: true, force: true })
})

const post = (path: string, body: unknown) =>
  fetch(`${baseUrl}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

const json = async (response: Response) => ({ status: response.status, body: await response.json() as Record<string, unknown> })

const freshId = () => `acc-${crypto.randomUUID().slice(0, 8)}`

/** An open account with `balance`, at version 2 (or 1 for a zero balance). */
const openAccount = async (balance = 0) => {
  const id = freshId()
  expect((await post(`/accounts/${id}/open`, { owner: "Ada" })).status).toBe(201)
  if (balance > 0) expect((await post(`/accounts/${id}/deposit`, { amount: balance })).status).toBe(200)
  return id
}

/** The position the log has reached (the `next` of its last page). */
const head = async (): Promise<string> => {
  let from = "0"
  while (true) {
    const { body } = await json(await fetch(`${baseUrl}/events?from=${from}&limit=1000`))
    from = body.next as string
    if ((body.events as Array<unknown>).length < 1000) return from
  }
}

/** Reads a Server-Sent Events response until `count` events have arrived, then hangs up. */
const readEvents = async (url: string, count: number, init: RequestInit = {}) => {
  const abort = new AbortController()
  const response = await fetch(url, { ...init, signal: abort.signal })
  expect(response.status).toBe(200)
  expect(response.headers.get("content-type")).toBe("text/event-stream")
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  let text = ""
  const events: Array<{ id: string; event: string; data: Record<string, unknown> }> = []
  while (events.length < count) {
    const { value, done } = await reader.read()
    if (done) break
    text += value
    let end: number
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end)
      text = text.slice(end + 2)
      const field = (name: string) => block.split("\n").find((line) => line.startsWith(`${name}: `))?.slice(name.length + 2)
      const data = field("data")
      if (data !== undefined) events.push({ id: field("id")!, event: field("event")!, data: JSON.parse(data) })
    }
  }
  abort.abort()
  return { events }
}

describe("03-http-api.ts, served", () => {
  it("opens an account: 201 with the state at version 1; opening it again is refused (422)", async () => {
    const id = freshId()
    const opened = await json(await post(`/accounts/${id}/open`, { owner: "Ada" }))
    expect(opened).toEqual({
      status: 201,
      body: { type: "BankAccount", id, version: 1, state: { status: "open", owner: "Ada", balance: 0 } }
    })
    const again = await json(await post(`/accounts/${id}/open`, { owner: "Bob" }))
    expect(again).toEqual({ status: 422, body: { _tag: "CommandRefused", reason: "AccountAlreadyOpen", detail: {} } })
  })

  it("deposits and withdraws: 200 with the new state and version", async () => {
    const id = await openAccount()
    expect(await json(await post(`/accounts/${id}/deposit`, { amount: 100 }))).toMatchObject({
      status: 200,
      body: { version: 2, state: { balance: 100 } }
    })
    expect(await json(await post(`/accounts/${id}/withdraw`, { amount: 30 }))).toMatchObject({
      status: 200,
      body: { version: 3, state: { balance: 70 } }
    })
  })

  it("a refused command is a 422 naming the domain error, and saves nothing", async () => {
    const id = await openAccount(100)
    expect(await json(await post(`/accounts/${id}/withdraw`, { amount: 500 }))).toEqual({
      status: 422,
      body: { _tag: "CommandRefused", reason: "InsufficientFunds", detail: { balance: 100, amount: 500 } }
    })
    expect(await json(await post(`/accounts/${id}/deposit`, { amount: -5 }))).toMatchObject({
      status: 422,
      body: { reason: "InvalidAmount" }
    })
    expect((await json(await fetch(`${baseUrl}/aggregates/BankAccount/${id}`))).body.version).toBe(2)
  })

  it("a malformed request is a 400", async () => {
    const id = await openAccount()
    expect((await post(`/accounts/${id}/deposit`, { amount: "lots" })).status).toBe(400)
    expect((await post(`/accounts/${id}/deposit`, { amount: 1, expectedVersion: -1 })).status).toBe(400)
    expect((await fetch(`${baseUrl}/events?from=minus-one`)).status).toBe(400)
    expect((await fetch(`${baseUrl}/events?limit=0`)).status).toBe(400)
  })

  it("GET /aggregates/:type/:id: the state and version; 404 for an unknown id or type", async () => {
    const id = await openAccount(40)
    expect(await json(await fetch(`${baseUrl}/aggregates/BankAccount/${id}`))).toEqual({
      status: 200,
      body: { type: "BankAccount", id, version: 2, state: { status: "open", owner: "Ada", balance: 40 } }
    })
    expect(await json(await fetch(`${baseUrl}/aggregates/BankAccount/nobody`))).toEqual({
      status: 404,
      body: { _tag: "AggregateNotFoundError", aggregateType: "BankAccount", aggregateId: "nobody" }
    })
    expect((await fetch(`${baseUrl}/aggregates/Spaceship/${id}`)).status).toBe(404)
    // A command on an account never opened is a 404 too.
    expect(await json(await post(`/accounts/nobody-${id}/deposit`, { amount: 1 }))).toMatchObject({
      status: 404,
      body: { _tag: "AggregateNotFoundError", aggregateId: `nobody-${id}` }
    })
  })

  it("GET /events?type=&from=: the events after a position, in order, a page at a time", async () => {
    const from = await head()
    const id = await openAccount(10)
    await post(`/accounts/${id}/withdraw`, { amount: 4 })
    const all = await json(await fetch(`${baseUrl}/events?type=BankAccount&from=${from}`))
    expect(all.status).toBe(200)
    const events = all.body.events as Array<Record<string, unknown>>
    expect(events.map((event) => [event.aggregateId, event.aggregateVersion, event.eventType])).toEqual([
      [id, 1, "AccountOpened"],
      [id, 2, "MoneyDeposited"],
      [id, 3, "MoneyWithdrawn"]
    ])
    expect(events[2]).toMatchObject({ aggregateType: "BankAccount", data: { amount: 4 }, metadata: { headers: {} } })
    expect(new Date(events[0]!.timestamp as string).toISOString()).toBe(events[0]!.timestamp)
    const positions = events.map((event) => BigInt(event.position as string))
    expect(positions.every((position, i) => position > BigInt(from) && (i === 0 || position > positions[i - 1]!))).toBe(true)
    expect(all.body.next).toBe(events[2]!.position)

    // Paging: `limit`, then `next` as the following `from`.
    const first = await json(await fetch(`${baseUrl}/events?type=BankAccount&from=${from}&limit=2`))
    expect((first.body.events as Array<unknown>)).toHaveLength(2)
    const rest = await json(await fetch(`${baseUrl}/events?type=BankAccount&from=${first.body.next}&limit=2`))
    expect((rest.body.events as Array<Record<string, unknown>>).map((event) => event.eventType)).toEqual(["MoneyWithdrawn"])
    // Another type filters them all out.
    expect((await json(await fetch(`${baseUrl}/events?type=Spaceship&from=${from}`))).body.events).toEqual([])
  })

  it("concurrent writes at one expectedVersion: one wins, the others get a 409 with the actual version", async () => {
    const id = await openAccount(100) // version 2
    const responses = await Promise.all([1, 2, 3, 4, 5].map((amount) => post(`/accounts/${id}/withdraw`, { amount, expectedVersion: 2 }).then(json)))
    const won = responses.filter((response) => response.status === 200)
    const conflicts = responses.filter((response) => response.status === 409)
    expect(won).toHaveLength(1)
    expect(conflicts).toHaveLength(4)
    for (const conflict of conflicts) {
      expect(conflict.body).toEqual({
        _tag: "OptimisticConcurrencyError",
        aggregateId: id,
        expectedVersion: { _tag: "Exact", version: 2 },
        actualVersion: 3
      })
    }
    // A stale expectedVersion on its own is a 409 as well.
    expect(await json(await post(`/accounts/${id}/deposit`, { amount: 1, expectedVersion: 1 }))).toMatchObject({
      status: 409,
      body: { actualVersion: 3 }
    })
  })

  it("concurrent writes without expectedVersion all succeed: the command handler decides again on conflict", async () => {
    const id = await openAccount()
    const responses = await Promise.all([1, 2, 3, 4, 5].map((amount) => post(`/accounts/${id}/deposit`, { amount })))
    expect(responses.map((response) => response.status)).toEqual([200, 200, 200, 200, 200])
    expect((await json(await fetch(`${baseUrl}/aggregates/BankAccount/${id}`))).body).toMatchObject({
      version: 6,
      state: { balance: 15 }
    })
  })

  it("serves its OpenAPI document, with every endpoint and its statuses, and Swagger UI", async () => {
    const { status, body } = await json(await fetch(`${baseUrl}/openapi.json`))
    expect(status).toBe(200)
    const paths = body.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>
    expect(Object.keys(paths).sort()).toEqual([
      "/accounts/{id}/deposit",
      "/accounts/{id}/open",
      "/accounts/{id}/withdraw",
      "/aggregates/{type}/{id}",
      "/events",
      "/events/live"
    ])
    expect(Object.keys(paths["/accounts/{id}/withdraw"]!.post!.responses).sort()).toEqual(["200", "400", "404", "409", "422", "500"])
    expect(Object.keys(paths["/accounts/{id}/open"]!.post!.responses)).toContain("201")
    expect(Object.keys(paths["/aggregates/{type}/{id}"]!.get!.responses)).toContain("404")
    expect(paths["/events/live"]!.get!.responses["200"]).toMatchObject({ content: { "text/event-stream": {} } })
    const docs = await fetch(`${baseUrl}/docs`)
    expect(docs.status).toBe(200)
    expect(await docs.text()).toContain("swagger")
  })

  it("tails the log over Server-Sent Events: commands posted after connecting arrive as events", async () => {
    const from = await head()
    const id = await openAccount()
    const tail = readEvents(`${baseUrl}/events/live?type=BankAccount&from=${from}`, 3)
    await post(`/accounts/${id}/deposit`, { amount: 25 })
    await post(`/accounts/${id}/withdraw`, { amount: 5 })
    const { events } = await tail
    expect(events.map((event) => [event.event, event.data.aggregateId, event.data.aggregateVersion])).toEqual([
      ["AccountOpened", id, 1],
      ["MoneyDeposited", id, 2],
      ["MoneyWithdrawn", id, 3]
    ])
    expect(events[1]!.data.data).toEqual({ amount: 25 })
    // The SSE id is the position: a client that reconnects with Last-Event-ID resumes after it.
    expect(events.map((event) => event.id)).toEqual(events.map((event) => event.data.position))
    const resumed = await readEvents(`${baseUrl}/events/live?type=BankAccount`, 1, { headers: { "last-event-id": events[1]!.id } })
    expect(resumed.events.map((event) => event.event)).toEqual(["MoneyWithdrawn"])
  })

  it("without a position, the tail starts at the end of the log", async () => {
    const id = await openAccount() // before connecting: not delivered
    const abort = new AbortController()
    const response = await fetch(`${baseUrl}/events/live?type=BankAccount`, { signal: abort.signal })
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
    // The keep-alive comment at connection says the subscription is in place.
    let text = ""
    while (!text.includes(": keep-alive")) text += (await reader.read()).value ?? ""
    await post(`/accounts/${id}/deposit`, { amount: 3 })
    while (!text.includes("data: ")) text += (await reader.read()).value ?? ""
    abort.abort()
    expect(text).not.toContain("event: AccountOpened")
    expect(text).toContain("event: MoneyDeposited")
  })

  it("stops cleanly on SIGTERM, also with a live tail connected", async () => {
    const abort = new AbortController()
    const tail = await fetch(`${baseUrl}/events/live`, { signal: abort.signal })
    expect(tail.status).toBe(200)
    const exited = new Promise<number | null>((resolve) => server.on("exit", (code) => resolve(code)))
    server.kill("SIGTERM")
    expect(await exited).toBe(0)
    abort.abort()
  })
})

describe("03-http-api.ts --demo", () => {
  const keyLines = [
    /^POST \/accounts\/acc-\w+\/open -> version 1$/m,
    /^deposit 100 -> \{"status":"open","owner":"Ada","balance":100\} \(version 2\)$/m,
    /^withdraw 500 -> 422 InsufficientFunds \{"balance":100,"amount":500\}$/m,
    // Two withdrawals decided on version 2, in either order: one saved, one 409.
    /^withdraw (30|40) at version 2 -> (version 3|409, actualVersion 3)\nwithdraw (30|40) at version 2 -> (version 3|409, actualVersion 3)$/m,
    /^GET \/aggregates\/BankAccount\/nobody-… -> 404 AggregateNotFoundError$/m,
    /^GET \/aggregates\/BankAccount\/acc-\w+ -> version 3: \{"status":"open","owner":"Ada","balance":(70|60)\}$/m,
    /^GET \/events\?from=\d+ -> AccountOpened, MoneyDeposited, MoneyWithdrawn$/m,
    /^SSE event: AccountOpened\nSSE event: MoneyDeposited\nSSE event: MoneyWithdrawn$/m,
    /^GET \/openapi\.json -> paths \/accounts\/\{id\}\/open \/accounts\/\{id\}\/deposit \/accounts\/\{id\}\/withdraw \/aggregates\/\{type\}\/\{id\} \/events \/events\/live$/m,
    /^done$/m
  ]

  it("runs, and runs again on the same database", async () => {
    const url = `sqlite://${Path.join(tempDir, "demo.db")}`
    for (const attempt of [1, 2]) {
      const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", example, "--demo"], {
        cwd: examplesDir,
        env: { ...process.env, EVENTUALI_URL: url },
        timeout: 50_000
      })
      expect(stdout).toContain("withdraw")
      expect(stdout.match(/-> 409, actualVersion 3$/gm), `run ${attempt}: exactly one conflict`).toHaveLength(1)
      let rest = stdout
      for (const line of keyLines) {
        expect(rest, `run ${attempt}: ${line}, after the key lines before it`).toMatch(line)
        rest = rest.slice(rest.search(line))
      }
    }
  })
})
