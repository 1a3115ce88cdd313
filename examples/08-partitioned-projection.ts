/**
 * 08 — A partitioned projection in three processes, one of them killed: 8 partitions of an
 * account-balance read model shared by worker processes through leases in the store's database;
 * one worker is killed with SIGKILL midway (its leases expire and the others take its partitions
 * over), a fourth joins and takes its share, and at the end the read model matches the log and
 * `Projection.verify` proves every event was handled exactly once.
 *
 *   EVENTUALI_URL='postgresql://user:password@localhost:5432/app?schema=examples' npx tsx examples/08-partitioned-projection.ts
 *
 * The same file is the worker (`--worker`): the main process starts it three times. It runs on
 * SQLite files too (processes share a file the same way).
 */
import { NodeRuntime } from "@effect/platform-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { type ChildProcess, spawn } from "node:child_process"
import { Config, Console, Duration, Effect, Redacted, Schedule } from "effect"
import { EventStore, Projection } from "eventuali"

const NAME = "partitioned-balances"
const TABLE = "partitioned_balances"

const amountOf = (data: unknown): number =>
  typeof data === "object" && data !== null && "amount" in data && typeof data.amount === "number" ? data.amount : 0

/** The projection: 8 partitions by account id, each balance upserted in the batch's transaction. */
const Balances = Projection.make({
  name: NAME,
  aggregateTypes: ["Account"],
  partitions: 8,
  leaseDuration: "2 seconds", // a killed worker's partitions are taken over within about 2.7 s
  handle: (event) =>
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      sql`INSERT INTO ${sql(TABLE)} (account_id, balance, events) VALUES (${event.aggregateId}, ${amountOf(event.data)}, 1)
        ON CONFLICT (account_id) DO UPDATE SET balance = ${sql(TABLE)}.balance + excluded.balance, events = ${sql(TABLE)}.events + 1`)
})

const url = Config.redacted("EVENTUALI_URL").pipe(Config.withDefault(Redacted.make("sqlite://.data/partitioned.db")))

const createTable = Effect.flatMap(SqlClient.SqlClient, (sql) =>
  sql`CREATE TABLE IF NOT EXISTS ${sql(TABLE)} (account_id TEXT PRIMARY KEY, balance BIGINT NOT NULL, events BIGINT NOT NULL)`)

/** A worker: runs the projection until it is stopped (SIGTERM: gives its partitions up) or killed. */
const worker = (label: string) =>
  Effect.gen(function*() {
    const running = yield* Projection.run(Balances)
    let shown = ""
    yield* Effect.repeat(
      Effect.gen(function*() {
        const status = yield* running.status
        const held = status.held.join(",")
        if (held !== shown) yield* Console.log(`worker ${label} (${status.instance}) holds partitions [${held}]`)
        shown = held
      }),
      Schedule.spaced("200 millis")
    )
  }).pipe(Effect.scoped)

/** Every worker started, so that none outlives the main process whatever happens. */
const children: Array<ChildProcess> = []

const startWorker = (label: string): ChildProcess => {
  const child = spawn(process.execPath, [...process.execArgv, import.meta.filename, "--worker", label], {
    env: process.env,
    stdio: ["ignore", "pipe", "inherit"]
  })
  child.stdout?.on("data", (chunk: Buffer) => process.stdout.write(chunk))
  children.push(child)
  return child
}

const exited = (child: ChildProcess) =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
  })

const appendDeposits = (accounts: ReadonlyArray<string>, writers: number, perWriter: number) =>
  Effect.flatMap(EventStore, (store) =>
    Effect.all(
      Array.from({ length: writers }, (_, writer) =>
        Effect.forEach(Array.from({ length: perWriter }, (_, i) => i), (i) =>
          store.append("Account", accounts[(writer * perWriter + i) % accounts.length]!, [{ eventType: "Deposited", data: { amount: 1 + (i % 5) } }]), { discard: true })),
      { concurrency: "unbounded", discard: true }
    ))

/** Waits until every partition is held by one of `live` and none lags. */
const settled = (live: () => ReadonlyArray<string>) =>
  Effect.repeat(
    Effect.map(Projection.status(NAME), (status) =>
      status.partitionStatus.every((partition) => partition.holder !== undefined && live().includes(partition.holder) && partition.lagEvents === 0)),
    { until: (done) => done, schedule: Schedule.spaced("100 millis") }
  ).pipe(Effect.timeoutFail({ duration: Duration.seconds(40), onTimeout: () => new Error("the workers did not settle within 40 s") }))

const main = Effect.gen(function*() {
  yield* createTable
  // Registers the projection (8 partitions) before the workers start, so status works at once.
  yield* Effect.scoped(Projection.run(Balances))
  const run = crypto.randomUUID().slice(0, 8)
  const accounts = Array.from({ length: 50 }, (_, i) => `acc-${run}-${i}`)

  const instances = new Map<ChildProcess, string>()
  const launch = (label: string) => {
    const child = startWorker(label)
    child.stdout?.on("data", (chunk: Buffer) => {
      const match = /\((\S+)\) holds/.exec(chunk.toString())
      if (match !== null) instances.set(child, match[1]!)
    })
    return child
  }
  const live = () => [...instances].filter(([child]) => child.exitCode === null && child.signalCode === null).map(([, id]) => id)

  const workers = ["1", "2", "3"].map(launch)
  yield* appendDeposits(accounts, 8, 100)
  yield* settled(live)
  yield* Console.log("three workers share the 8 partitions and caught up with 800 events")

  workers[0]!.kill("SIGKILL")
  yield* exited(workers[0]!)
  yield* Console.log("killed worker 1 (SIGKILL): its leases expire, the others take its partitions over")
  yield* appendDeposits(accounts, 8, 50)
  yield* settled(live)
  yield* Console.log("two workers hold every partition and caught up with 1200 events")

  const joined = launch("4")
  yield* appendDeposits(accounts, 4, 100)
  yield* settled(live)
  yield* Effect.repeat(Effect.sync(() => live().length), { until: (n) => n === 3, schedule: Schedule.spaced("100 millis") })
  yield* Console.log("worker 4 joined and took its share; 1600 events handled")

  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql<{ readonly account_id: string; readonly balance: number | string; readonly events: number | string }>`
    SELECT account_id, balance, events FROM ${sql(TABLE)} WHERE ${sql.in("account_id", accounts)}`
  const store = yield* EventStore
  const expected = new Map<string, { balance: number; events: number }>()
  for (const account of accounts) {
    for (const event of yield* store.loadEvents(account)) {
      const total = expected.get(account) ?? { balance: 0, events: 0 }
      expected.set(account, { balance: total.balance + amountOf(event.data), events: total.events + 1 })
    }
  }
  const matches = rows.length === accounts.length &&
    rows.every((row) => expected.get(row.account_id)?.balance === Number(row.balance) && expected.get(row.account_id)?.events === Number(row.events))
  yield* Console.log(`read model: ${rows.length} accounts, ${rows.reduce((sum, row) => sum + Number(row.events), 0)} events, ${matches ? "equals" : "DIFFERS FROM"} a fold of the log`)

  const verification = yield* Projection.verify(NAME)
  yield* Console.log(`verify: ${verification.complete ? "complete" : "INCOMPLETE"} (${verification.partitions.length} partitions, nothing missing or doubled)`)

  for (const child of [workers[1]!, workers[2]!, joined]) child.kill("SIGTERM")
  yield* Effect.forEach([workers[1]!, workers[2]!, joined], exited, { discard: true })
  yield* Console.log("done")
}).pipe(Effect.ensuring(Effect.sync(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})))

const label = process.argv.indexOf("--worker")
const program = label >= 0 ? worker(process.argv[label + 1] ?? "?") : main

NodeRuntime.runMain(
  Effect.flatMap(url, (url) => program.pipe(Effect.provide(EventStore.layerSql(url)))),
  { disablePrettyLogger: true }
)
