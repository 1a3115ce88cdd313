// `pnpm consumer-check`: installs the packages as a user does and checks what the user gets.
//
// Builds the workspace, packs every publishable package with `pnpm pack` (which rewrites the
// workspace's `exports` and `workspace:` ranges as published), installs the tarballs with plain
// `npm` into projects outside the repository next to a declared `effect` version, and checks:
// - every tarball has README.md, LICENSE, `types` first in its exports and no `workspace:` range;
// - a SQLite-only install has no PostgreSQL package and the reverse, with exactly one `effect`;
// - the consumer programs in scripts/consumer/ type-check with `skipLibCheck: false` under
//   `moduleResolution` NodeNext and Bundler, and run with plain `node` (SQLite always;
//   PostgreSQL when EVENTUALI_PG_URL names a server, which CI requires);
// - a scheme whose driver is not installed fails with a DatabaseError naming the package;
// - `@eventuali/testing` imports from plain node; `require("eventuali")` works from CommonJS;
// - @eventuali/ui installs next to them (its @effect/* as peers), type-checks and serves;
// - the CLI package installs alone and runs.
// Prints the package count and node_modules size of each install.
import { execFileSync, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

const root = Path.resolve(import.meta.dirname, "..")
const fixtures = Path.join(import.meta.dirname, "consumer")
/** The effect version the consumer declares: another patch than the workspace's own, on purpose. */
const effectVersion = process.env.CONSUMER_EFFECT_VERSION ?? "3.22.3"
const typescriptVersion = "5.9.3"
const pgUrl = process.env.EVENTUALI_PG_URL
const publishable = ["core", "sql", "sqlite", "postgres", "eventuali", "testing", "ui", "cli"]

let failures = 0
const check = (ok, what) => {
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`)
  if (!ok) failures++
}

const run = (command, args, options = {}) => {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options })
  return { code: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "", output: `${result.stdout ?? ""}${result.stderr ?? ""}` }
}
const mustRun = (command, args, options = {}) => {
  const result = run(command, args, options)
  if (result.code !== 0) {
    console.error(`${command} ${args.join(" ")} failed (exit ${result.code}):\n${result.output}`)
    process.exit(1)
  }
  return result
}

// pnpm as this script was started with (`pnpm consumer-check`), else through npx.
const pnpm = (args, options) =>
  process.env.npm_execpath?.includes("pnpm")
    ? mustRun(process.execPath, [process.env.npm_execpath, ...args], options)
    : mustRun("npx", ["-y", "pnpm@10", ...args], options)

const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-consumer-"))
const tarballs = Path.join(work, "tarballs")
Fs.mkdirSync(tarballs)
console.log(`consumer check in ${work}`)

console.log("building the packages…")
pnpm(["build"], { cwd: root })

const tarballOf = {}
for (const name of publishable) {
  const dir = Path.join(root, "packages", name)
  const before = new Set(Fs.readdirSync(tarballs))
  pnpm(["pack", "--pack-destination", tarballs], { cwd: dir })
  const file = Fs.readdirSync(tarballs).find((entry) => !before.has(entry))
  tarballOf[name] = Path.join(tarballs, file)
  const listing = mustRun("tar", ["-tzf", tarballOf[name]]).stdout.split("\n")
  check(listing.includes("package/README.md") && listing.includes("package/LICENSE"), `${file} has README.md and LICENSE`)
  const manifest = JSON.parse(mustRun("tar", ["-xzOf", tarballOf[name], "package/package.json"]).stdout)
  check(!JSON.stringify(manifest).includes("workspace:"), `${file} has no workspace: ranges`)
  const exportsOk = manifest.exports === undefined ||
    Object.values(manifest.exports).every((entry) => entry === null || typeof entry === "string" || Object.keys(entry)[0] === "types")
  check(exportsOk && (manifest.bin !== undefined || manifest.exports?.["."]?.types !== undefined), `${file}: exports list types first`)
  check(manifest.engines?.node !== undefined && manifest.license === "MIT", `${file}: engines and license`)
}

/** A fresh npm project with the given tarballs and registry packages installed. */
const project = (name, dependencies) => {
  const dir = Path.join(work, name)
  Fs.mkdirSync(dir)
  Fs.writeFileSync(Path.join(dir, "package.json"), JSON.stringify({ name, private: true, type: "module" }, null, 2))
  mustRun("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...dependencies], { cwd: dir })
  return dir
}

/** Every installed package (name@version), from npm's own view of the tree. */
const installed = (dir) => {
  const { stdout } = run("npm", ["ls", "--all", "--parseable", "--long"], { cwd: dir })
  return new Set(stdout.split("\n").filter((line) => line.includes(":")).map((line) => line.split(":")[1]).filter(Boolean))
}
const packageNames = (dir) => new Set([...installed(dir)].map((id) => id.slice(0, id.lastIndexOf("@"))))
const copiesOf = (dir, name) =>
  mustRun("find", [Path.join(dir, "node_modules"), "-path", `*/node_modules/${name}/package.json`, "-not", "-path", `*/node_modules/${name}/*/package.json`]).stdout
    .split("\n").filter(Boolean).length
const sizeOf = (dir) => Number(mustRun("du", ["-sk", Path.join(dir, "node_modules")]).stdout.split("\t")[0]) * 1024

const sizes = []
const measure = (label, dir) => {
  const count = installed(dir).size
  sizes.push({ label, count, megabytes: (sizeOf(dir) / 1e6).toFixed(1) })
}

const typeCheck = (dir, label) => {
  const common = { strict: true, skipLibCheck: false, target: "ES2022", lib: ["ES2023"], types: ["node"], exactOptionalPropertyTypes: true }
  const configs = {
    NodeNext: { ...common, module: "NodeNext", moduleResolution: "NodeNext", outDir: "dist" },
    Bundler: { ...common, module: "ESNext", moduleResolution: "Bundler", noEmit: true }
  }
  for (const [resolution, compilerOptions] of Object.entries(configs)) {
    Fs.writeFileSync(Path.join(dir, `tsconfig.${resolution}.json`), JSON.stringify({ compilerOptions, include: ["*.ts"] }, null, 2))
    const result = run("npx", ["tsc", "-p", `tsconfig.${resolution}.json`], { cwd: dir })
    check(result.code === 0, `${label}: tsc with skipLibCheck false, moduleResolution ${resolution}${result.code === 0 ? "" : `\n${result.output}`}`)
  }
}

const copyFixtures = (dir, files) => {
  for (const file of files) Fs.copyFileSync(Path.join(fixtures, file), Path.join(dir, file))
}

const node = (dir, args, env = {}) => run(process.execPath, args, { cwd: dir, env: { ...process.env, ...env } })

// --- SQLite only ------------------------------------------------------------------------------
console.log("installing a SQLite application…")
const sqliteApp = project("sqlite-app", [
  `effect@${effectVersion}`,
  tarballOf.core,
  tarballOf.sql,
  tarballOf.sqlite,
  tarballOf.eventuali
])
measure("eventuali + @eventuali/sqlite + effect", sqliteApp)
{
  const names = packageNames(sqliteApp)
  const postgres = ["pg", "@effect/sql-pg", "@eventuali/postgres", "@types/pg"].filter((name) => names.has(name))
  check(postgres.length === 0, `SQLite install has no PostgreSQL package${postgres.length ? `: ${postgres.join(", ")}` : ""}`)
  check(copiesOf(sqliteApp, "effect") === 1, `SQLite install has exactly one effect (${copiesOf(sqliteApp, "effect")})`)
}
mustRun("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", `typescript@${typescriptVersion}`, "@types/node@20"], { cwd: sqliteApp })
copyFixtures(sqliteApp, ["app.ts", "read-model.ts", "require.cjs", "testing.mjs"])
typeCheck(sqliteApp, "SQLite application")
{
  const file = Path.join(sqliteApp, "events.db")
  const first = node(sqliteApp, ["dist/app.js", `sqlite://${file}`])
  check(first.stdout.trim() === "loaded ada 2 v2", `node runs the SQLite application: ${first.output.trim()}`)
  const model = node(sqliteApp, ["dist/read-model.js", `sqlite://${file}`])
  check(model.stdout.trim() === "sql 42", `EventStore.layerSql provides the SqlClient: ${model.output.trim()}`)
  const missing = node(sqliteApp, ["dist/app.js", "postgresql://user@127.0.0.1:1/db"])
  check(
    /DatabaseError: .*npm install @eventuali\/postgres/.test(missing.stdout),
    `a postgresql:// URL without the driver names the package to install: ${missing.output.trim()}`
  )
  const cjs = node(sqliteApp, ["require.cjs"])
  check(cjs.stdout.trim() === "require function function", `require("eventuali") from CommonJS: ${cjs.output.trim()}`)
}

// --- @eventuali/testing from plain node ---------------------------------------------------------
mustRun("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarballOf.testing], { cwd: sqliteApp })
{
  const result = node(sqliteApp, ["testing.mjs"])
  check(result.code === 0 && result.stdout.trim() === "testing function function", `@eventuali/testing imports in plain node: ${result.output.trim()}`)
  check(copiesOf(sqliteApp, "effect") === 1, "still one effect with @eventuali/testing")
}

// --- @eventuali/ui in the SQLite application ---------------------------------------------------
console.log("adding @eventuali/ui…")
mustRun("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarballOf.ui, "@effect/platform@^0.97", "@effect/platform-node@^0.108"], { cwd: sqliteApp })
copyFixtures(sqliteApp, ["ui.ts"])
typeCheck(sqliteApp, "SQLite application with @eventuali/ui")
{
  const result = node(sqliteApp, ["dist/ui.js", `sqlite://${Path.join(sqliteApp, "events.db")}`])
  check(result.stdout.trim() === "ui sqlite true", `node serves Eventuali UI from the packed @eventuali/ui: ${result.output.trim()}`)
  check(copiesOf(sqliteApp, "effect") === 1, "still one effect with @eventuali/ui")
  check(copiesOf(sqliteApp, "@effect/platform") === 1, "one @effect/platform with @eventuali/ui (a peer)")
}

// --- PostgreSQL only ----------------------------------------------------------------------------
console.log("installing a PostgreSQL application…")
const pgApp = project("pg-app", [`effect@${effectVersion}`, tarballOf.core, tarballOf.sql, tarballOf.postgres, tarballOf.eventuali])
measure("eventuali + @eventuali/postgres + effect", pgApp)
{
  const names = packageNames(pgApp)
  const sqlite = ["better-sqlite3", "@effect/sql-sqlite-node", "@eventuali/sqlite"].filter((name) => names.has(name))
  check(sqlite.length === 0, `PostgreSQL install has no SQLite package${sqlite.length ? `: ${sqlite.join(", ")}` : ""}`)
  check(copiesOf(pgApp, "effect") === 1, `PostgreSQL install has exactly one effect (${copiesOf(pgApp, "effect")})`)
}
mustRun("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", `typescript@${typescriptVersion}`, "@types/node@20"], { cwd: pgApp })
copyFixtures(pgApp, ["app.ts", "read-model.ts"])
typeCheck(pgApp, "PostgreSQL application")
{
  const missing = node(pgApp, ["dist/app.js", "sqlite://:memory:"])
  check(/DatabaseError: .*npm install @eventuali\/sqlite/.test(missing.stdout), `a sqlite:// URL without the driver names the package to install: ${missing.output.trim()}`)
  if (pgUrl !== undefined && pgUrl !== "") {
    const result = node(pgApp, ["dist/app.js", pgUrl])
    check(result.stdout.trim() === "loaded ada 2 v2", `node runs the PostgreSQL application: ${result.output.trim()}`)
    const model = node(pgApp, ["dist/read-model.js", pgUrl])
    check(model.stdout.trim() === "sql 42", `EventStore.layerSql provides the PostgreSQL SqlClient: ${model.output.trim()}`)
  } else if (process.env.CI === "true") {
    check(false, "CI runs the PostgreSQL application: set EVENTUALI_PG_URL")
  } else {
    console.log("skip PostgreSQL run: EVENTUALI_PG_URL is not set (type checks ran)")
  }
}

// --- the CLI alone ------------------------------------------------------------------------------
console.log("installing the CLI…")
const cliApp = project("cli-app", [tarballOf.cli])
measure("@eventuali/cli", cliApp)
{
  const bin = Path.join(cliApp, "node_modules", ".bin", "eventuali")
  const version = run(bin, ["--version"], { cwd: cliApp })
  check(version.code === 0 && /^\d+\.\d+\.\d+/.test(version.stdout), `eventuali --version: ${version.output.trim()}`)
  const file = Path.join(cliApp, "cli.db")
  const init = run(bin, ["init", "--url", `sqlite://${file}`], { cwd: cliApp })
  const stats = run(bin, ["stats", "--url", `sqlite://${file}`, "--json"], { cwd: cliApp })
  check(init.code === 0 && stats.code === 0 && JSON.parse(stats.stdout).events === 0, `eventuali init and stats on SQLite: ${stats.output.trim()}`)
}

console.log("\n| install | packages | node_modules |\n|---|---:|---:|")
for (const { label, count, megabytes } of sizes) console.log(`| ${label} | ${count} | ${megabytes} MB |`)

if (process.env.CONSUMER_CHECK_KEEP === undefined) Fs.rmSync(work, { recursive: true, force: true })
console.log(failures === 0 ? "\nconsumer check: all passed" : `\nconsumer check: ${failures} failed`)
process.exit(failures === 0 ? 0 : 1)
