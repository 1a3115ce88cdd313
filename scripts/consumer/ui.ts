/**
 * A consumer serving Eventuali UI: `EventualiUi.httpApp` over the store of `EventStore.layerSql`,
 * on Node's HTTP server, asked for its Overview and its page.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { EventualiUi } from "@eventuali/ui"
import { Console, Effect, Layer } from "effect"
import { EventStore } from "eventuali"
import { createServer } from "node:http"

const url = process.argv[2] ?? "sqlite://:memory:"

const program = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const base = server.address._tag === "TcpAddress" ? `http://127.0.0.1:${server.address.port}/` : ""
  const overview = yield* Effect.promise(() => fetch(`${base}api/overview`).then((response) => response.json() as Promise<{ backend: string }>))
  const page = yield* Effect.promise(() => fetch(base).then((response) => response.text()))
  yield* Console.log(`ui ${overview.backend} ${page.includes("app.js")}`)
})

const ServerLive = Layer.unwrapScoped(Effect.map(EventualiUi.httpApp({ path: "/" }), (app) => HttpServer.serve(app))).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
  Layer.provideMerge(EventStore.layerSql(url))
)

program.pipe(Effect.provide(ServerLive), Effect.orDie, Effect.runPromise)
