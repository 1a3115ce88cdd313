/**
 * A primary and a streaming replica for one test file (support/replica.ts): started before its
 * first test, disposed after its last. Apart from support/replica.ts, which the benchmarks import
 * without a test runner.
 */
import { afterAll, beforeAll } from "vitest"
import { type ReplicatedServers, startReplicated } from "./replica.js"

/** The file's servers, once `beforeAll` has started them. */
export const replicatedServers = (): () => ReplicatedServers => {
  let servers: ReplicatedServers | undefined
  beforeAll(async () => {
    servers = await startReplicated()
  }, 120_000)
  afterAll(async () => {
    await servers?.dispose()
  })
  return () => {
    if (servers === undefined) throw new Error("the replicated servers are started in beforeAll")
    return servers
  }
}
