/**
 * The CLI never prints a password: every command given a PostgreSQL URL with a password, for a
 * server that is not there, one with a wrong password, and through EVENTUALI_URL, prints neither
 * the password nor its encoded forms, on stdout or stderr.
 */
import { describe, expect, it } from "vitest"
import { describePg, serverUrl } from "../../postgres/test/support/pg.js"
import { run } from "./support/cli.js"

const secret = "S3cr3t-p@ss/w#rd"
const encoded = encodeURIComponent(secret)

/** Every form in which the password could leak. */
const forms = [secret, encoded, "S3cr3t", "p@ss", "w#rd"]

const expectHidden = (result: { readonly stdout: string; readonly stderr: string }) => {
  for (const form of forms) {
    expect(result.stdout, `stdout shows ${form}`).not.toContain(form)
    expect(result.stderr, `stderr shows ${form}`).not.toContain(form)
  }
}

const commands: ReadonlyArray<ReadonlyArray<string>> = [
  ["health"],
  ["init"],
  ["stats"],
  ["events", "--limit", "1"],
  ["export"],
  ["projections"],
  ["bench", "--operations", "1"]
]

describe("eventuali never prints a password", () => {
  it("health --url postgresql://u:secret@127.0.0.1:1/db: exit 1, an error naming the server, no password", async () => {
    const result = await run(["health", "--url", `postgresql://u:${encoded}@127.0.0.1:1/db`])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/postgresql:\/\/u:\*\*\*@127\.0\.0\.1:1\/db/)
    expectHidden(result)
  })

  it("a password that is also a word of the URL masks the password only: postgresql://postgres:***@…, not ***ql://***:***@…", async () => {
    const result = await run(["health", "--url", "postgresql://postgres:postgres@127.0.0.1:1/db"])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("Cannot connect to PostgreSQL at postgresql://postgres:***@127.0.0.1:1/db:")
  })

  it.each(commands)("%s with a password in --url or EVENTUALI_URL, for a server that is not there: no password", async (...args) => {
    // Encoded as a URL should be, and raw (a generated password with "@", "/" and "#").
    for (const url of [`postgresql://u:${encoded}@127.0.0.1:1/db`, `postgres://u:${encoded}@127.0.0.1:1/db?sslmode=disable`, `postgresql://u:${secret}@127.0.0.1:1/db`]) {
      expectHidden(await run([...args, "--url", url]))
      expectHidden(await run([...args], { env: { EVENTUALI_URL: url } }))
    }
  })
})

describePg("eventuali never prints a password (PostgreSQL)", () => {
  it.each(commands)("%s with a wrong password: no password", async (...args) => {
    const url = new URL(serverUrl)
    url.password = encoded
    const result = await run([...args, "--url", url.toString()])
    expect(result.code).not.toBe(0)
    expectHidden(result)
  })
})
