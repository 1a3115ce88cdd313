/**
 * Connection strings: which backend a URL names, and how to show one without its password.
 *
 * @since 0.1.0
 */
import { DatabaseError } from "@eventuali/core/Errors"
import * as Redaction from "@eventuali/core/Redaction"
import { Either } from "effect"

/**
 * A parsed connection string.
 *
 * @since 0.1.0
 * @category models
 */
export type ConnectionString =
  | {
    readonly _tag: "Sqlite"
    /** `":memory:"`, a relative path, or an absolute path. */
    readonly filename: string
    readonly synchronous: "full" | "normal" | undefined
  }
  | { readonly _tag: "Memory" }
  | { readonly _tag: "Postgres"; readonly url: string }

/**
 * The schemes `parse` accepts.
 *
 * @since 0.1.0
 * @category constants
 */
export const supportedSchemes: ReadonlyArray<string> = ["sqlite://", "postgresql://", "postgres://", "memory://"]

/**
 * The URL with any password replaced by `***`, safe for errors and logs.
 *
 * @since 0.1.0
 * @category formatting
 */
export const redact: (url: string) => string = Redaction.redactUrl

const fail = (message: string) => Either.left(new DatabaseError({ message }))

/**
 * Parses a connection string:
 * - `sqlite://:memory:`: an in-memory SQLite database;
 * - `sqlite://relative/path.db`, `sqlite:///absolute/path.db`: a file (the path is what follows
 *   `sqlite://`), with an optional `?synchronous=full|normal`;
 * - `postgresql://…`, `postgres://…`: a PostgreSQL server;
 * - `memory://`: the in-memory store (no SQL).
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (url: string): Either.Either<ConnectionString, DatabaseError> => {
  if (typeof url !== "string" || url.trim() === "") {
    return fail(`The connection string is empty; supported schemes: ${supportedSchemes.join(", ")}`)
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase()
  switch (scheme) {
    case "sqlite":
      return parseSqlite(url)
    case "postgresql":
    case "postgres":
      return Either.right({ _tag: "Postgres", url })
    case "memory":
      return Either.right({ _tag: "Memory" })
  }
  return fail(
    `Unsupported connection string ${JSON.stringify(redact(url))}: ${
      scheme === undefined ? "it has no scheme" : `the scheme "${scheme}:" is not supported`
    }; supported schemes: ${supportedSchemes.join(", ")}`
  )
}

const parseSqlite = (url: string): Either.Either<ConnectionString, DatabaseError> => {
  if (!/^sqlite:\/\//i.test(url)) {
    return fail(`Invalid SQLite connection string ${JSON.stringify(redact(url))}: expected sqlite://PATH or sqlite://:memory:`)
  }
  const rest = url.slice("sqlite://".length)
  const queryStart = rest.indexOf("?")
  const path = queryStart === -1 ? rest : rest.slice(0, queryStart)
  const query = new URLSearchParams(queryStart === -1 ? "" : rest.slice(queryStart + 1))
  // SQLite takes no credentials, but a query value may still be a secret: messages show the path only.
  const shown = JSON.stringify(redact(`sqlite://${path}`))
  if (path === "") {
    return fail(`Invalid SQLite connection string ${shown}: no path (use sqlite://:memory: for an in-memory database)`)
  }
  if (path.includes("\u0000")) return fail(`Invalid SQLite connection string: the path contains a NUL character`)
  let synchronous: "full" | "normal" | undefined
  for (const [key, value] of query) {
    if (query.getAll(key).length > 1) {
      return fail(`Invalid SQLite connection string ${shown}: ${JSON.stringify(key)} is given ${query.getAll(key).length} times; give it once`)
    }
    if (key === "synchronous" && (value === "full" || value === "normal")) {
      synchronous = value
    } else if (key === "synchronous") {
      return fail(`Invalid SQLite connection string ${shown}: unsupported value of "synchronous" (supported: synchronous=full|normal)`)
    } else {
      return fail(
        `Invalid SQLite connection string ${shown}: unsupported option ${JSON.stringify(key)} (supported: synchronous=full|normal)`
      )
    }
  }
  return Either.map(
    Either.try({
      try: () => decodeURIComponent(path),
      catch: () => new DatabaseError({ message: `Invalid SQLite connection string ${shown}: malformed percent-encoding in the path` })
    }),
    (filename): ConnectionString => ({ _tag: "Sqlite", filename, synchronous })
  )
}
