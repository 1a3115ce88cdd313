/**
 * What every command shares: the `--url` and `--json` options, the one error a command fails
 * with, and running a command's body against the opened store.
 */
import * as Options from "@effect/cli/Options"
import type * as FileSystem from "@effect/platform/FileSystem"
import { Config, Effect, Option, Redacted, Schema } from "effect"
import * as Database from "./database.js"

/** A command failed: `message` is the one line shown to the user (no stack, no password). */
export class CliError extends Schema.TaggedError<CliError>()("CliError", { message: Schema.String }) {}

/** `--url`, optional here: {@link withStore} falls back to `EVENTUALI_URL`. */
export const url = Options.redacted("url").pipe(
  Options.withAlias("u"),
  Options.withPseudoName("URL"),
  Options.optional,
  Options.withDescription(
    "Connection string: sqlite://path.db, sqlite:///abs/path.db, postgresql://user:password@host:5432/db[?schema=name] or memory:// (default: $EVENTUALI_URL)"
  )
)

const urlFromConfig = Config.redacted("EVENTUALI_URL").pipe(
  Effect.mapError(() => new CliError({ message: "No connection string: pass --url URL or set EVENTUALI_URL" }))
)

export const json = Options.boolean("json").pipe(Options.withDescription("One JSON value per line instead of text for people"))

const messageOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null && "message" in error && typeof error.message === "string" && error.message !== "") {
    return error.message.split("\n")[0]!
  }
  if (typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string") return error._tag
  return String(error)
}

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

/** The error's first line, with any secret of the connection string masked. */
export const describeError = (error: unknown, url: Redacted.Redacted<string> | undefined): string => {
  let message = messageOf(error)
  if (url !== undefined) {
    for (const secret of secretsOf(Redacted.value(url))) message = message.replaceAll(secret, "***")
  }
  return message
}

/** Fails with a {@link CliError} built from any error, secrets masked. */
export const toCliError = (url: Redacted.Redacted<string> | undefined) => (error: unknown): CliError =>
  new CliError({ message: describeError(error, url) })

/**
 * Runs a command's body with the store of `url` (or `EVENTUALI_URL`) open (closed when the body ends); every failure
 * becomes a {@link CliError}. `create` lets a SQLite file be created.
 */
export const withStore = <A, E, R>(
  url: Option.Option<Redacted.Redacted<string>>,
  options: { readonly create: boolean },
  body: Effect.Effect<A, E, R>
): Effect.Effect<A, CliError, Exclude<R, Database.Services> | FileSystem.FileSystem> =>
  Effect.flatMap(
    Option.match(url, { onNone: () => urlFromConfig, onSome: Effect.succeed }),
    (url) =>
      body.pipe(
        Effect.provide(Database.layer(url, options)),
        Effect.mapError(toCliError(url))
      )
  )
