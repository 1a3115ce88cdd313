/**
 * `eventuali tenants`: the tenants of a deployment and their servers; `tenants create TENANT`;
 * `tenants move TENANT --to SERVER`, which copies a tenant to another server while it is written
 * and prints how long its writes were paused.
 *
 * The servers are `--server NAME=URL` (repeated; the directory table is on `--control`, or the
 * first server), or else the one server of `--url`, whose tenants are its schemas.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as PgTenants from "@eventuali/postgres/PgTenants"
import { Console, Duration, Effect, Either, Option, Redacted } from "effect"
import { ConnectionString } from "eventuali"
import { CliError, json, toCliError, urlOf, urlOnly } from "./common.js"
import { tenantSettings } from "./database.js"
import * as Output from "./output.js"

const servers = Options.text("server").pipe(
  Options.withPseudoName("NAME=URL"),
  Options.repeated,
  Options.withDescription("A PostgreSQL server of the deployment, by the name the tenant directory records (repeat for each server)")
)

const control = Options.redacted("control").pipe(
  Options.withPseudoName("URL"),
  Options.optional,
  Options.withDescription("The database of the tenant directory table (default: the first --server); ?schema=NAME for its schema")
)

const deployment = { url: urlOnly, servers, control }

type Deployment = {
  readonly url: Option.Option<Redacted.Redacted<string>>
  readonly servers: ReadonlyArray<string>
  readonly control: Option.Option<Redacted.Redacted<string>>
}

const SERVER_NAME = /^[A-Za-z0-9_-]{1,63}$/

/**
 * `url`, refused unless it is a PostgreSQL one: tenants live only there, and a `sqlite://` URL
 * handed to the PostgreSQL driver failed as "Cannot connect to PostgreSQL at sqlite://…".
 */
const postgresOnly = (option: string, url: Redacted.Redacted<string>) =>
  Either.match(ConnectionString.parse(Redacted.value(url)), {
    onLeft: (error) => Effect.fail(new CliError({ message: error.message })),
    onRight: (parsed) =>
      parsed._tag === "Postgres"
        ? Effect.succeed(url)
        : Effect.fail(new CliError({
          message: `${option} needs a PostgreSQL server (postgresql://…), not ${ConnectionString.redact(Redacted.value(url))}: tenants live on PostgreSQL only`
        }))
  })

/** The tenants of the deployment the options describe, for as long as the scope lives. */
const openTenants = (options: Deployment) =>
  Effect.gen(function*() {
    const settings = yield* tenantSettings.pipe(Effect.mapError((error) => new CliError({ message: error.message })))
    if (options.servers.length === 0) {
      const url = yield* Effect.flatMap(urlOf(options.url), (url) => postgresOnly("--url", url))
      return yield* PgTenants.make({ servers: { server: url }, directory: "schemas", ...settings }).pipe(Effect.mapError(toCliError(url)))
    }
    const configured: Record<string, Redacted.Redacted<string>> = {}
    for (const server of options.servers) {
      const equals = server.indexOf("=")
      const name = equals === -1 ? "" : server.slice(0, equals)
      if (!SERVER_NAME.test(name)) {
        return yield* new CliError({ message: `--server expects NAME=URL with a name of letters, digits, _ and -, got ${JSON.stringify(name)}` })
      }
      if (Object.hasOwn(configured, name)) return yield* new CliError({ message: `--server ${name} is given twice` })
      configured[name] = yield* postgresOnly(`--server ${name}`, Redacted.make(server.slice(equals + 1)))
    }
    if (Option.isSome(options.control)) yield* postgresOnly("--control", options.control.value)
    return yield* PgTenants.make({ servers: configured, control: Option.getOrUndefined(options.control), ...settings }).pipe(
      Effect.mapError((error) => new CliError({ message: error.message }))
    )
  })

const run = <A, E extends { readonly message: string }, R>(options: Deployment, body: (tenants: PgTenants.Service) => Effect.Effect<A, E, R>) =>
  Effect.scoped(Effect.flatMap(openTenants(options), (tenants) => Effect.mapError(body(tenants), (error) => new CliError({ message: error.message }))))

const list = Command.make("tenants", { ...deployment, json }, (options) =>
  run(options, (tenants) =>
    Effect.gen(function*() {
      const ids = yield* tenants.list
      const rows = yield* Effect.forEach(ids, (tenantId) => Effect.map(tenants.serverOf(tenantId), (server) => ({ tenantId, server })))
      if (options.json) {
        if (rows.length > 0) yield* Console.log(rows.map((row) => Output.json(row)).join("\n"))
        return
      }
      if (rows.length === 0) return yield* Console.log("No tenants.")
      yield* Console.log(Output.table(["Tenant", "Server"], rows.map((row) => [row.tenantId, row.server]), ["left", "left"]))
    }))).pipe(
    Command.withDescription("List the tenants and the server each lives on (PostgreSQL).")
  )

const tenantArg = Args.text({ name: "tenant" }).pipe(Args.withDescription("The tenant id: 1 to 48 lowercase letters, digits and _"))

export const create = Command.make("create", { ...deployment, tenant: tenantArg }, (options) =>
  run(options, (tenants) =>
    Effect.gen(function*() {
      yield* tenants.create(options.tenant)
      yield* Console.log(`Tenant ${options.tenant}: ready on server ${yield* tenants.serverOf(options.tenant)}`)
    }))).pipe(
    Command.withDescription("Create a tenant: place it on a server (least loaded) and create its schema. Idempotent.")
  )

const to = Options.text("to").pipe(Options.withPseudoName("SERVER"), Options.withDescription("The server to move the tenant to (a --server name)"))

const checkpoints = Options.choice("checkpoints", ["drop", "rebase"]).pipe(
  Options.withDefault("drop" as const),
  Options.withDescription(
    "drop (default): projections rebuild their read models on the new server; rebase: keep their progress, for read models you copied yourself"
  )
)

export const move = Command.make("move", { ...deployment, tenant: tenantArg, to, checkpoints, json }, (options) =>
  run(options, (tenants) =>
    Effect.gen(function*() {
      const from = yield* tenants.serverOf(options.tenant)
      const moved = yield* tenants.move(options.tenant, options.to, { checkpoints: options.checkpoints })
      if (options.json) {
        return yield* Console.log(Output.json({
          tenant: options.tenant,
          from,
          to: options.to,
          events: moved.events,
          snapshots: moved.snapshots,
          checkpoints: moved.checkpoints,
          pauseMs: Number(Duration.toMillis(moved.pause).toFixed(3))
        }))
      }
      yield* Console.log(
        `Tenant ${options.tenant}: moved from ${from} to ${options.to} (${Output.count(moved.events)} events, ${
          Output.count(moved.snapshots)
        } snapshots, ${Output.count(moved.checkpoints)} checkpoints ${options.checkpoints === "drop" ? "dropped" : "rebased"}); writes paused ${
          Duration.toMillis(moved.pause).toFixed(1)
        } ms. The old copy refuses writes; drop its schema when you no longer need it.`
      )
    }))).pipe(
    Command.withDescription(
      "Move a tenant to another server while it is written: copy, then pause its writes to copy the rest, verify, and switch the directory."
    )
  )

export const tenants = list.pipe(Command.withSubcommands([create, move]))
