/**
 * Serves the UI over a store on a free port of 127.0.0.1, as `eventuali ui` does, for the tests
 * to call with fetch or a browser.
 */
import * as HttpServer from "@effect/platform/HttpServer"
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { EventStore } from "eventuali"
import { createServer } from "node:http"
import { EventualiUi } from "../../src/index.js"

export interface Running {
  /** The UI's address, ending in "/". */
  readonly url: string
  readonly store: EventStore.Service
  readonly run: <A, E>(effect: Effect.Effect<A, E, Layer.Layer.Success<ReturnType<typeof EventStore.layerSql>>>) => Promise<A>
  readonly close: () => Promise<void>
}

/** The UI at the root of its own server (as `eventuali ui` serves it). */
export const start = async (storeUrl: string, options: Omit<EventualiUi.Options, "path"> = {}): Promise<Running> => {
  const scope = Effect.runSync(Scope.make())
  const context = await Effect.runPromise(Layer.buildWithScope(
    Layer.unwrapScoped(Effect.map(EventualiUi.httpApp({ ...options, path: "/" }), (app) => HttpServer.serve(app))).pipe(
      Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" })),
      Layer.provideMerge(EventStore.layerSql(storeUrl))
    ),
    scope
  ))
  const { address } = Context.get(context, HttpServer.HttpServer)
  return {
    url: address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}/` : "",
    store: Context.get(context, EventStore),
    run: (effect) => Effect.runPromise(Effect.provide(effect, context)),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
