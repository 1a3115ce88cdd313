/**
 * Every TypeScript sample in the docs (`docs/**\/*.md`) and the root README is a complete program:
 * this test type-checks them all, runs each one, and checks it prints what its comments say.
 *
 * - A block fenced with exactly ```ts is a sample: type-checked and run.
 * - ```ts no-run is type-checked only.
 * - A sample that connects to PostgreSQL (a `"postgres://…"` or `"postgresql://…"` string in its
 *   code) runs on the test run's server (packages/postgres/test/support/globalSetup.ts): each such
 *   URL becomes one on that server, in a schema of its own (its `?schema=` name, made unique), so
 *   runs never see each other's events. Without a server these are skipped, saying why.
 * - Anything else (```ts signature for signatures and fragments, other languages) is left out.
 * - `// => text` at the end of a line says the sample prints the line `text` (in that order
 *   with the other `// =>` lines of the block).
 * - A sample that imports from `@effect/vitest`, `vitest` or `@eventuali/testing/vitest` is a test
 *   file: it is run with vitest, and every test in it must pass (there must be at least one).
 *   (`@eventuali/testing` itself loads in plain Node: a sample using only it is a program.)
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"

declare module "vitest" {
  // Provided by packages/postgres/test/support/globalSetup.ts (see vitest.config.ts).
  export interface ProvidedContext {
    readonly pgUrl: string
    readonly pgUnavailable: string
  }
}

const root = Path.resolve(import.meta.dirname, "../..")

interface Sample {
  readonly name: string
  readonly file: string
  readonly code: string
  readonly expected: ReadonlyArray<string>
  readonly run: boolean
  readonly isTest: boolean
  readonly onPostgres: boolean
}

/** A PostgreSQL connection string written in a sample's code (not one in a comment). */
const postgresUrl = /"postgres(?:ql)?:\/\/[^"]*"/g

const pgUrl = inject("pgUrl")

/**
 * The sample with each PostgreSQL URL replaced by one on the test server. The schema keeps the
 * sample's name for it (so two URLs with two schemas stay two stores) with a suffix unique to
 * this run.
 */
const onTestServer = (code: string): string => {
  const suffix = crypto.randomUUID().replaceAll("-", "").slice(0, 12)
  return code.replace(postgresUrl, (literal) => {
    const schema = /[?&]schema=(\w+)/.exec(literal)?.[1] ?? "docs"
    return JSON.stringify(`${pgUrl}${pgUrl.includes("?") ? "&" : "?"}schema=${schema}_${suffix}`)
  })
}

const markdownFiles = (dir: string): Array<string> =>
  Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = Path.join(dir, entry.name)
    return entry.isDirectory() ? markdownFiles(path) : entry.name.endsWith(".md") ? [path] : []
  })

const samplesOf = (markdownPath: string): Array<Sample> => {
  const doc = Path.relative(root, markdownPath)
  const lines = Fs.readFileSync(markdownPath, "utf8").split("\n")
  const samples: Array<Sample> = []
  for (let i = 0; i < lines.length; i++) {
    const fence = lines[i]!.trimEnd()
    if (fence !== "```ts" && fence !== "```ts no-run") continue
    const start = i + 1
    let end = start
    while (end < lines.length && lines[end]!.trimEnd() !== "```") end++
    const code = lines.slice(start, end).join("\n") + "\n"
    const expected = lines.slice(start, end).flatMap((line) => {
      const match = /\/\/ => (.*)$/.exec(line)
      return match === null ? [] : [match[1]!.trim()]
    })
    const name = `${doc}:${start}`
    const isTest = /from "(@effect\/vitest|vitest|@eventuali\/testing\/vitest)"/.test(code)
    const file = `${doc.replace(/\.md$/, "").replace(/[^A-Za-z0-9]+/g, "-")}-${start}${isTest ? ".test" : ""}.ts`
    const run = fence === "```ts"
    samples.push({ name, file, code, expected, run, isTest, onPostgres: new RegExp(postgresUrl).test(code) })
    i = end
  }
  return samples
}

const documents = [Path.join(root, "README.md"), ...markdownFiles(Path.join(root, "docs"))].filter((path) =>
  Fs.existsSync(path)
)
const samples = documents.flatMap(samplesOf)
const exec = promisify(execFile)

// Inside `examples/`, so the samples resolve `eventuali` and `effect` like the examples do; one
// directory per run, so runs in the same tree do not trip over each other.
let samplesDir = ""

beforeAll(() => {
  samplesDir = Fs.mkdtempSync(Path.join(root, "examples", ".docs-samples-"))
  Fs.writeFileSync(Path.join(samplesDir, ".gitignore"), "*\n")
  for (const sample of samples) {
    const runsOnServer = sample.run && sample.onPostgres && pgUrl !== ""
    Fs.writeFileSync(Path.join(samplesDir, sample.file), runsOnServer ? onTestServer(sample.code) : sample.code)
  }
  Fs.writeFileSync(Path.join(samplesDir, "vitest.config.mjs"), `export default { test: { include: ["*.test.ts"] } }\n`)
  Fs.writeFileSync(
    Path.join(samplesDir, "tsconfig.json"),
    JSON.stringify({
      extends: "../../tsconfig.base.json",
      compilerOptions: {
        noEmit: true,
        composite: false,
        incremental: false,
        declaration: false,
        declarationMap: false,
        // A sample may define a layer or a value only to show it.
        noUnusedLocals: false,
        noUnusedParameters: false
      },
      include: ["*.ts"]
    })
  )
})

afterAll(() => Fs.rmSync(samplesDir, { recursive: true, force: true }))

describe("docs samples", () => {
  it("there are samples", () => {
    expect(samples.length).toBeGreaterThan(0)
  })

  // tsc over a hundred samples, a sample's run, whole conformance suites under vitest: seconds
  // to tens of seconds alone, minutes on a machine shared with other work.
  it("type-check", { timeout: 300_000 }, async () => {
    const tsc = Path.join(root, "node_modules", "typescript", "bin", "tsc")
    const result = await exec(process.execPath, [tsc, "-p", samplesDir], { cwd: samplesDir }).catch(
      (error: { stdout: string }) => ({ stdout: error.stdout })
    )
    expect(result.stdout).toBe("")
  })

  const runnable = samples.filter((sample) => sample.run && !sample.isTest)
  it.concurrent.for(runnable.map((sample) => [sample.name, sample] as const))("%s runs", { timeout: 300_000 }, async ([, sample], { skip }) => {
    if (sample.onPostgres && pgUrl === "") skip(`no PostgreSQL: ${inject("pgUnavailable")}`)
    const { stdout } = await exec(process.execPath, ["--import", "tsx", sample.file], {
      cwd: samplesDir,
      timeout: 280_000
    })
    const printed = stdout.split("\n").map((line) => line.trim())
    let from = 0
    for (const line of sample.expected) {
      const index = printed.indexOf(line, from)
      expect(index, `prints ${JSON.stringify(line)} (after the lines before it), got:\n${stdout}`).toBeGreaterThanOrEqual(0)
      from = index + 1
    }
  })

  const tests = samples.filter((sample) => sample.run && sample.isTest)
  it.concurrent.for(tests.map((sample) => [sample.name, sample] as const))("%s passes under vitest", { timeout: 300_000 }, async ([, sample], { skip }) => {
    if (sample.onPostgres && pgUrl === "") skip(`no PostgreSQL: ${inject("pgUnavailable")}`)
    const vitest = Path.join(root, "node_modules", "vitest", "vitest.mjs")
    // A vitest of its own, not a worker of this one.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith("VITEST") && key !== "FORCE_COLOR")
    )
    const { stdout } = await exec(process.execPath, [vitest, "run", sample.file, "--reporter=verbose"], {
      cwd: samplesDir,
      env: { ...env, NO_COLOR: "1" },
      timeout: 280_000
    })
    expect(stdout, `its tests pass, got:\n${stdout}`).toMatch(/Tests\s+\d+ passed \(\d+\)/)
  })
})
