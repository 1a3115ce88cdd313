/**
 * The store creates a file's missing parent directories, and fails with DatabaseError — in
 * bounded time — where it cannot. Node 20's recursive mkdir loops forever under `/proc`, so each
 * case opens the store in a child process with a deadline: a regression fails, it does not hang.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as NodeFs from "node:fs"
import { createRequire } from "node:module"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { promisify } from "node:util"

const openScript = fileURLToPath(new URL("./fixtures/openStore.ts", import.meta.url))
const packageDirectory = fileURLToPath(new URL("..", import.meta.url))
const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href

/** What opening the store on `filename` printed; fails if it takes longer than 15 s. */
const open = async (filename: string): Promise<string> => {
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", tsxLoader, openScript, filename], {
    cwd: packageDirectory,
    timeout: 15_000
  })
  return stdout.trim()
}

describe("SqliteEventStore directories", () => {
  it.skipIf(!NodeFs.existsSync("/proc/self"))("a file under /proc fails with DatabaseError instead of hanging", async () => {
    const printed = await open("/proc/nope/x.db")
    expect(printed).toMatch(/^DatabaseError: Cannot open SQLite database "\/proc\/nope\/x\.db": /)
  }, 20_000)

  it("missing parent directories are created", async () => {
    const base = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "eventuali-dirs-"))
    try {
      const filename = NodePath.join(base, "a", "b", "events.db")
      expect(await open(filename)).toBe("opened")
      expect(NodeFs.existsSync(filename)).toBe(true)
    } finally {
      NodeFs.rmSync(base, { recursive: true, force: true })
    }
  }, 20_000)

  it("a parent that is a regular file fails with DatabaseError", async () => {
    const base = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "eventuali-dirs-"))
    try {
      NodeFs.writeFileSync(NodePath.join(base, "file"), "")
      const printed = await open(NodePath.join(base, "file", "sub", "events.db"))
      expect(printed).toMatch(/^DatabaseError: .*not a directory/)
    } finally {
      NodeFs.rmSync(base, { recursive: true, force: true })
    }
  }, 20_000)
})
