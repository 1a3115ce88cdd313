/**
 * `export` and `import` move a store between backends without loss: 100,000 events go from
 * SQLite to PostgreSQL and back to a new SQLite file, through the built binary, each step with a
 * small heap (streaming: memory stays flat), and the three exports are equal but for positions.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { SqliteEventStore } from "@eventuali/sqlite"
import { EventStore, ExpectedVersion } from "eventuali"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { expect, it } from "vitest"
import { describePg, freshUrl } from "../../postgres/test/support/pg.js"
import { run, tempDir } from "./support/cli.js"

const AGGREGATES = 2_000
const EVENTS_PER_AGGREGATE = 50
const TOTAL = AGGREGATES * EVENTS_PER_AGGREGATE
/**
 * Each aggregate's events are appended in two runs of 24 and 26, all aggregates taking turns: the
 * log interleaves aggregates, and runs straddle the import's 1000-event batches.
 */
const RUNS = [24, 26] as const

const aggregateTypes = ["Account", "Order", "Customer"] as const

/** A payload of every JSON shape: unicode, escapes, nesting, numbers, empty values. */
const payload = (aggregate: number, version: number) => ({
  amount: (aggregate * 31 + version) / 100,
  count: aggregate * version,
  big: Number.MAX_SAFE_INTEGER - aggregate,
  negative: -version,
  flag: version % 2 === 0,
  nothing: null,
  text: `line one\nline "two" \\ tab\t ünïcödé 😀 #${aggregate}`,
  nested: { list: [version, "x", { deep: [true, null] }], empty: {}, none: [] },
  ...(version === 1 ? { createdBy: `user-${aggregate % 97}` } : {})
})

/** 100,000 events in a new SQLite file, written through the library. */
const populate = (filename: string) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const sql = yield* SqlClient.SqlClient
    const base = Date.UTC(2026, 0, 1)
    let before = 0
    for (const length of RUNS) {
      for (let start = 0; start < AGGREGATES; start += 500) {
        yield* sql.withTransaction(Effect.forEach(
          Array.from({ length: 500 }, (_, i) => start + i),
          (aggregate) =>
            store.append(
              aggregateTypes[aggregate % 3]!,
              `agg-${aggregate}`,
              Array.from({ length }, (_, k) => {
                const version = before + k + 1
                return {
                  eventId: `evt-${aggregate}-${version}`,
                  eventType: `${aggregateTypes[aggregate % 3]!}Changed${version % 4}`,
                  eventVersion: 1 + (version % 3),
                  data: payload(aggregate, version),
                  timestamp: new Date(base + aggregate * 1000 + version),
                  metadata: aggregate % 5 === 0
                    ? { correlationId: `corr-${aggregate}`, causationId: `evt-${aggregate}-${version - 1}`, userId: "ü-ser", headers: { tenant: `t${aggregate % 7}` } }
                    : {}
                }
              }),
              { expectedVersion: ExpectedVersion.exact(before) }
            ),
          { discard: true }
        ))
      }
      before += length
    }
  }).pipe(Effect.provide(SqliteEventStore.layer({ filename, synchronous: "normal" })), Effect.runPromise)

/** The events of an export, one parsed object per line without its position, streamed. */
async function* eventsOf(file: string): AsyncGenerator<unknown> {
  const reader = Readline.createInterface({ input: Fs.createReadStream(file), crlfDelay: Infinity })
  for await (const line of reader) {
    const { position, ...event } = JSON.parse(line) as { readonly position: string }
    expect(position).toMatch(/^[1-9]\d*$/)
    yield event
  }
}

const expectSameEvents = async (left: string, right: string) => {
  const rightEvents = eventsOf(right)
  let count = 0
  for await (const event of eventsOf(left)) {
    const other = await rightEvents.next()
    expect(other.done).toBe(false)
    expect(other.value).toEqual(event)
    count++
  }
  expect((await rightEvents.next()).done).toBe(true)
  return count
}

/** The heap each CLI step gets: far less than 100,000 events held in memory would need. */
const smallHeap = { NODE_OPTIONS: "--max-old-space-size=64" }

const step = async (name: string, args: Array<string>) => {
  // (Timings are printed for the record; they vary 2x with the machine's load.)
  const started = performance.now()
  const result = await run(args, { env: smallHeap })
  expect(result.stderr).toBe("")
  expect(result.code).toBe(0)
  process.stdout.write(`  ${name}: ${((performance.now() - started) / 1000).toFixed(1)} s  ${result.stdout.trim()}\n`)
  return result
}

describePg("export and import", () => {
  it("100,000 events: SQLite → PostgreSQL → SQLite, equal but for positions", async () => {
    const dir = Fs.mkdtempSync(Path.join(tempDir(), "round-trip-"))
    const source = Path.join(dir, "source.db")
    const started = performance.now()
    await populate(source)
    process.stdout.write(`  populate SQLite (library): ${((performance.now() - started) / 1000).toFixed(1)} s\n`)

    const pgUrl = freshUrl("roundtrip")
    const [fromSqlite, fromPg, fromSqliteAgain] = ["1-sqlite", "2-pg", "3-sqlite"].map((name) => Path.join(dir, `${name}.ndjson`))
    await step("export SQLite", ["export", "--url", `sqlite://${source}`, "--output", fromSqlite!])
    const intoPg = await step("import into PostgreSQL", ["import", fromSqlite!, "--url", pgUrl])
    expect(intoPg.stdout).toMatch(/^Imported 100,000 events \(100,000 new, 0 already stored\)/)
    await step("export PostgreSQL", ["export", "--url", pgUrl, "--output", fromPg!])
    const target = `sqlite://${Path.join(dir, "target.db")}`
    await step("import into SQLite", ["import", fromPg!, "--url", target])
    await step("export SQLite again", ["export", "--url", target, "--output", fromSqliteAgain!])

    expect(await expectSameEvents(fromSqlite!, fromPg!)).toBe(TOTAL)
    expect(await expectSameEvents(fromSqlite!, fromSqliteAgain!)).toBe(TOTAL)
    const stats = JSON.parse((await run(["stats", "--url", target, "--json"])).stdout)
    expect(stats).toMatchObject({ events: TOTAL, aggregates: AGGREGATES })
  }, 180_000)
})
