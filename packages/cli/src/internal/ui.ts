/**
 * `eventuali ui`: serves Eventuali UI (the `@eventuali/ui` package) over the store of `--url`
 * until Ctrl-C. Safe by default: loopback only unless `--host` says otherwise, and then only
 * with a token; read-only unless `--allow-writes`.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as HttpServer from "@effect/platform/HttpServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as SqlClient from "@effect/sql/SqlClient"
import { EventualiUi } from "@eventuali/ui"
import { Config, Console, Effect, Layer, Option, Redacted } from "effect"
import { createServer } from "node:http"
import { CliError, invalidValue, url, wholeNumber, withStore } from "./common.js"
import { Database } from "./database.js"

const port = wholeNumber("port", { min: 0, max: 65_535 }).pipe(
  Options.withDefault(4000),
  Options.withDescription("The port to listen on (default: 4000; 0 picks a free one)")
)

const host = Options.text("host").pipe(
  Options.withPseudoName("HOST"),
  Options.withDefault("127.0.0.1"),
  Options.withDescription("The address to listen on (default: 127.0.0.1). Any other than a loopback address needs a token")
)

const { MIN_TOKEN_LENGTH } = EventualiUi

/** Refused however it is given (the UI would refuse it too, less helpfully for a command line). */
const tooShort = (token: Redacted.Redacted<string>) => Redacted.value(token).length < MIN_TOKEN_LENGTH

const token = Options.redacted("token").pipe(
  Options.mapEffect((token) =>
    tooShort(token) ? invalidValue(`--token must be at least ${MIN_TOKEN_LENGTH} characters long`) : Effect.succeed(token)
  ),
  Options.withPseudoName("TOKEN"),
  Options.optional,
  Options.withDescription("Require this token on every request (default: $EVENTUALI_UI_TOKEN). The printed address carries it once; the browser keeps it in a cookie")
)

const allowWrites = Options.boolean("allow-writes").pipe(
  Options.withDescription("Allow the actions that write (rebuild a projection); read-only without it")
)

const LOOPBACK = ["127.0.0.1", "localhost", "::1"]

const tokenFromConfig = Config.option(Config.redacted("EVENTUALI_UI_TOKEN"))

/** The address to print: a browser cannot open 0.0.0.0 or ::, so those show as 127.0.0.1. */
const shownAddress = (address: HttpServer.Address, token: Option.Option<Redacted.Redacted<string>>) => {
  const base = address._tag === "TcpAddress"
    ? `http://${address.hostname === "0.0.0.0" || address.hostname === "::" ? "127.0.0.1" : address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}/`
    : `unix:${address.path}`
  return Option.match(token, { onNone: () => base, onSome: (token) => `${base}?token=${encodeURIComponent(Redacted.value(token))}` })
}

export const ui = Command.make("ui", { url, port, host, token, allowWrites }, (options) =>
  Effect.gen(function*() {
    const configured = Option.isSome(options.token) ? options.token : yield* Effect.orElseSucceed(tokenFromConfig, () => Option.none())
    const loopback = LOOPBACK.includes(options.host)
    if (!loopback && Option.isNone(configured)) {
      return yield* new CliError({
        message: `Listening on ${options.host} lets other machines in: give a token (--token TOKEN or EVENTUALI_UI_TOKEN), or listen on 127.0.0.1`
      })
    }
    const token = Option.getOrUndefined(configured)
    if (token !== undefined && tooShort(token)) {
      return yield* new CliError({ message: `EVENTUALI_UI_TOKEN must be at least ${MIN_TOKEN_LENGTH} characters long` })
    }
    return yield* withStore(
      options.url,
      { create: false },
      Effect.gen(function*() {
        const database = yield* Database
        if (Option.isNone(database.sql)) {
          return yield* new CliError({ message: "ui needs a SQLite or PostgreSQL store (memory:// keeps nothing between runs)" })
        }
        const sql = database.sql.value
        const app = yield* EventualiUi.httpApp({
          path: "/",
          token,
          allowWrites: options.allowWrites,
          schema: sql.schema,
          // Without a token, only requests naming a loopback host: a web page elsewhere cannot
          // reach this UI through a DNS name that resolves to 127.0.0.1.
          allowedHosts: token === undefined ? LOOPBACK : undefined
        }).pipe(Effect.provideService(SqlClient.SqlClient, sql.client))
        const announce = Effect.flatMap(HttpServer.HttpServer, (server) =>
          Console.log(
            `Eventuali UI for ${database.shownUrl} at ${shownAddress(server.address, configured)} (${
              options.allowWrites ? "writes allowed" : "read-only"
            }; Ctrl-C to stop)`
          ))
        return yield* Layer.launch(Layer.effectDiscard(announce).pipe(
          Layer.provideMerge(HttpServer.serve(app)),
          Layer.provideMerge(NodeHttpServer.layer(createServer, { port: options.port, host: options.host }))
        ))
      }).pipe(Effect.scoped)
    )
  })).pipe(
    Command.withDescription(
      "Serve Eventuali UI, the web event browser and operations console, for the store until Ctrl-C: overview, log, aggregates, causation, live tail, projections."
    )
  )
