/**
 * `eventuali forget SUBJECT` as a user runs it, on a SQLite file written by the library with
 * personal data: refused without --yes off a terminal, then the subject's fields read as their
 * replacements (also in `export`), another subject's are intact.
 */
import { Aggregate, EventStore, Privacy } from "eventuali"
import { Effect, Schema } from "effect"
import { describe, expect, it } from "vitest"
import { lines, run, sqliteUrl } from "./support/cli.js"

class Registered extends Schema.TaggedClass<Registered>()("Registered", {
  email: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "erased@invalid" }))
}) {}
const User = Aggregate.make({ type: "User", events: [Registered], initialState: "", evolve: (_, event) => event.email })

const register = (url: string, ids: ReadonlyArray<string>) =>
  Effect.runPromise(Effect.gen(function*() {
    const store = yield* EventStore
    for (const id of ids) yield* store.save(Aggregate.apply(Aggregate.empty(User, id), new Registered({ email: `${id}@example.com` })))
  }).pipe(Effect.provide(EventStore.layer(url))))

describe("eventuali forget", () => {
  it("refuses without --yes when not on a terminal; with it destroys the keys: export shows the replacement, others intact", async () => {
    const url = sqliteUrl("forget")
    await register(url, ["ada", "bob"])
    const refused = await run(["forget", "ada", "--url", url])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain("Refused: pass --yes")
    const exported = lines((await run(["export", "--url", url])).stdout)
    expect(exported.map((event) => (event["data"] as { readonly email: string }).email)).toEqual(["ada@example.com", "bob@example.com"])

    const forgotten = await run(["forget", "ada", "--yes", "--json", "--url", url])
    expect(forgotten.code).toBe(0)
    expect(lines(forgotten.stdout)).toEqual([{ subject: "ada", forgotten: true }])
    const after = lines((await run(["export", "--url", url])).stdout)
    expect(after.map((event) => (event["data"] as { readonly email: string }).email)).toEqual(["erased@invalid", "bob@example.com"])

    const again = await run(["forget", "ada", "-y", "--url", url])
    expect(again.code).toBe(0)
    expect(again.stdout).toContain("had no keys")
  }, 60_000)

  it("--help describes it", async () => {
    const help = await run(["forget", "--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("--yes")
  })
})
