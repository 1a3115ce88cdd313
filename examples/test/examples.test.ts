/**
 * Runs every example (`examples/NN-*.ts`) as a child process against a fresh SQLite file, twice
 * (examples must run again on the same database), and checks it exits 0 and prints its key lines.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, it } from "vitest"

const examplesDir = Path.resolve(import.meta.dirname, "..")
const examples = Fs.readdirSync(examplesDir).filter((file) => /^\d\d-.*\.ts$/.test(file)).sort()
const tempDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-examples-"))
afterAll(() => Fs.rmSync(tempDir, { recursive: true, force: true }))

/** Lines each example must print, in this order, besides exiting with 0. */
const keyLines: Record<string, ReadonlyArray<RegExp>> = {
  "01-basic-event-store.ts": [
    /^registered: UserRegistered, UserEmailChanged, OrderCreated, order\.created$/m,
    /^saved user-\w+ at version 1: \{"name":"John","email":"john@example\.com"\}$/m,
    /^updated and saved at version 2: /m,
    /^loaded user-\w+ at version 2: \{"name":"John","email":"john\.doe@example\.com"\}$/m,
    /^load of an unknown id: None$/m,
    /^loadOrFail: AggregateNotFoundError: User "nobody-\w+" not found$/m,
    /^version 1: UserRegistered \(position \d+, /m,
    /^version 2: UserEmailChanged \(position \d+, /m,
    /^ {2}data: UserRegistered John; metadata: \{"correlationId":"signup-\w+","userId":"admin","headers":\{\}\}$/m,
    /^loadEvents\(id, 1\): versions 2$/m,
    /^order\.created decoded as OrderCreated, amount 19\.99$/m,
    /^loadEventsByType\("User", \d+\): UserRegistered, UserEmailChanged$/m,
    /^user-\w+: version 2$/m,
    /^nobody-\w+: absent$/m,
    /^OptimisticConcurrencyError: .*expected version 2, but its version is 3 \(actualVersion = 3\)$/m,
    /^ {2}\S+: conflict, the store is at version 4; retrying$/m,
    /^ {2}\S+: saved at version 5$/m,
    /^both writes kept: versions 4 and 5, final version 5$/m,
    /^done$/m
  ],
  "04-projections.ts": [
    /^account-balances: (no checkpoint yet, starting from the beginning of the log|resuming after position \d+)$/m,
    /^balances after whenCaughtUp:\n {2}acc-\w+-alice: 70\n {2}acc-\w+-bob: 50$/m,
    /^live: Deposited 5 to acc-\w+-alice$/m,
    /^live: Deposited 7 to acc-\w+-bob$/m,
    /^balances after rebuild:\n {2}acc-\w+-alice: 55\n {2}acc-\w+-bob: 57$/m,
    /^done$/m
  ]
}

const run = (file: string, url: string) =>
  promisify(execFile)(process.execPath, ["--import", "tsx", Path.join(examplesDir, file)], {
    cwd: examplesDir,
    env: { ...process.env, EVENTUALI_URL: url },
    timeout: 50_000
  })

describe("examples", () => {
  it("there are examples", () => {
    expect(examples.length).toBeGreaterThan(0)
  })

  it.each(examples)("%s runs, and runs again on the same database", async (file) => {
    const url = `sqlite://${Path.join(tempDir, `${file}.db`)}`
    for (const attempt of [1, 2]) {
      const { stdout } = await run(file, url)
      let rest = stdout
      for (const line of keyLines[file] ?? []) {
        expect(rest, `run ${attempt}: ${line}, after the key lines before it`).toMatch(line)
        rest = rest.slice(rest.search(line))
      }
    }
  })
})
