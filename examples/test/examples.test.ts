/**
 * Runs every example (`examples/NN-*.ts`) as a child process against a fresh database, twice
 * (examples must run again on the same database), and checks it exits 0 and prints its key lines.
 * The database is a SQLite file, or for the PostgreSQL examples a fresh schema on the server the
 * global setup provides (`pgUrl`); without a server those are skipped, saying why.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { promisify } from "node:util"
import { afterAll, describe, expect, inject, it } from "vitest"

declare module "vitest" {
  // Provided by packages/postgres/test/support/globalSetup.ts (see vitest.config.ts).
  export interface ProvidedContext {
    readonly pgUrl: string
    readonly pgUnavailable: string
  }
}

const examplesDir = Path.resolve(import.meta.dirname, "..")
/**
 * Examples that serve until they are stopped instead of running to the end: not run here. Each
 * has a test file of its own that starts it, calls it and stops it — 03: test/http-api.test.ts
 * (which also runs its one-shot `--demo` mode twice on one database).
 */
const servers = new Set(["03-http-api.ts"])
const examples = Fs.readdirSync(examplesDir).filter((file) => /^\d\d-.*\.ts$/.test(file) && !servers.has(file)).sort()
const tempDir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-examples-"))
afterAll(() => Fs.rmSync(tempDir, { recursive: true, force: true }))

/** Examples that run on PostgreSQL; the others run on SQLite. */
const onPostgres = new Set(["05-postgres.ts", "08-partitioned-projection.ts"])
const pgUrl = inject("pgUrl")

/** A fresh database for one example: a SQLite file, or a PostgreSQL schema of its own. */
const databaseFor = (file: string): string => {
  if (!onPostgres.has(file)) return `sqlite://${Path.join(tempDir, `${file}.db`)}`
  const schema = `examples_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`
  return `${pgUrl}${pgUrl.includes("?") ? "&" : "?"}schema=${schema}`
}

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
  ],
  "05-postgres.ts": [
    /^# EventStore\.layer\(postgresql:\/\/.*\?schema=examples_\w+\)$/m,
    /^acc-\w+ at version 1: balance 100$/m,
    /^its first event is at position \d+$/m,
    /^OptimisticConcurrencyError: Aggregate "acc-\w+": expected version 1, but its version is 2 \(actualVersion = 2\)\nOptimisticConcurrencyError: .* \(actualVersion = 2\)\nsaved at version 2$/m,
    /^live: Deposited on acc-\w+ v3$/m,
    /^live: Deposited on acc-\w+ v4$/m,
    /^live: Deposited on acc-\w+ v5$/m,
    /^done$/m
  ],
  "02-bank-account.ts": [
    /^opened checking-\w+ for Ada \(version 1\)$/m,
    /^deposited 100: balance 100 \(version 2\)$/m,
    /^withdraw 500: refused, InsufficientFunds \(balance 100 < 500\)$/m,
    /^deposit -5: refused, InvalidAmount$/m,
    /^still at version 2$/m,
    // The five tellers read version 2 together: four of them lose the first race.
    /^ {2}teller \d: conflict, the account is at version 3; deciding again$/m,
    /^withdrawals: 3 paid, 2 refused \(insufficient funds\)$/m,
    /^balance 10 at version 5$/m,
    /^MoneyWithdrawn \w{8} on checking: correlation transfer-\w+, caused by -$/m,
    /^MoneyDeposited \w{8} on savings: correlation transfer-\w+, caused by \w{8}$/m,
    /^linked: true$/m,
    /^close savings: refused, BalanceNotZero \(10\)$/m,
    /^closed checking-\w+ at version 7 \(closed\)$/m,
    /^closing again decides nothing: 0 events, version 7$/m,
    /^deposit after closing: refused, AccountIsClosed$/m,
    /^done$/m
  ],
  "08-partitioned-projection.ts": [
    /^three workers share the 8 partitions and caught up with 800 events$/m,
    /^killed worker 1 \(SIGKILL\): its leases expire, the others take its partitions over$/m,
    /^two workers hold every partition and caught up with 1200 events$/m,
    /^worker 4 joined and took its share; 1600 events handled$/m,
    /^read model: 50 accounts, 1600 events, equals a fold of the log$/m,
    /^verify: complete \(8 partitions, nothing missing or doubled\)$/m,
    /^done$/m
  ],
  "06-testing.ts": [
    /^✓ earning adds points, and the store holds what happened$/m,
    /^✓ redeeming more than the balance fails with NotEnoughPoints and stores nothing$/m,
    /^✓ every test starts from an empty store$/m,
    /^✓ concurrent redemptions never overspend: the in-memory store has real optimistic concurrency$/m,
    /^4 passed, 0 failed$/m,
    /^done$/m
  ],
  "07-dependency-injection.ts": [
    /^# live: EventStore\.layerConfig\(sqlite:\/\/.*\), a mailer that sends$/m,
    /^ {2}mail to ada@example\.com: Welcome, Ada$/m,
    /^user-\w+ at version 2; the directory says ada@lovelace\.example$/m,
    /^# test: the same program on InMemoryEventStore\.layer and a mailer that records$/m,
    /^user-\w+ at version 2; the directory says ada@lovelace\.example$/m,
    /^recorded 2 mails:\n {2}ada@example\.com: Welcome, Ada\n {2}ada@lovelace\.example: Your email address changed$/m,
    /^the test store holds 2 events: this test's, nothing else$/m,
    /^DatabaseError: Unsupported connection string "mysql:\/\/localhost\/app"/m,
    /^done$/m
  ]
}

/** Examples that start processes of their own, each loading the library: more time on a loaded machine. */
const slow: Record<string, number> = { "08-partitioned-projection.ts": 150_000 }

const run = (file: string, url: string) =>
  promisify(execFile)(process.execPath, ["--import", "tsx", Path.join(examplesDir, file)], {
    cwd: examplesDir,
    env: { ...process.env, EVENTUALI_URL: url },
    timeout: slow[file] ?? 50_000
  })

describe("examples", () => {
  it("there are examples", () => {
    expect(examples.length).toBeGreaterThan(0)
  })

  it.for(examples)("%s runs, and runs again on the same database", { timeout: 320_000 }, async (file, { skip }) => {
    if (onPostgres.has(file) && pgUrl === "") skip(`no PostgreSQL: ${inject("pgUnavailable")}`)
    const url = databaseFor(file)
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
