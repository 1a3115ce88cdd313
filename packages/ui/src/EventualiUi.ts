/**
 * Eventuali UI: a web event browser and operations console for a SQLite or PostgreSQL event
 * store, served by the `eventuali ui` command or mounted into an application's own
 * `@effect/platform` HTTP server:
 *
 * ```ts
 * HttpApiBuilder.serve().pipe(
 *   Layer.provide(EventualiUi.layer({ path: "/eventuali" })),
 *   Layer.provide(HttpApiBuilder.api(MyApi)),
 *   // the EventStore, ProjectionStore and SqlClient of a SQLite or PostgreSQL store:
 *   Layer.provide(EventStore.layerSql("sqlite://events.db"))
 * )
 * ```
 *
 * The pages, their script and styles are bundled into this package: nothing is fetched from
 * elsewhere. Read-only unless `allowWrites`; no connection string ever reaches the browser.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as HttpApp from "@effect/platform/HttpApp"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as Aggregate from "@eventuali/core/Aggregate"
import type { EventStore } from "@eventuali/core/EventStore"
import type { ProjectionStore } from "@eventuali/core/ProjectionStore"
import * as SqlEventStore from "@eventuali/sql/SqlEventStore"
import { Effect, Layer, Redacted, Schema, type Scope } from "effect"
import * as Assets from "./internal/assets.js"
import * as Handlers from "./internal/handlers.js"
import * as Security from "./internal/security.js"
import * as UiApi from "./UiApi.js"

/**
 * How the UI is served.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Where the UI is mounted: `"/eventuali"` serves it at `/eventuali/` (default `"/eventuali"`). */
  readonly path?: `/${string}` | undefined
  /** Allow the actions that write (rebuild a projection). Default: read-only. */
  readonly allowWrites?: boolean | undefined
  /**
   * When set, every request must carry it: `?token=` on the first visit (kept in an HTTP-only
   * cookie after), or `Authorization: Bearer`. Set one whenever others can reach the server.
   */
  readonly token?: Redacted.Redacted<string> | undefined
  /**
   * The application's aggregates (any state and event types): the Aggregate page then shows
   * the state after any version.
   */
  readonly aggregates?: ReadonlyArray<Aggregate.Definition<any, any>> | undefined
  /** The PostgreSQL schema of the store's tables (`?schema=` of its URL), if not the default. */
  readonly schema?: string | undefined
  /**
   * Host names requests may name in their `Host` header (any by default). The `eventuali ui`
   * command sets the loopback names when it listens on a loopback address, so a web page
   * elsewhere cannot reach the UI through a DNS name that resolves to 127.0.0.1.
   */
  readonly allowedHosts?: ReadonlyArray<string> | undefined
}

/**
 * Options the UI refuses before serving anything: a `token` shorter than
 * {@link MIN_TOKEN_LENGTH} characters (an empty one let in any request carrying `?token=`), a
 * `path` with a query, a fragment or spaces, a `schema` that is not a plain identifier.
 *
 * @since 0.2.0
 * @category errors
 */
export class UiOptionsError extends Schema.TaggedError<UiOptionsError>()("UiOptionsError", { message: Schema.String }) {}

/**
 * The shortest token the UI takes: shorter ones can be found by trying.
 *
 * @since 0.2.0
 * @category constants
 */
export const MIN_TOKEN_LENGTH = 16

const checkOptions = (options: Options): Effect.Effect<void, UiOptionsError> => {
  if (options.token !== undefined && Redacted.value(options.token).length < MIN_TOKEN_LENGTH) {
    return Effect.fail(new UiOptionsError({ message: `Eventuali UI: the token must be at least ${MIN_TOKEN_LENGTH} characters long` }))
  }
  if (options.path !== undefined && !/^\/[^?#\s]*$/.test(options.path)) {
    return Effect.fail(new UiOptionsError({ message: `Eventuali UI: invalid path ${JSON.stringify(options.path)}: a path starting with /, without ?, # or spaces` }))
  }
  return SqlEventStore.checkOptions({ schema: options.schema }).pipe(
    Effect.mapError((error) => new UiOptionsError({ message: `Eventuali UI: ${error.message}` }))
  )
}

/**
 * What the UI reads: the store and projection checkpoints, and the SQL client of a SQLite or
 * PostgreSQL store (the layers of `eventuali`, `@eventuali/sqlite` and `@eventuali/postgres`
 * provide all three).
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = EventStore | ProjectionStore | SqlClient.SqlClient

const basePathOf = (options: Options): string => {
  const path = options.path ?? "/eventuali"
  return path === "/" ? "" : path.replace(/\/+$/, "")
}

const textResponse = (body: string, contentType: string) => HttpServerResponse.text(body, { contentType })

/** The pages and their assets in front of the API. */
const withAssets = (basePath: string) => <E, R>(api: HttpApp.Default<E, R>): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    if (request.method !== "GET" && request.method !== "HEAD") return api
    switch (new URL(request.url, "http://ui.invalid").pathname) {
      case "":
      case "/":
      case "/index.html":
        return Effect.succeed(textResponse(Assets.page(`${basePath}/`), "text/html; charset=utf-8"))
      case "/app.js":
        return Effect.succeed(textResponse(Assets.script, "text/javascript; charset=utf-8"))
      case "/app.css":
        return Effect.succeed(textResponse(Assets.style, "text/css; charset=utf-8"))
      case "/favicon.svg":
        return Effect.succeed(textResponse(Assets.icon, "image/svg+xml"))
      default:
        return api
    }
  })

/**
 * The UI as an `HttpApp`, for any `@effect/platform` server or router
 * (`HttpRouter.mountApp(path, app)`): pages, assets, the API under `api/` and its OpenAPI
 * document at `openapi.json`. Its resources (the live tails, the background count) live as long
 * as the scope. Fails with {@link UiOptionsError} for options it refuses.
 *
 * @since 0.1.0
 * @category constructors
 */
export const httpApp = (
  options: Options = {}
): Effect.Effect<HttpApp.Default<never, HttpRouter.HttpRouter.DefaultServices>, UiOptionsError, Requirements | Scope.Scope> =>
  Effect.gen(function*() {
    yield* checkOptions(options)
    const basePath = basePathOf(options)
    const handlers = Handlers.layer({
      allowWrites: options.allowWrites ?? false,
      schema: options.schema,
      aggregates: options.aggregates ?? []
    })
    const api = HttpApiBuilder.api(UiApi.Api).pipe(Layer.provide(handlers))
    const context = yield* Layer.build(Layer.mergeAll(
      HttpApiBuilder.Router.Live,
      HttpApiBuilder.Middleware.layer,
      api,
      HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" }).pipe(Layer.provide(api))
    ))
    const app = yield* Effect.provide(HttpApiBuilder.httpApp, context)
    return app.pipe(
      withAssets(basePath),
      Security.guard({ token: options.token, allowedHosts: options.allowedHosts, basePath })
    )
  })

/**
 * Mounts the UI at `options.path` (default `/eventuali`) in the application's
 * `HttpApiBuilder.serve()` server. Fails with {@link UiOptionsError} for options it refuses.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<never, UiOptionsError, Requirements> =>
  HttpApiBuilder.Router.use((router) =>
    Effect.flatMap(httpApp(options), (app) => {
      const path = basePathOf(options)
      return path === "" ? router.mountApp("/", app) : router.mountApp(path as `/${string}`, app)
    })
  )
