/**
 * What every command shares: the `--url` and `--json` options, the one error a command fails
 * with, and running a command's body against the opened store.
 */
import * as Args from "@effect/cli/Args"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as Prompt from "@effect/cli/Prompt"
import * as ValidationError from "@effect/cli/ValidationError"
import type * as FileSystem from "@effect/platform/FileSystem"
import * as SqlErrors from "@eventuali/sql/SqlErrors"
import { Config, Effect, Option, Redacted, Schema } from "effect"
import * as Database from "./database.js"
import { count } from "./output.js"

/** A command failed: `message` is the one line shown to the user (no stack, no password). */
export class CliError extends Schema.TaggedError<CliError>()("CliError", { message: Schema.String }) {}

export const invalidValue = (message: string) => Effect.fail(ValidationError.invalidValue(HelpDoc.p(message)))

/**
 * The positional `<NAME>`, refused when empty: an empty id names nothing (typically an unset shell
 * variable, `delete "$ID"`), so it is a usage error, not a failed command.
 */
export const nonEmptyArgument = (name: string, what: string) =>
  Args.text({ name }).pipe(
    Args.mapEffect((text) => text === "" ? Effect.fail(HelpDoc.p(`<${name}> expects ${what}, got ""`)) : Effect.succeed(text))
  )

/** `--url`, optional here: {@link withStore} falls back to `EVENTUALI_URL`. */
export const urlOnly = Options.redacted("url").pipe(
  Options.withAlias("u"),
  Options.withPseudoName("URL"),
  Options.optional,
  Options.withDescription(
    "The store's connection string: sqlite://FILE, postgresql://USER:PASSWORD@HOST:PORT/DB or memory:// (default: $EVENTUALI_URL)"
  )
)

/** `--tenant`: the store is that tenant's, on the PostgreSQL server of `--url`. */
export const tenant = Options.text("tenant").pipe(
  Options.withPseudoName("TENANT"),
  Options.optional,
  Options.withDescription(
    "Work on this tenant's store: schema tenant_TENANT (or $EVENTUALI_TENANT_PREFIX + TENANT) on the PostgreSQL server of --url"
  )
)

/** Which store a command works on: `--url` and `--tenant`. */
export interface Target {
  readonly url: Option.Option<Redacted.Redacted<string>>
  readonly tenant: Option.Option<string>
}

/** `--url` and `--tenant`, the options of every command that opens a store. */
export const url: Options.Options<Target> = Options.all({ url: urlOnly, tenant })

/**
 * `--replica URL` (repeatable), on the commands that only read: the store's reads of the log go to
 * these streaming replicas of the PostgreSQL server of `--url` (see the scaling guide).
 */
export const replicas: Options.Options<ReadonlyArray<Redacted.Redacted<string>>> = Options.text("replica").pipe(
  Options.withPseudoName("URL"),
  // Text, made Redacted here: @effect/cli's repeated `Options.redacted` fails on its own values.
  Options.repeated,
  Options.map((urls) => urls.map((url) => Redacted.make(url))),
  // Shown as optional (`[--replica URL...]`): @effect/cli shows a bare `repeated` as required.
  Options.withDefault([]),
  Options.withDescription("A streaming replica of the PostgreSQL server of --url to read from (repeatable; not with --tenant)")
)

const urlFromConfig = Config.redacted("EVENTUALI_URL").pipe(
  Effect.mapError(() => new CliError({ message: "No connection string: pass --url URL or set EVENTUALI_URL" }))
)

export const json = Options.boolean("json").pipe(Options.withDescription("Print JSON, one value per line, instead of text for people"))

/**
 * `--NAME N`: a whole number from `min` (to `max`). Checked here rather than by `Options.integer`
 * and a schema, whose messages ("'abc' is not a integer", a tree of refinement failures) do not
 * name the option.
 */
export const wholeNumber = (name: string, range: { readonly min: number; readonly max?: number }) =>
  Options.text(name).pipe(
    Options.withPseudoName("N"),
    Options.mapEffect((text) => {
      const value = /^\d+$/.test(text) ? Number(text) : Number.NaN
      return value >= range.min && value <= (range.max ?? Number.MAX_SAFE_INTEGER)
        ? Effect.succeed(value)
        : invalidValue(`--${name} expects a whole number ${
          range.max === undefined ? `of at least ${range.min}` : `from ${range.min} to ${count(range.max)}`
        }, got ${JSON.stringify(text)}`)
    })
  )

/** `--NAME POSITION`: a position in the log, a whole number of any size (PostgreSQL's exceed 2^53). */
export const position = (name: string) =>
  Options.text(name).pipe(
    Options.withPseudoName("POSITION"),
    Options.mapEffect((text) =>
      /^\d+$/.test(text)
        ? Effect.succeed(BigInt(text))
        : invalidValue(`--${name} expects a position (a whole number, 0 or more), got ${JSON.stringify(text)}`)
    )
  )

/** An error's first line: the rest of a driver's message is detail for logs, not a terminal. */
const messageOf = (error: unknown): string => SqlErrors.messageOf(error).split("\n")[0]!

/**
 * The secrets of a connection string: its password (raw and decoded) and `password=` query
 * values. Messages already come redacted from the drivers; this is the last line of defence.
 */
const secretsOf = (url: string): ReadonlyArray<string> => {
  const found = [
    /^[a-z][a-z0-9+.-]*:\/\/[^/?#@:]*:([^?]*)@/i.exec(url)?.[1],
    ...[...url.matchAll(/[?&](?:password|pass|pwd)=([^&#]*)/gi)].map((match) => match[1])
  ].filter((secret): secret is string => secret !== undefined && secret.length >= 3)
  return found.flatMap((secret) => {
    try {
      return [secret, decodeURIComponent(secret)]
    } catch {
      return [secret]
    }
  })
}

/**
 * The start of a URL whose password is already `***`: left as it is when masking, so that a
 * password that is also a word of the URL ("postgres") does not turn it into `***ql://***:***@`.
 */
const redactedUrlStart = /([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*:\*\*\*@)/i

/** The error's first line, with any secret of the connection string masked. */
export const describeError = (error: unknown, url: Redacted.Redacted<string> | undefined): string => {
  const message = messageOf(error)
  if (url === undefined) return message
  const secrets = secretsOf(Redacted.value(url))
  // split with a capturing group: the redacted URL starts are at the odd indices
  return message.split(redactedUrlStart).map((part, index) =>
    index % 2 === 1 ? part : secrets.reduce((masked, secret) => masked.replaceAll(secret, "***"), part)
  ).join("")
}

/** Fails with a {@link CliError} built from any error, secrets masked. */
export const toCliError = (url: Redacted.Redacted<string> | undefined) => (error: unknown): CliError =>
  new CliError({ message: describeError(error, url) })

/** `--url`, or else `EVENTUALI_URL`. */
export const urlOf = (url: Option.Option<Redacted.Redacted<string>>): Effect.Effect<Redacted.Redacted<string>, CliError> =>
  Option.match(url, { onNone: () => urlFromConfig, onSome: Effect.succeed })

/**
 * Runs a command's body with the store of `url` (or `EVENTUALI_URL`) open (closed when the body ends); every failure
 * becomes a {@link CliError}. `create` lets a SQLite file, or a tenant, be created.
 */
export const withStore = <A, E, R>(
  target: Target,
  options: { readonly create: boolean; readonly replicas?: ReadonlyArray<Redacted.Redacted<string>> | undefined },
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, CliError, Exclude<R, Database.Services> | FileSystem.FileSystem> =>
  Effect.flatMap(
    urlOf(target.url),
    (url) =>
      body.pipe(
        Effect.provide(Database.layer(url, { ...options, tenant: target.tenant })),
        Effect.mapError(toCliError(url))
      )
  )

/** The option of the commands that remove or destroy data: skip their confirmation. */
export const yes = Options.boolean("yes").pipe(
  Options.withAlias("y"),
  Options.withDescription("Do not ask for confirmation (needed when standard input is not a terminal)")
)

/** Asks on a terminal; without one, refuses unless `--yes` was given. */
export const confirm = (yes: boolean, question: string) =>
  Effect.gen(function*() {
    if (yes) return
    if (process.stdin.isTTY !== true) {
      return yield* new CliError({ message: `${question} Refused: pass --yes to confirm (standard input is not a terminal to ask on)` })
    }
    const confirmed = yield* Prompt.confirm({ message: question, initial: false }).pipe(
      Effect.catchAll(() => Effect.succeed(false))
    )
    if (!confirmed) return yield* new CliError({ message: "Cancelled: nothing was changed" })
  })
