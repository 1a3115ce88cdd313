/**
 * What every request to the UI goes through, pages, assets, API and OpenAPI document alike:
 * the token (when one is set), the host check (against DNS rebinding of a local UI), a custom
 * header on writes (a form or an image on another site cannot send one), and response headers
 * that keep the pages from loading anything but their own assets.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as HttpApp from "@effect/platform/HttpApp"
import { Effect, Redacted } from "effect"
import * as Crypto from "node:crypto"

/** The cookie that carries the token after the first visit with `?token=`. */
export const COOKIE = "eventuali_ui_token"

/** The header the UI's own pages send with every write. */
export const WRITE_HEADER = "x-eventuali-ui"

export interface Guard {
  readonly token: Redacted.Redacted<string> | undefined
  /** Host names (without port) requests may name; any when undefined. */
  readonly allowedHosts: ReadonlyArray<string> | undefined
  /** Where the UI is mounted ("" at the root): the cookie's path and redirects' base. */
  readonly basePath: string
}

const digest = (text: string) => Crypto.createHash("sha256").update(text).digest()

/** Compares in constant time (on digests, so the lengths always match). */
const sameSecret = (presented: string, token: Redacted.Redacted<string>) =>
  Crypto.timingSafeEqual(digest(presented), digest(Redacted.value(token)))

const bearerOf = (header: string | undefined) => header?.startsWith("Bearer ") === true ? header.slice("Bearer ".length) : undefined

const hostnameOf = (host: string | undefined): string | undefined => {
  if (host === undefined) return undefined
  try {
    return new URL(`http://${host}`).hostname.replace(/^\[|\]$/g, "")
  } catch {
    return undefined
  }
}

const TAGS: Record<number, string> = { 400: "UiBadRequest", 401: "UiUnauthorized", 403: "UiForbidden" }

const refuse = (status: 400 | 401 | 403, message: string) => HttpServerResponse.unsafeJson({ _tag: TAGS[status], message }, { status })

/**
 * The first query parameter given more than once, with its count. Every parameter of the UI
 * (`token` included) takes one value: the API's schemas would refuse the others with a message
 * about arrays, and `token` would be taken from the first silently.
 */
const repeatedParameter = (url: URL): readonly [name: string, count: number] | undefined => {
  for (const name of new Set(url.searchParams.keys())) {
    const count = url.searchParams.getAll(name).length
    if (count > 1) return [name, count]
  }
  return undefined
}

/** Headers of every response: nothing loads from elsewhere, nothing is framed, nothing is cached. */
const secured = (response: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.setHeaders(response, {
    "content-security-policy":
      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store"
  })

/** `app` behind the guard. */
export const guard = (settings: Guard) => <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (settings.allowedHosts !== undefined) {
      const hostname = hostnameOf(request.headers["host"])
      if (hostname === undefined || !settings.allowedHosts.includes(hostname)) {
        return secured(refuse(403, `Eventuali UI answers requests to ${settings.allowedHosts.join(", ")} only`))
      }
    }
    const url = new URL(request.url, "http://ui.invalid")
    const repeated = repeatedParameter(url)
    if (repeated !== undefined) {
      return secured(refuse(400, `The query parameter ${JSON.stringify(repeated[0])} is given ${repeated[1]} times: give it once`))
    }
    if (settings.token !== undefined) {
      const fromQuery = url.searchParams.get("token")
      const presented = bearerOf(request.headers["authorization"]) ?? request.cookies[COOKIE] ?? fromQuery ?? undefined
      if (presented === undefined || !sameSecret(presented, settings.token)) {
        return secured(refuse(
          401,
          "Eventuali UI needs its token: open the address it printed (with ?token=…), or send Authorization: Bearer TOKEN"
        ))
      }
      if (fromQuery !== null && request.method === "GET") {
        // The token moves into a cookie the pages' scripts cannot read, out of the address bar and history.
        url.searchParams.delete("token")
        const location = `${settings.basePath}${url.pathname}${url.search}`
        return secured(yield* HttpServerResponse.empty({ status: 303, headers: { location } }).pipe(
          HttpServerResponse.setCookie(COOKIE, fromQuery, { httpOnly: true, sameSite: "strict", path: settings.basePath === "" ? "/" : settings.basePath }),
          Effect.orDie
        ))
      }
    }
    if (request.method !== "GET" && request.method !== "HEAD" && request.headers[WRITE_HEADER] === undefined) {
      return secured(refuse(403, `Eventuali UI: writes need the ${WRITE_HEADER} header (the UI's pages send it)`))
    }
    return secured(yield* app)
  })
