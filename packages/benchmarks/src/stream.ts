/**
 * (f) Reading 1,000,000 events by type through the streaming read, in a process of its own so its
 * peak RSS is its own: `tsx src/stream.ts ours|raw FILE` prints `{ rate, maxRssMb }`. `prepare FILE
 * COUNT` writes the events first (raw inserts in large transactions, the store's own schema).
 */
import { SqliteEventStore } from "@eventuali/sqlite"
import { SqlBackend } from "@eventuali/sql"
import Database from "better-sqlite3"
import { Effect, Stream } from "effect"
import { depositJson } from "./domain.js"

const [mode, file, countArg] = process.argv.slice(2)

const prepare = async (count: number) => {
  // The store's own schema, migrated by the store (and recorded as migrated: a migration that
  // adds a column cannot run twice).
  await Effect.runPromise(Effect.scoped(SqliteEventStore.make({ filename: file! })))
  const db = new Database(file!)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  const insert = db.prepare(`INSERT INTO eventuali_events (event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
    VALUES (?, ?, 'Account', ?, 'Deposited', 1, ?, '{"headers":{}}', ?)`)
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) insert.run(`e-${i}`, `acc-${Math.floor(i / 100)}`, (i % 100) + 1, depositJson(i), Date.now())
  })
  for (let from = 0; from < count; from += 50_000) batch(from, Math.min(count, from + 50_000))
  db.close()
}

const report = (events: number, seconds: number) => {
  process.stdout.write(JSON.stringify({ events, rate: events / seconds, maxRssMb: process.resourceUsage().maxRSS / 1024 }) + "\n")
}

const main = async () => {
  if (mode === "prepare") return prepare(Number(countArg))
  const start = performance.now()
  if (mode === "raw") {
    const db = new Database(file!, { readonly: true })
    let events = 0
    let cursor = 0
    const page = db.prepare(SqlBackend.statements("sqlite", undefined).readAll({ aggregateTypes: "one", eventTypes: "none", limited: true }))
    while (true) {
      const rows = page.all(cursor, "Account", 1000) as Array<{ position: number; data: string; metadata: string }>
      for (const row of rows) {
        JSON.parse(row.data)
        JSON.parse(row.metadata)
      }
      events += rows.length
      if (rows.length < 1000) break
      cursor = rows[rows.length - 1]!.position
    }
    return report(events, (performance.now() - start) / 1000)
  }
  const events = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const { store } = yield* SqliteEventStore.make({ filename: file! })
    return yield* Stream.runCount(store.streamEventsByType("Account", { batchSize: 1000 }))
  })))
  report(events, (performance.now() - start) / 1000)
}

main().catch((error) => {
  process.stderr.write(`${String(error)}\n`)
  process.exit(1)
})
