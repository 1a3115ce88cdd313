/**
 * Bad connection strings and credentials through the front door: each fails with a
 * DatabaseError that says what is wrong, quickly, never a defect and never showing a password.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Layer } from "effect"
import { EventStore } from "eventuali"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { describePg, freshSchema, serverUrl } from "../../postgres/test/support/pg.js"

/** Builds the layer; succeeds with the failure's message and every way it could be shown. */
const failureOf = (url: unknown) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(Effect.scoped(Layer.build(EventStore.layer(url as string)))).pipe(
      Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("no answer within 20 seconds") })
    )
    if (Exit.isSuccess(exit)) return expect.fail(`${String(url)}: expected a DatabaseError, but the store opened`)
    expect(Cause.isDie(exit.cause), Cause.pretty(exit.cause)).toBe(false)
    const error = Cause.squash(exit.cause) as { readonly _tag: string; readonly message: string }
    expect(error._tag, error.message).toBe("DatabaseError")
    return { message: error.message, shown: [error.message, String(error), JSON.stringify(error), Cause.pretty(exit.cause)] }
  })

const expectHidden = (shown: ReadonlyArray<string>, secret: string) => {
  for (const text of shown) expect(text).not.toContain(secret)
}

const directory = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "eventuali-bad-urls-"))
const regularFile = NodePath.join(directory, "a-file")
NodeFs.writeFileSync(regularFile, "not a database")

describe("EventStore.layer with a bad connection string", () => {
  it.live.each([
    ["a number instead of a string", 42, /connection string is empty/],
    ["null", null, /connection string is empty/],
    ["a scheme without a path", "sqlite://", /no path/],
    ["a relative path after sqlite: without slashes", "sqlite:events.db", /expected sqlite:\/\/PATH/],
    ["a file that is not a database", `sqlite://${regularFile}`, new RegExp(`Cannot open SQLite database .*a-file`)],
    ["a directory", `sqlite://${directory}`, /Cannot open SQLite database/],
    ["a path under a regular file", `sqlite://${regularFile}/x.db`, /is not a directory/],
    ["a path under /dev/null", "sqlite:///dev/null/x.db", /is not a directory/],
    ["the root directory", "sqlite:///", /Cannot open SQLite database/],
    ["a NUL in the path", "sqlite://ev\u0000ents.db", /contains a NUL/],
    ["an unknown SQLite option with a secret value", "sqlite://x.db?key=s3cret", /unsupported option "key"/],
    ["a synchronous setting that is neither full nor normal", "sqlite://x.db?synchronous=s3cret", /"sqlite:\/\/x\.db": unsupported value of "synchronous" \(supported: synchronous=full\|normal\)$/],
    ["an unknown scheme", "mongodb://bob:s3cret@host/db", /the scheme "mongodb:" is not supported; supported schemes: sqlite:\/\/, postgresql:\/\/, postgres:\/\//],
    ["a file URL", "file:///tmp/events.db", /the scheme "file:" is not supported/],
    ["a scheme only", "postgresql:", /Cannot connect to PostgreSQL|Unsupported|Invalid/],
    ["a port that is not a number", "postgresql://bob:s3cret@127.0.0.1:port/db", /Cannot connect to PostgreSQL at postgresql:\/\/bob:\*\*\*@/],
    ["a port out of range", "postgresql://bob:s3cret@127.0.0.1:70000/db", /Cannot connect to PostgreSQL/],
    ["an unterminated IPv6 host", "postgresql://bob:s3cret@[::1/db", /Cannot connect to PostgreSQL/],
    ["a closed port", "postgres://bob:s3cret@127.0.0.1:1/db", /Cannot connect to PostgreSQL at postgres:\/\/bob:\*\*\*@127\.0\.0\.1:1\/db/],
    ["an invalid schema name", "postgresql://bob:s3cret@127.0.0.1:1/db?schema=x%22%3B%20drop", /Invalid schema name "x\\"; drop"/],
    // Which of two values was meant cannot be known: one would otherwise silently win.
    ["a repeated SQLite option", "sqlite://x.db?synchronous=full&synchronous=normal", /"sqlite:\/\/x\.db": "synchronous" is given 2 times; give it once$/],
    ["a repeated ?schema=", "postgresql://bob:s3cret@127.0.0.1:1/db?schema=a&schema=b", /^Invalid connection string postgresql:\/\/bob:\*\*\*@127\.0\.0\.1:1\/db\?schema=a&schema=b: \?schema= is given 2 times; give it once$/]
  ] as const)("%s: DatabaseError saying so, the password hidden", ([, url, message]) =>
    Effect.gen(function*() {
      const failure = yield* failureOf(url)
      expect(failure.message).toMatch(message)
      expectHidden(failure.shown, "s3cret")
    }))

  it.effect("an upper-case scheme is a scheme: SQLITE://:memory: opens", () =>
    Effect.scoped(Effect.map(Layer.build(EventStore.layer("SQLITE://:memory:")), () => undefined)))
})

describePg("EventStore.layer with bad PostgreSQL credentials", () => {
  const withUrl = (change: (url: URL) => void) => {
    const url = new URL(serverUrl)
    change(url)
    return url.toString()
  }

  const cases: ReadonlyArray<readonly [string, (url: URL) => void, RegExp, string | undefined]> = [
    ["a wrong password", (url) => {
      url.password = "wr0ng-s3cret"
    }, /password authentication failed/, "wr0ng-s3cret"],
    ["a user that does not exist", (url) => {
      url.username = freshSchema("nobody")
      url.password = "s3cret"
    }, /nobody_/, "s3cret"],
    ["a database that does not exist", (url) => {
      url.pathname = `/${freshSchema("nodb")}`
    }, /database "nodb_.*" does not exist/, undefined]
  ]

  it.live.each(cases)("%s: DatabaseError saying so, the password hidden", ([, change, message, secret]) =>
    Effect.gen(function*() {
      const failure = yield* failureOf(withUrl(change))
      expect(failure.message).toMatch(message)
      if (secret !== undefined) expectHidden(failure.shown, secret)
    }))
})
