/**
 * Runs the built `eventuali` binary as a subprocess, in a temporary directory of the test file.
 */
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { afterAll } from "vitest"

export const binPath = Path.resolve(import.meta.dirname, "../../dist/bin.js")

export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  /** Written to the process's standard input (closed after). */
  readonly input?: string
  /**
   * Added to the environment. EVENTUALI_URL, COLUMNS, NO_COLOR and FORCE_COLOR are removed unless
   * given here: the tests see the defaults whatever the shell that runs them.
   */
  readonly env?: Record<string, string>
  readonly cwd?: string
}

const environment = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const { EVENTUALI_URL: _url, COLUMNS: _columns, NO_COLOR: _noColor, FORCE_COLOR: _forceColor, ...rest } = process.env
  return { ...rest, ...extra }
}

/** Starts `eventuali ...args`; the caller collects its output. */
export const start = (args: ReadonlyArray<string>, options: RunOptions = {}): ChildProcess =>
  spawn(process.execPath, [binPath, ...args], {
    cwd: options.cwd ?? tempDir(),
    env: environment(options.env),
    stdio: ["pipe", "pipe", "pipe"]
  })

/** Collects a started process's output until it exits. */
export const collect = (child: ChildProcess): Promise<Result> =>
  new Promise((resolve, reject) => {
    let stdout = ""
    let stderr = ""
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
    child.on("error", reject)
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }))
  })

/** Runs `eventuali ...args` to completion. */
export const run = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Result> => {
  const child = start(args, options)
  const result = collect(child)
  child.stdin!.end(options.input ?? "")
  return result
}

/**
 * Runs `eventuali ...args` with a terminal as its standard output (util-linux's `script` gives it
 * one), to see what a person at a terminal sees; stdout and stderr arrive together.
 */
export const runOnTerminal = (args: ReadonlyArray<string>, options: RunOptions = {}): Promise<Result> => {
  const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`
  const child = spawn("script", ["-qec", [process.execPath, binPath, ...args].map(quote).join(" "), "/dev/null"], {
    cwd: options.cwd ?? tempDir(),
    env: environment(options.env),
    stdio: ["pipe", "pipe", "pipe"]
  })
  const result = collect(child)
  child.stdin!.end()
  return result
}

/** Resolves when the process has written `text` to stderr. */
export const waitForStderr = (child: ChildProcess, text: string, timeoutMs = 20_000): Promise<void> =>
  new Promise((resolve, reject) => {
    let seen = ""
    const timer = setTimeout(() => reject(new Error(`no ${JSON.stringify(text)} on stderr within ${timeoutMs} ms: ${seen}`)), timeoutMs)
    child.stderr!.on("data", (chunk: Buffer | string) => {
      seen += chunk.toString()
      if (seen.includes(text)) {
        clearTimeout(timer)
        resolve()
      }
    })
  })

const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-cli-"))
afterAll(() => Fs.rmSync(directory, { recursive: true, force: true }))

/** A temporary directory for this test file, removed after it. */
export const tempDir = (): string => directory

/** A `sqlite://` URL of a fresh file in the temporary directory. */
export const sqliteUrl = (name: string): string => `sqlite://${Path.join(tempDir(), `${name}-${crypto.randomUUID().slice(0, 8)}.db`)}`

/** Parses NDJSON output. */
export const lines = (text: string): Array<Record<string, unknown>> =>
  text.split("\n").filter((line) => line.trim() !== "").map((line) => JSON.parse(line) as Record<string, unknown>)
