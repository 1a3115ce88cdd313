/**
 * `EventualiUi.layer` mounted into an application's own `HttpApiBuilder.serve()` server, as the
 * guide shows: the application's API and the UI side by side, the UI under its path.
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Schema, Scope } from "effect"
import { EventStore } from "eventuali"
import * as Fs from "node:fs"
import { createServer } from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import { EventualiUi } from "../src/index.js"
import { Order, seed } from "./support/seed.js"

class Shop extends HttpApi.make("shop").add(
  HttpApiGroup.make("hello").add(HttpApiEndpoint.get("hello", "/hello").addSuccess(Schema.String))
) {}

const ShopLive = HttpApiBuilder.group(Shop, "hello", (handlers) => handlers.handle("hello", () => Effect.succeed("hello from the shop")))

const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-ui-mount-"))
const scope = Effect.runSync(Scope.make())
let base = ""

beforeAll(async () => {
  const context = await Effect.runPromise(Layer.buildWithScope(
    HttpApiBuilder.serve().pipe(
      Layer.provide(EventualiUi.layer({ path: "/eventuali", aggregates: [Order] })),
      Layer.provide(HttpApiBuilder.api(Shop)),
      Layer.provide(ShopLive),
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
      Layer.provideMerge(EventStore.layerSql(`sqlite://${Path.join(directory, "shop.db")}`))
    ),
    scope
  ))
  await Effect.runPromise(Effect.provide(Effect.flatMap(EventStore, seed), context))
  const { address } = Context.get(context, HttpServer.HttpServer)
  base = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : ""
})
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  Fs.rmSync(directory, { recursive: true, force: true })
})

describe("EventualiUi.layer in an application's server", () => {
  it("serves the UI under its path, next to the application's own API", async () => {
    expect(await (await fetch(`${base}/hello`)).json()).toBe("hello from the shop")
    const page = await fetch(`${base}/eventuali/`)
    expect(page.status).toBe(200)
    expect(await page.text()).toContain('<base href="/eventuali/">')
    expect((await fetch(`${base}/eventuali/app.js`)).headers.get("content-type")).toContain("javascript")
    const order = await (await fetch(`${base}/eventuali/api/aggregate?aggregateId=o-1001`)).json() as { version: number; foldable: boolean }
    expect(order).toMatchObject({ version: 4, foldable: true })
    const openApi = await (await fetch(`${base}/eventuali/openapi.json`)).json() as { paths: Record<string, unknown> }
    expect(Object.keys(openApi.paths)).toContain("/api/overview")
    // Without the trailing slash too: the page's <base> points its assets and calls under the path.
    const bare = await fetch(`${base}/eventuali`)
    expect(bare.status).toBe(200)
    expect(await bare.text()).toContain('<base href="/eventuali/">')
  })
})
