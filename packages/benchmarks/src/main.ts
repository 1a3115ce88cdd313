/**
 * `pnpm bench`: every workload against our stores and, in the same run, against the raw driver
 * doing the same work with the same durability settings; medians of several repetitions, a
 * table on stdout and a JSON file (packages/benchmarks/results/latest.json).
 *
 * Options: --quick (fewer operations), --only sqlite|postgres|original|stream.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { type Row, table } from "./harness.js"
import { originalWorkload, sqliteWorkloads, tempDirectory } from "./sqlite.js"

const args = process.argv.slice(2)
const quick = args.includes("--quick")
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined
const wants = (name: string) => only === undefined || only === name

const main = async () => {
  const directory = tempDirectory()
  const rows: Array<Row> = []
  const repetitions = quick ? 3 : 5
  try {
    if (wants("sqlite")) {
      for (const synchronous of ["normal", "full"] as const) {
        rows.push(...await sqliteWorkloads({
          synchronous,
          repetitions,
          saves: quick ? 400 : synchronous === "full" ? 1000 : 3000,
          loads: quick ? 1000 : 5000,
          directory
        }))
      }
    }
    if (wants("original")) rows.push(...await originalWorkload(repetitions, quick ? 5 : 20))
  } finally {
    Fs.rmSync(directory, { recursive: true, force: true })
  }
  process.stdout.write(`\n${table(rows)}\n`)
  const out = Path.join(import.meta.dirname, "..", "results")
  Fs.mkdirSync(out, { recursive: true })
  Fs.writeFileSync(
    Path.join(out, "latest.json"),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, quick, rows }, null, 2)
  )
}

main().catch((error) => {
  process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`)
  process.exit(1)
})
