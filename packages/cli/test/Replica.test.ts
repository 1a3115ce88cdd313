/**
 * `--replica`: the reading commands read on a streaming replica of the server of `--url`
 * (a real primary and hot standby, `postgres/test/support/replica.ts`).
 */
import { describe, expect, it } from "vitest"
import { query, replicaCaughtUp } from "../../postgres/test/support/replica.js"
import { replicatedServers } from "../../postgres/test/support/replicaFixture.js"
import { run } from "./support/cli.js"
import { append, seed } from "./support/seed.js"

const started = replicatedServers()

const lines = (stdout: string) => stdout.split("\n").filter((line) => line !== "")

describe("eventuali --replica", () => {
  it("events reads on the replica (export and tail open the store the same way); --replica needs PostgreSQL", async () => {
    const servers = started()
    const url = `${servers.primaryUrl}?schema=cli_replica`
    await seed(url)
    await replicaCaughtUp(servers)
    const onReplica = await run(["events", "--url", url, "--replica", servers.replicaUrl, "--json"])
    expect(onReplica.stderr).toBe("")
    expect(lines(onReplica.stdout)).toHaveLength(4)

    // With the replica's replay paused, a fifth event is on the primary only.
    await query(servers.replicaUrl, "SELECT pg_wal_replay_pause()")
    try {
      await append(url, "Order", "o2", [{ eventType: "OrderPlaced", data: { total: "1.00", items: [] } }])
      expect(lines((await run(["events", "--url", url, "--replica", servers.replicaUrl, "--json"])).stdout)).toHaveLength(4)
      expect(lines((await run(["events", "--url", url, "--json"])).stdout)).toHaveLength(5)
    } finally {
      await query(servers.replicaUrl, "SELECT pg_wal_replay_resume()")
    }

    const notPostgres = await run(["events", "--url", "memory://", "--replica", servers.replicaUrl])
    expect(notPostgres.code).toBe(1)
    expect(notPostgres.stderr).toContain("--replica needs a PostgreSQL server")
  }, 120_000)
})
