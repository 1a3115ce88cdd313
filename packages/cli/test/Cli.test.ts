/**
 * The `eventuali` CLI as a user runs it: the built binary in a subprocess, against SQLite files
 * and the test run's PostgreSQL server. Every command's happy path and error path, on both.
 */
import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe, expect, it } from "vitest"
import { Migrations } from "@eventuali/sql"
import { describePg, freshUrl } from "../../postgres/test/support/pg.js"
import { collect, lines, run, runOnTerminal, sqliteUrl, start, tempDir, waitForStderr } from "./support/cli.js"
import { activateVersion, append, runParkingProjection, runRebuildable, seed, storeCheckpoint, withStore } from "./support/seed.js"

const commands = [
  "init",
  "health",
  "stats",
  "events",
  "tail",
  "export",
  "import",
  "projections",
  "projections rebuild",
  "projections parked",
  "projections retry",
  "projections discard",
  "projections verify",
  "delete",
  "restore",
  "truncate",
  "retention run",
  "archive",
  "tenants",
  "tenants create",
  "tenants move",
  "forget",
  "ui",
  "bench"
]

/** An error is one line on stderr: no stack trace. */
const expectOneLineError = (stderr: string, text: string | RegExp) => {
  const errorLines = stderr.trim().split("\n")
  expect(errorLines).toHaveLength(1)
  expect(errorLines[0]).toMatch(/^Error: /)
  expect(errorLines[0]).toMatch(text)
}

describe("eventuali (no store needed)", () => {
  it.each(commands)("%s --help describes the command and exits 0", async (command) => {
    const result = await run([...command.split(" "), "--help"])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(command.split(" ").at(-1))
    expect(result.stdout).toContain("--url")
  })

  it("bare `eventuali` and `eventuali --help` list every command", async () => {
    for (const args of [[], ["--help"]]) {
      const result = await run(args)
      expect(result.code).toBe(0)
      for (const command of commands) expect(result.stdout).toContain(`- ${command.split(" ")[0]}`)
    }
  })

  it("--version prints the version", async () => {
    const result = await run(["--version"])
    expect(result.code).toBe(0)
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/)
  })

  it("an unknown command or option is a usage error: exit 2", async () => {
    expect((await run(["frobnicate"])).code).toBe(2)
    expect((await run(["stats", "--no-such-option"])).code).toBe(2)
    expect((await run(["events", "--limit", "0", "--url", "memory://"])).code).toBe(2)
    expect((await run(["events", "--from", "-1", "--url", "memory://"])).code).toBe(2)
    expect((await run(["bench", "--operations", "0", "--url", "memory://"])).code).toBe(2)
  })

  it("without --url or EVENTUALI_URL: one line saying so, exit 1", async () => {
    const result = await run(["stats"])
    expect(result.code).toBe(1)
    expectOneLineError(result.stderr, "No connection string: pass --url URL or set EVENTUALI_URL")
  })

  it("an unsupported connection string names the supported schemes and hides the password", async () => {
    const result = await run(["health", "--url", "mysql://admin:hunter2secret@db.example.com/events"])
    expect(result.code).toBe(1)
    expectOneLineError(result.stderr, /supported schemes: sqlite:\/\/, postgresql:\/\/, postgres:\/\/, memory:\/\//)
    expect(result.stderr).not.toContain("hunter2secret")
  })

  it("an unreachable PostgreSQL server: one line, password redacted, exit 1", async () => {
    for (const url of ["postgresql://admin:hunter2secret@127.0.0.1:1/events", "postgres://admin:p%40ss%2Fword@127.0.0.1:1/events"]) {
      const result = await run(["health", "--url", url])
      expect(result.code).toBe(1)
      expectOneLineError(result.stderr, /Cannot connect to PostgreSQL at postgres(ql)?:\/\/admin:\*\*\*@127\.0\.0\.1:1\/events/)
      expect(result.stderr).not.toMatch(/hunter2secret|p%40ss|p@ss/)
    }
  })

  it("the in-memory store works for what needs no persistence; stats needs SQL", async () => {
    const health = await run(["health", "--url", "memory://", "--json"])
    expect(health.code).toBe(0)
    expect(JSON.parse(health.stdout)).toMatchObject({ status: "ok", backend: "memory", schemaVersion: null })
    const stats = await run(["stats", "--url", "memory://"])
    expect(stats.code).toBe(1)
    expectOneLineError(stats.stderr, "stats needs a SQLite or PostgreSQL store")
  })
})

/** The start of any ANSI escape sequence (colours, bold). */
const ESCAPE = /\u001b/

const widestLine = (text: string) => Math.max(...text.split("\n").map((line) => line.length))

describe("eventuali's help and usage errors read well", () => {
  const everyHelp = [[], ...commands.map((command) => command.split(" "))]

  // One test per command: each runs the binary once (25 runs in one test outlasted its timeout on
  // a busy CI machine).
  it.each(everyHelp.map((command) => [command.join(" ") || "(no command)", command] as const))(
    "%s --help into a pipe: no escape sequences, no line wider than 80 columns (COLUMNS unset), usage lines start with eventuali",
    async (_, command) => {
      const result = await run([...command, "--help"])
      expect(result.code).toBe(0)
      expect(result.stdout).not.toMatch(ESCAPE)
      expect(widestLine(result.stdout)).toBeLessThanOrEqual(80)
      expect(result.stdout.split("\n").slice(0, 2).join("\n")).toMatch(new RegExp(`^USAGE\n  eventuali ${command.join(" ")}`))
    }
  )

  it("help is wrapped to COLUMNS when stdout is not a terminal", async () => {
    const narrow = await run(["events", "--help"], { env: { COLUMNS: "50" } })
    expect(widestLine(narrow.stdout)).toBeLessThanOrEqual(50)
    expect(narrow.stdout).toContain("--limit N")
    const wide = await run(["--help"], { env: { COLUMNS: "200" } })
    expect(widestLine(wide.stdout)).toBeGreaterThan(80)
    expect(widestLine(wide.stdout)).toBeLessThanOrEqual(200)
  })

  it("optional flags are shown as optional; options have their own descriptions, not @effect/cli's boilerplate", async () => {
    const result = await run(["events", "--help"])
    expect(result.stdout).toMatch(/eventuali events \[--url URL\]\s+\[--tenant TENANT\]\s+\[--replica URL\.\.\.\]\s+\[--aggregate ID\]\s+\[--type TYPE\.\.\.\]\s+\[--event-type TYPE\.\.\.\]\s+\[--from POSITION\]\s+\[--limit N\]\s+\[--json\]/)
    expect(result.stdout).toMatch(/-n, --limit N\s+At most this many events \(default: 100\)/)
    for (const command of everyHelp) {
      const help = (await run([...command, "--help"])).stdout
      expect(help, command.join(" ")).not.toMatch(/user-defined|A true or false value|This setting is optional|may be repeated|An integer/)
    }
  })

  it("colours on a terminal, none when NO_COLOR is set (to anything but the empty string)", async () => {
    const terminal = await runOnTerminal(["stats", "--help"])
    expect(terminal.code).toBe(0)
    expect(terminal.stdout).toMatch(ESCAPE)
    expect(terminal.stdout).toContain("eventuali stats [--url URL] [--tenant TENANT] [--json]")
    for (const value of ["1", "true", "0"]) {
      const noColor = await runOnTerminal(["stats", "--help"], { env: { NO_COLOR: value } })
      expect(noColor.code).toBe(0)
      expect(noColor.stdout).not.toMatch(ESCAPE)
      expect(noColor.stdout).toContain("eventuali stats [--url URL] [--tenant TENANT] [--json]")
    }
    expect((await runOnTerminal(["stats", "--help"], { env: { NO_COLOR: "" } })).stdout).toMatch(ESCAPE)
  })

  it("an unknown option: the problem in plain English, then the command's help, on stderr; exit 2", async () => {
    const result = await run(["stats", "--urll", "x"])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe("")
    const [problem, blank, ...help] = result.stderr.trimEnd().split("\n")
    expect(problem).toBe("Error: Unknown option --urll (did you mean --url?)")
    expect(blank).toBe("")
    expect(help.slice(0, 2)).toEqual(["USAGE", "  eventuali stats [--url URL] [--tenant TENANT] [--json]"])
    expect(help.join("\n")).toContain("-u, --url URL")
    expect(result.stderr).not.toMatch(ESCAPE)
    expect(widestLine(result.stderr)).toBeLessThanOrEqual(80)
  })

  it.each([
    [["events", "--limit", "abc", "--url", "memory://"], "--limit expects a whole number of at least 1, got \"abc\"", "eventuali events"],
    [["events", "--limit", "0", "--url", "memory://"], "--limit expects a whole number of at least 1, got \"0\"", "eventuali events"],
    [["events", "--from", "-1"], "--from expects a position (a whole number, 0 or more), got \"-1\"", "eventuali events"],
    [["export", "--from", "yesterday"], "--from expects a position (a whole number, 0 or more), got \"yesterday\"", "eventuali export"],
    [["bench", "--operations", "2000000"], "--operations expects a whole number from 1 to 1,000,000, got \"2000000\"", "eventuali bench"],
    [["events", "--limit"], "--limit needs a value: --limit N", "eventuali events"],
    [["stats", "extra"], "Unexpected argument \"extra\"", "eventuali stats"],
    [["stat"], "Unknown command \"stat\" (did you mean stats?)", "eventuali <command>"],
    [["frobnicate"], "Unknown command \"frobnicate\"", "eventuali <command>"],
    [["projections", "frob"], "Unknown command \"frob\"", "eventuali projections"],
    [["projections", "rebuild"], "Missing argument <name>", "eventuali projections rebuild"],
    // Empty values (an unset shell variable) name nothing; @effect/cli alone would drop an empty
    // --type and show every type.
    [["events", "--aggregate", "", "--url", "memory://"], "--aggregate needs a value, got an empty one: --aggregate ID", "eventuali events"],
    [["events", "--type", "Account", "--type", ""], "--type needs a value, got an empty one: --type TYPE", "eventuali events"],
    [["tail", "-e", ""], "-e needs a value, got an empty one: -e TYPE", "eventuali tail"],
    [["stats", "--url", ""], "--url needs a value, got an empty one: --url URL", "eventuali stats"],
    [["projections", "--url", "memory://", "rebuild", "x", "--tenant", ""], "--tenant needs a value, got an empty one: --tenant TENANT", "eventuali projections rebuild"],
    [["delete", "", "--url", "memory://", "--yes"], "<aggregate-id> expects an aggregate id, got \"\"", "eventuali delete"],
    [["forget", "", "--url", "memory://", "--yes"], "<subject-id> expects a subject id, got \"\"", "eventuali forget"],
    [["ui", "--token", "short", "--url", "memory://"], "--token must be at least 16 characters long", "eventuali ui"]
  ])("%j: says what is wrong in plain English, then that command's help; exit 2", async (args, problem, usage) => {
    const result = await run(args)
    expect(result.code).toBe(2)
    const lines = result.stderr.split("\n")
    expect(lines[0]).toBe(`Error: ${problem}`)
    expect(lines.slice(1, 4).join("\n")).toMatch(new RegExp(`^\nUSAGE\n  ${usage.replace(/[[\]<>]/g, "\\$&")}`))
  })

  it("--help anywhere on the line shows the help, even after options or a malformed value", async () => {
    for (const args of [["stats", "--url", "memory://", "--help"], ["events", "--limit", "abc", "-h"]]) {
      const result = await run(args)
      expect(result.code, args.join(" ")).toBe(0)
      expect(result.stdout, args.join(" ")).toMatch(new RegExp(`^USAGE\n  eventuali ${args[0]} `))
      expect(result.stderr, args.join(" ")).toBe("")
    }
  })

  it("--version prints the package's version and nothing else", async () => {
    const { version } = JSON.parse(Fs.readFileSync(Path.resolve(import.meta.dirname, "../package.json"), "utf8")) as { version: string }
    const result = await run(["--version"])
    expect(result.code).toBe(0)
    expect(result.stdout).toBe(`${version}\n`)
    expect(result.stderr).toBe("")
  })
})

describe("eventuali on SQLite files", () => {
  it("commands other than init and import refuse a file that does not exist (and do not create it)", async () => {
    const url = sqliteUrl("missing")
    for (const command of ["health", "stats", "events", "tail", "export", "projections"]) {
      const result = await run([command, "--url", url])
      expect(result.code, command).toBe(1)
      expectOneLineError(result.stderr, /No SQLite database at ".*missing-.*\.db" \(create one with: eventuali init --url sqlite:\/\//)
    }
    expect(Fs.existsSync(url.slice("sqlite://".length))).toBe(false)
  })

  it("init creates the file, relative to the working directory", async () => {
    const cwd = Fs.mkdtempSync(Path.join(tempDir(), "cwd-"))
    const result = await run(["init", "--url", "sqlite://data/events.db"], { cwd })
    expect(result.code).toBe(0)
    expect(Fs.existsSync(Path.join(cwd, "data", "events.db"))).toBe(true)
  })

  it("a file that is not a database: one line, exit 1", async () => {
    const file = Path.join(tempDir(), "not-a-database.db")
    Fs.writeFileSync(file, "this is not SQLite ".repeat(100))
    const result = await run(["stats", "--url", `sqlite://${file}`])
    expect(result.code).toBe(1)
    expectOneLineError(result.stderr, /not a database/)
  })
})

/** The same user journey on each backend. */
const journey = (makeUrl: () => string) => {
  let url = ""

  it("init creates the schema and is idempotent", async () => {
    url = makeUrl()
    for (let i = 0; i < 2; i++) {
      const result = await run(["init", "--url", url])
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`ready, schema version ${Migrations.latest}`)
      expect(result.stdout).not.toMatch(/:postgres@/)
    }
    await seed(url)
  })

  it("health reports the schema version and the latency, with the password hidden", async () => {
    const text = await run(["health", "--url", url])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/Status\s+ok/)
    expect(text.stdout).toMatch(new RegExp(`Schema version\\s+${Migrations.latest} \\(this eventuali: ${Migrations.latest}\\)`))
    expect(text.stdout).toMatch(/Latency\s+\d+\.\d\d ms/)
    const json = JSON.parse((await run(["health", "--url", url, "--json"])).stdout)
    expect(json).toMatchObject({ status: "ok", schemaVersion: Migrations.latest, latestSchemaVersion: Migrations.latest })
    expect(json.latencyMs).toBeGreaterThanOrEqual(0)
    expect(json.url).not.toMatch(/:postgres@/)
  })

  it("EVENTUALI_URL stands in for --url", async () => {
    const result = await run(["stats", "--json"], { env: { EVENTUALI_URL: url } })
    expect(result.code).toBe(0)
    expect(JSON.parse(result.stdout).events).toBe(4)
  })

  it("stats counts events, aggregates and event types, with the last position and the size", async () => {
    const result = await run(["stats", "--url", url, "--json"])
    expect(result.code).toBe(0)
    const stats = JSON.parse(result.stdout)
    expect(stats).toMatchObject({
      events: 4,
      aggregates: 3,
      aggregateTypes: [{ name: "User", aggregates: 2, events: 3 }, { name: "Order", aggregates: 1, events: 1 }],
      eventTypes: [{ name: "UserRegistered", events: 2 }, { name: "OrderPlaced", events: 1 }, { name: "UserEmailChanged", events: 1 }]
    })
    expect(stats.lastPosition).toMatch(/^[1-9]\d*$/)
    expect(stats.databaseSizeBytes).toBeGreaterThan(0)
    const text = await run(["stats", "--url", url])
    expect(text.stdout).toMatch(/Events\s+4\n/)
    expect(text.stdout).toMatch(/Aggregates\s+3\n/)
    expect(text.stdout).toMatch(/UserRegistered\s+2/)
    expect(text.stdout).toMatch(/Database size\s+\d+\.\d (KiB|MiB)/)
  })

  it("events: a table for people, NDJSON for scripts, with filters, --from and --limit", async () => {
    const table = await run(["events", "--url", url])
    expect(table.code).toBe(0)
    const rows = table.stdout.trim().split("\n")
    expect(rows).toHaveLength(5)
    expect(rows[0]).toMatch(/^Position\s+Timestamp\s+Aggregate\s+Version\s+Event type\s+Data$/)
    // (PostgreSQL's jsonb orders keys its own way.)
    expect(rows[3]).toMatch(/User\/u1\s+2\s+UserEmailChanged \(v2\)\s+\{.*"newEmail":"ann@example.org".*\}$/)

    const all = lines((await run(["events", "--url", url, "--json"])).stdout)
    expect(all.map((event) => `${event.aggregateId}:${event.aggregateVersion}`)).toEqual(["u1:1", "u2:1", "u1:2", "o1:1"])
    for (const event of all) expect(event.position).toMatch(/^[1-9]\d*$/)
    expect(all.map((event) => BigInt(event.position as string))).toEqual(
      all.map((event) => BigInt(event.position as string)).sort((a, b) => (a < b ? -1 : 1))
    )
    expect(all[2]).toMatchObject({
      eventType: "UserEmailChanged",
      eventVersion: 2,
      aggregateType: "User",
      metadata: { correlationId: "corr-1", causationId: "cause-1", userId: "admin", headers: { tenant: "acme" } },
      data: { newEmail: "ann@example.org", note: "ünïcödé 😀" }
    })
    expect(new Date(all[2]!.timestamp as string).toISOString()).toBe(all[2]!.timestamp)

    const ids = async (...args: Array<string>) =>
      lines((await run(["events", "--url", url, "--json", ...args])).stdout).map((event) => `${event.aggregateId}:${event.aggregateVersion}`)
    expect(await ids("--type", "Order")).toEqual(["o1:1"])
    expect(await ids("-t", "Order", "-t", "User", "--event-type", "UserRegistered")).toEqual(["u1:1", "u2:1"])
    expect(await ids("--aggregate", "u1")).toEqual(["u1:1", "u1:2"])
    expect(await ids("--aggregate", "u1", "--from", "1")).toEqual(["u1:2"])
    expect(await ids("--from", all[1]!.position as string)).toEqual(["u1:2", "o1:1"])
    expect(await ids("--limit", "2")).toEqual(["u1:1", "u2:1"])
    expect(await ids("--aggregate", "nobody")).toEqual([])
    expect((await run(["events", "--url", url, "--aggregate", "nobody"])).stdout.trim()).toBe("No events.")
  })

  it("tail prints events committed after it started, filtered, until SIGTERM", async () => {
    const tail = start(["tail", "--url", url, "--json", "--type", "User"])
    const output = collect(tail)
    await waitForStderr(tail, "Tailing")
    await append(url, "Order", "o2", [{ eventType: "OrderPlaced", data: { total: "1.00" } }])
    await append(url, "User", "u3", [{ eventType: "UserRegistered", data: { name: "Cy", email: "cy@example.com" } }])
    await new Promise<void>((resolve) => {
      const check = () => (received.includes("u3") ? resolve() : setTimeout(check, 50))
      let received = ""
      tail.stdout!.on("data", (chunk: Buffer | string) => received += chunk.toString())
      check()
    })
    tail.kill("SIGTERM")
    const result = await output
    expect(result.code).toBe(0)
    const events = lines(result.stdout)
    expect(events.map((event) => `${event.aggregateId}:${event.eventType}`)).toEqual(["u3:UserRegistered"])
  })

  it("tail --from a checkpoint replays from there; a malformed checkpoint is a usage error", async () => {
    const all = lines((await run(["events", "--url", url, "--json"])).stdout)
    const tail = start(["tail", "--url", url, "--from", all[3]!.position as string, "--event-type", "UserRegistered"])
    const output = collect(tail)
    await new Promise<void>((resolve) => tail.stdout!.on("data", (chunk: Buffer | string) => chunk.toString().includes("User/u3") && resolve()))
    tail.kill("SIGINT")
    const result = await output
    expect(result.code).toBe(0)
    expect(result.stdout.trim().split("\n")).toHaveLength(1)

    // A malformed value is a usage error, as docs/guides/cli.md's exit codes say: exit 2, the problem, then the help.
    const bad = await run(["tail", "--url", url, "--from", "yesterday"])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^Error: --from expects end, beginning or a checkpoint \(a position, a whole number\), got "yesterday"\n\nUSAGE\n  eventuali tail /)
  })

  it("ui serves the store's UI until SIGTERM: read-only, no password; another host than loopback needs a token", async () => {
    const ui = start(["ui", "--url", url, "--port", "0"])
    const output = collect(ui)
    const address = await new Promise<string>((resolve, reject) => {
      ui.on("exit", () => reject(new Error("eventuali ui ended before it printed its address")))
      let seen = ""
      ui.stdout!.on("data", (chunk: Buffer | string) => {
        seen += chunk.toString()
        const found = / at (http:\/\/\S+) /.exec(seen)
        if (found !== null) resolve(found[1]!)
      })
    })
    // The credentials as they appear in the URL (the test server's password may be a common word).
    const credentials = /:\/\/([^/@]+)@/.exec(url)?.[1]
    // Stopped whatever the assertions say: a failing one must not leave the server running.
    try {
      const overview = await (await fetch(new URL("api/overview", address))).json() as { backend: string; allowWrites: boolean }
      expect(overview.backend).toBe(url.startsWith("sqlite") ? "sqlite" : "postgres")
      expect(overview.allowWrites).toBe(false)
      const orders = await (await fetch(new URL("api/events?aggregateType=Order", address))).json() as { events: Array<{ aggregateId: string }> }
      expect(orders.events.map((event) => event.aggregateId)).toContain("o1")
      const rebuild = await fetch(new URL("api/projections/rebuild?name=x", address), { method: "POST", headers: { "x-eventuali-ui": "1" } })
      expect(rebuild.status).toBe(403)
      for (const path of ["", "api/overview", "openapi.json"]) {
        const body = await (await fetch(new URL(path, address))).text()
        expect(body).not.toContain(url)
        if (credentials !== undefined) expect(body).not.toContain(credentials)
      }
    } finally {
      ui.kill("SIGTERM")
    }
    const result = await output
    expect(result.code).toBe(0)
    if (credentials !== undefined) expect(result.stdout + result.stderr).not.toContain(credentials)

    const open = await run(["ui", "--url", url, "--host", "0.0.0.0"])
    expect(open.code).toBe(1)
    expectOneLineError(open.stderr, "give a token (--token TOKEN or EVENTUALI_UI_TOKEN)")
    // A short token from the environment is no usage error (nothing on the line is wrong): exit 1.
    const short = await run(["ui", "--url", url, "--port", "0"], { env: { EVENTUALI_UI_TOKEN: "short" } })
    expect(short.code).toBe(1)
    expectOneLineError(short.stderr, "EVENTUALI_UI_TOKEN must be at least 16 characters long")
  })

  it("export writes NDJSON to stdout or a file; import appends it elsewhere; re-importing appends nothing", async () => {
    const exported = await run(["export", "--url", url])
    expect(exported.code).toBe(0)
    const events = lines(exported.stdout)
    expect(events).toHaveLength(6)
    const file = Path.join(tempDir(), `export-${crypto.randomUUID()}.ndjson`)
    const toFile = await run(["export", "--url", url, "--output", file])
    expect(toFile.code).toBe(0)
    expect(toFile.stdout).toMatch(/^Exported 6 events to /)
    expect(Fs.readFileSync(file, "utf8")).toBe(exported.stdout)

    const target = sqliteUrl("import-target")
    const imported = await run(["import", file, "--url", target])
    expect(imported.code).toBe(0)
    expect(imported.stdout).toMatch(/^Imported 6 events \(6 new, 0 already stored\)/)
    const again = await run(["import", "--url", target], { input: exported.stdout })
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/^Imported 6 events \(0 new, 6 already stored\)/)
    const withoutPositions = (text: string) => lines(text).map(({ position: _position, ...event }) => event)
    expect(withoutPositions((await run(["export", "--url", target])).stdout)).toEqual(withoutPositions(exported.stdout))
  })

  it("export to a path that cannot be written: one line, exit 1", async () => {
    const result = await run(["export", "--url", url, "--output", Path.join(tempDir(), "no", "such", "dir", "out.ndjson")])
    expect(result.code).toBe(1)
    expectOneLineError(result.stderr, /no such file or directory|NotFound/i)
  })

  it("import refuses a malformed line, naming it, and appends nothing of its batch", async () => {
    const target = sqliteUrl("bad-import")
    const good = (await run(["export", "--url", url])).stdout.trim().split("\n")
    const result = await run(["import", "--url", target], { input: `${good[0]}\n{"eventId": 42}\n` })
    expect(result.code).toBe(1)
    expectOneLineError(result.stderr, /^Error: Line 2: /)
    const stats = JSON.parse((await run(["stats", "--url", target, "--json"])).stdout)
    expect(stats.events).toBe(0)

    const notJson = await run(["import", "--url", target], { input: "this is not json\n" })
    expect(notJson.code).toBe(1)
    expectOneLineError(notJson.stderr, /^Error: Line 1: /)

    const missing = await run(["import", Path.join(tempDir(), "no-such-file.ndjson"), "--url", target])
    expect(missing.code).toBe(2)
  })

  it("import into a store where an aggregate has moved on: the conflict, with the line and the actual version", async () => {
    const exported = lines((await run(["export", "--url", url])).stdout)
    const changed = exported.map((event) => JSON.stringify({ ...event, eventId: `${event.eventId as string}-other` })).join("\n")
    const result = await run(["import", "--url", url], { input: changed })
    expect(result.code).toBe(1)
    expectOneLineError(result.stderr, /Line 1 \(aggregate "u1", version 1\): Aggregate "u1": expected version 0, but its version is 2/)
  })

  it("projections lists checkpoints with their lag; rebuild --in-place resets one to the beginning", async () => {
    expect((await run(["projections", "--url", url])).stdout.trim()).toBe("No projection checkpoints stored.")
    const all = lines((await run(["events", "--url", url, "--json"])).stdout)
    await storeCheckpoint(url, "order-totals", BigInt(all[3]!.position as string))
    await storeCheckpoint(url, "user-directory", BigInt(all[5]!.position as string))

    const listed = lines((await run(["projections", "--url", url, "--json"])).stdout)
    expect(listed).toMatchObject([
      { name: "order-totals", checkpoint: all[3]!.position, lag: 2 },
      { name: "user-directory", checkpoint: all[5]!.position, lag: 0 }
    ])
    const table = await run(["projections", "--url", url])
    expect(table.stdout).toMatch(/order-totals\s+\d+\s+2\s+\d{4}-/)

    // Without downtime, a projection whose code says how to build a copy is needed: not a bare checkpoint.
    const refused = await run(["projections", "rebuild", "order-totals", "--url", url])
    expect(refused.code).toBe(1)
    expectOneLineError(refused.stderr, /run: eventuali projections rebuild order-totals --in-place$/)
    const rebuilt = await run(["projections", "rebuild", "order-totals", "--in-place", "--url", url])
    expect(rebuilt.code).toBe(0)
    expect(rebuilt.stdout).toMatch(/checkpoint reset from \d+ to 0/)
    expect(rebuilt.stderr).toMatch(/^Warning: rebuilt in place/)
    expect(lines((await run(["projections", "--url", url, "--json"])).stdout)[0]).toMatchObject({
      name: "order-totals",
      checkpoint: "0",
      lag: 6
    })
    // The URL may also come before the subcommand.
    expect((await run(["projections", "--url", url, "rebuild", "user-directory", "--in-place"])).code).toBe(0)

    for (const args of [["rebuild", "nope"], ["rebuild", "nope", "--in-place"]]) {
      const unknown = await run(["projections", ...args, "--url", url])
      expect(unknown.code).toBe(1)
      expectOneLineError(unknown.stderr, "No projection named \"nope\" (stored: order-totals, user-directory)")
    }

    // A versioned projection is rebuilt by its next version, beside the model readers use: not in place.
    await activateVersion(url, "user-directory", 2)
    const versioned = await run(["projections", "rebuild", "user-directory", "--in-place", "--url", url])
    expect(versioned.code).toBe(1)
    expectOneLineError(versioned.stderr, /is versioned \(version 2 serves queries\): rebuild it without downtime by running version 3/)
    const activeByName = await run(["projections", "rebuild", "user-directory@v2", "--in-place", "--url", url])
    expect(activeByName.code).toBe(1)
    expectOneLineError(activeByName.stderr, /"user-directory@v2" is the active version of projection "user-directory"/)
    // A version being built serves no reader: it may start over.
    await storeCheckpoint(url, "user-directory@v3", BigInt(all[2]!.position as string))
    const building = await run(["projections", "rebuild", "user-directory@v3", "--in-place", "--url", url])
    expect(building.code).toBe(0)
    expect(building.stdout).toMatch(/checkpoint reset from \d+ to 0/)
  }, 90_000)
}

/** The projection operations on a store where a partitioned projection parked an event. */
const projectionCommands = (makeUrl: () => string) =>
  it("projections: status of a partitioned projection, parked, retry, discard, verify; unknown names and positions fail with exit 1", async () => {
    const url = makeUrl()
    expect((await run(["init", "--url", url])).code).toBe(0)
    await seed(url)
    await runParkingProjection(url, "orders", { fixed: false })
    const [listed] = lines((await run(["projections", "--url", url, "--json"])).stdout)
    expect(listed).toMatchObject({ name: "orders", partitions: 2, held: 0, parked: 1, lag: 0 })
    expect((await run(["projections", "--url", url])).stdout).toMatch(/orders\s+\d+\s+0\s+\d{4}-\S+\s+0\/2\s+0\s+1/)

    const parked = lines((await run(["projections", "parked", "orders", "--url", url, "--json"])).stdout)
    expect(parked).toMatchObject([{ name: "orders", errorTag: "OrderError", errorMessage: "orders are not supported yet", attempts: 1, retryRequested: false }])
    const position = parked[0]!.position as string
    expect((await run(["projections", "parked", "orders", "--url", url])).stdout).toMatch(/OrderError: orders are not supported yet/)

    for (const [args, error] of [
      [["projections", "retry", "orders", "--position", "1"], "Nothing is parked at position 1 for projection \"orders\""],
      [["projections", "discard", "orders", "--position", "1"], "Nothing is parked at position 1"],
      [["projections", "parked", "nope"], "No projection named \"nope\""],
      [["projections", "retry", "nope"], "No projection named \"nope\""],
      [["projections", "discard", "nope", "--position", position], "No projection named \"nope\""],
      [["projections", "verify", "nope"], "No projection named \"nope\""]
    ] as const) {
      const result = await run([...args, "--url", url])
      expect(result.code).toBe(1)
      expectOneLineError(result.stderr, error)
    }
    expect(lines((await run(["projections", "parked", "orders", "--url", url, "--json"])).stdout)).toHaveLength(1)

    // Asked to retry, the running instance (handler fixed) applies it and it leaves the list.
    const retried = await run(["projections", "retry", "orders", "--url", url])
    expect(retried.code).toBe(0)
    expect(retried.stdout).toMatch(/asked to retry 1 parked event/)
    expect(lines((await run(["projections", "parked", "orders", "--url", url, "--json"])).stdout)[0]).toMatchObject({ retryRequested: true })
    await runParkingProjection(url, "orders", {
      fixed: true,
      untilNothingParked: true
    })
    expect((await run(["projections", "parked", "orders", "--url", url])).stdout).toMatch(/has no parked events/)

    const verified = await run(["projections", "verify", "orders", "--url", url])
    expect(verified.code).toBe(0)
    expect(verified.stdout).toMatch(/Projection "orders": complete/)

    // A checkpoint moved past events by hand: verify names them and exits 1.
    await append(url, "User", "u3", [{ eventType: "UserRegistered", data: { name: "Cy", email: "cy@example.com" } }])
    await append(url, "User", "u4", [{ eventType: "UserRegistered", data: { name: "Di", email: "di@example.com" } }])
    const head = BigInt(lines((await run(["events", "--url", url, "--json"])).stdout).at(-1)!.position as string)
    await storeCheckpoint(url, "orders#0", head)
    await storeCheckpoint(url, "orders#1", head)
    const incomplete = await run(["projections", "verify", "orders", "--url", url, "--json"])
    expect(incomplete.code).toBe(1)
    const report = lines(incomplete.stdout)[0]!
    expect(report.complete).toBe(false)
    const missing = (report.partitions as ReadonlyArray<{ readonly missing: ReadonlyArray<string> }>).flatMap((partition) => partition.missing)
    expect(missing.length).toBe(2)
    expect(missing).toContain(head.toString())

    // Another parked event, discarded.
    await withStore(url, (store) => store.append("Order", "o2", [{ eventType: "OrderPlaced", data: { total: "1.00", items: [] } }]))
    await runParkingProjection(url, "orders", { fixed: false })
    const [again] = lines((await run(["projections", "parked", "orders", "--url", url, "--json"])).stdout)
    const discarded = await run(["projections", "discard", "orders", "--position", again!.position as string, "--url", url])
    expect(discarded.code).toBe(0)
    expect(discarded.stdout).toMatch(/discarded \(not applied\)/)
    expect((await run(["projections", "parked", "orders", "--url", url])).stdout).toMatch(/has no parked events/)

    // rebuild resets every partition's checkpoint and removes the parked events, in one transaction.
    await withStore(url, (store) => store.append("Order", "o3", [{ eventType: "OrderPlaced", data: { total: "2.00", items: [] } }]))
    await runParkingProjection(url, "orders", { fixed: false })
    expect(lines((await run(["projections", "parked", "orders", "--url", url, "--json"])).stdout)).toHaveLength(1)
    const rebuilt = await run(["projections", "rebuild", "orders", "--in-place", "--url", url])
    expect(rebuilt.code).toBe(0)
    expect(rebuilt.stdout).toMatch(/checkpoints of its 2 partitions reset from where they were to 0, and its 1 parked event\(s\) removed/)
    expect((await run(["projections", "parked", "orders", "--url", url])).stdout).toMatch(/has no parked events/)
    expect(lines((await run(["projections", "--url", url, "--json"])).stdout)[0]).toMatchObject({ name: "orders", checkpoint: "0", parked: 0 })
  }, 120_000)

/** `projections rebuild` without downtime, asked for while an instance of a rebuildable projection runs, and while none does. */
const rebuildCommand = (makeUrl: () => string) =>
  it("projections rebuild: a rebuildable projection is rebuilt without downtime by its running instance (event.replaying), shown as serving / replaced; asked twice while none runs, one rebuild, built by the next to start", async () => {
    const url = makeUrl()
    expect((await run(["init", "--url", url])).code).toBe(0)
    await seed(url)
    const ids = lines((await run(["events", "--url", url, "--json"])).stdout).map((event) => event.eventId as string)

    let asked = ""
    const first = await runRebuildable(url, "directory", async () => {
      const result = await run(["projections", "rebuild", "directory", "--url", url])
      expect(result.code).toBe(0)
      asked = result.stdout
    })
    expect(asked).toMatch(/rebuild without downtime asked for\. The running instances build version 1 generation 1 \(checkpoints directory@v1\.g1\)/)
    expect(first.serving).toBe("v1.g1")
    const rebuilt = first.handled.filter((one) => one.generation === 1)
    expect(rebuilt.map((one) => one.eventId).sort()).toEqual([...ids].sort())
    expect(rebuilt.every((one) => one.replaying)).toBe(true)
    const listed = lines((await run(["projections", "--url", url, "--json"])).stdout)
    expect(listed.map((row) => [row.name, row.build])).toEqual([
      ["directory", { projection: "directory", version: 1, generation: 0, role: "replaced", rebuilding: null }],
      ["directory@v1.g1", { projection: "directory", version: 1, generation: 1, role: "serving", rebuilding: null }]
    ])
    expect((await run(["projections", "--url", url])).stdout).toMatch(/directory@v1\.g1 .* v1\.g1 serving/)

    // No instance runs: asked twice, the second is the same rebuild; the next instance builds it.
    const again = await run(["projections", "rebuild", "directory", "--url", url])
    expect(again.stdout).toMatch(/version 1 generation 2 \(checkpoints directory@v1\.g2\)/)
    const twice = await run(["projections", "rebuild", "directory@v1.g1", "--url", url])
    expect(twice.code).toBe(0)
    expect(twice.stdout).toMatch(/a rebuild is already in progress \(version 1 generation 2, checkpoints directory@v1\.g2\); nothing new was asked for/)
    expect((await run(["projections", "--url", url])).stdout).toMatch(/v1\.g1 serving \(rebuild: directory@v1\.g2\)/)
    expect((await runRebuildable(url, "directory")).serving).toBe("v1.g2")
  }, 120_000)

/** delete, restore, truncate and retention run on a store of its own: refusals without --yes, then each operation. */
const lifecycleCommands = (makeUrl: () => string) =>
  it("delete, restore, truncate, retention run and archive: confirmation, the operation, its report, bad input", async () => {
    const url = makeUrl()
    expect((await run(["init", "--url", url])).code).toBe(0)
    const events = (count: number) => Array.from({ length: count }, (_, i) => ({ eventType: "Deposited", data: { amount: i + 1 } }))
    await append(url, "Account", "a1", events(6))
    await append(url, "Account", "a2", events(4))
    // The log, where deleted aggregates keep their tombstone (`--aggregate` reads as load does).
    const versionsOf = async (id: string) =>
      lines((await run(["events", "--url", url, "--json", "--type", "Account"])).stdout)
        .filter((event) => event.aggregateId === id)
        .map((event) => [event.aggregateVersion, event.eventType])

    // Destructive commands refuse without --yes when no one can be asked; nothing changes.
    for (
      const args of [
        ["delete", "a1"],
        ["truncate", "a1", "--before", "3"],
        ["retention", "run", "--type", "Account", "--max-count", "1"],
        ["archive", "--type", "Account"]
      ]
    ) {
      const refused = await run([...args, "--url", url])
      expect(refused.code, args.join(" ")).toBe(1)
      expectOneLineError(refused.stderr, "pass --yes to confirm")
    }
    expect(await versionsOf("a1")).toHaveLength(6)

    const deleted = await run(["delete", "a1", "--url", url, "--yes"])
    expect(deleted.code).toBe(0)
    expect(deleted.stdout).toContain(`Deleted "a1": tombstone at version 7`)
    expect((await versionsOf("a1")).at(-1)).toEqual([7, "$deleted"])
    const again = await run(["delete", "a1", "--url", url, "--yes"])
    expect(again.code).toBe(1)
    expectOneLineError(again.stderr, `Aggregate "a1" was deleted (tombstone at version 7)`)
    const restored = await run(["restore", "a1", "--url", url, "--json"])
    expect(lines(restored.stdout)).toEqual([{ aggregateId: "a1", version: 7 }])

    const truncated = await run(["truncate", "a1", "--before", "5", "--url", url, "-y", "--json"])
    expect(lines(truncated.stdout)).toEqual([{ aggregateId: "a1", before: 5, removedEvents: 4 }])
    expect((await versionsOf("a1")).map(([version]) => version)).toEqual([5, 6, 7])
    const outOfRange = await run(["truncate", "a1", "--before", "9", "--url", url, "--yes"])
    expect(outOfRange.code).toBe(1)
    expectOneLineError(outOfRange.stderr, "its version is 7")

    const retained = await run(["retention", "run", "--type", "Account", "--max-count", "2", "--url", url, "--yes"])
    expect(retained.code).toBe(0)
    expect(retained.stdout).toContain(`Retention of "Account": 2 streams looked at, 2 truncated, 3 events removed.`)
    expect((await versionsOf("a2")).map(([version]) => version)).toEqual([3, 4])

    // Archiving a deleted stream: its events leave the log, reads by aggregate still see them.
    await append(url, "Account", "a3", events(5))
    expect((await run(["delete", "a3", "--url", url, "--yes"])).code).toBe(0)
    const archived = await run(["archive", "--type", "Account", "--url", url, "--yes", "--json"])
    expect(lines(archived.stdout)).toEqual([{ aggregateType: "Account", streams: 3, archivedStreams: 1, movedEvents: 4 }])
    expect((await versionsOf("a3")).map(([version]) => version)).toEqual([5, 6])
    expect((await run(["archive", "--type", "Account", "--idle-for", "0d", "--url", url, "--yes"])).code).toBe(2)

    const hard = await run(["delete", "a2", "--hard", "--expected-version", "4", "--url", url, "--yes", "--json"])
    expect(lines(hard.stdout)).toEqual([{ aggregateId: "a2", version: 5, hard: true, removedEvents: 2 }])
    expect(await versionsOf("a2")).toEqual([[5, "$deleted"]])
    await append(url, "Other", "a9", events(2))
    const one = await run(["truncate", "a9", "--before", "2", "--url", url, "-y"])
    expect(one.stdout).toContain(`Truncated "a9" before version 2: 1 event removed.`)

    // Bad input: usage errors (exit 2) before anything is opened, or the store's refusal (exit 1).
    expect((await run(["truncate", "a1", "--before", "0", "--url", url, "--yes"])).code).toBe(2)
    expect((await run(["retention", "run", "--type", "Account", "--max-count", "0", "--url", url, "--yes"])).code).toBe(2)
    expect((await run(["retention", "run", "--type", "Account", "--max-age", "-3d", "--url", url, "--yes"])).code).toBe(2)
    const neither = await run(["retention", "run", "--type", "Account", "--url", url, "--yes"])
    expect(neither.code).toBe(1)
    expectOneLineError(neither.stderr, "Give --max-age, --max-count or both")
    const unknown = await run(["delete", "nobody", "--url", url, "--yes"])
    expect(unknown.code).toBe(1)
    expectOneLineError(unknown.stderr, `No aggregate "nobody" is stored`)
  }, 180_000) // some 30 runs of the CLI, a process each

/** `bench` on a new store: a table of three workloads, a progress line each; then it refuses to run again without --force. */
const benchmark = (makeUrl: () => string) =>
  it("bench measures saves and loads on a scratch store, and refuses a store holding events without --force", async () => {
    const url = makeUrl()
    const result = await run(["bench", "--url", url, "--operations", "20"])
    expect(result.code).toBe(0)
    const rows = result.stdout.trim().split("\n")
    expect(rows[0]).toMatch(/^Workload\s+Operations\s+Seconds\s+Ops\/s\s+Events\/s\s+p50 ms\s+p99 ms$/)
    expect(rows.slice(1).map((row) => row.split(/\s{2,}/)[0])).toEqual(["save, 1 event", "save, 10 events", "load, 10 events"])
    for (const workload of ["save, 1 event", "save, 10 events", "load, 10 events"]) {
      expect(result.stderr).toContain(`[####################] 100%  ${workload}`)
    }

    const again = await run(["bench", "--url", url, "--operations", "20"])
    expect(again.code).toBe(1)
    expectOneLineError(again.stderr, "already holds events: bench adds 220 of its own; use a scratch database, or pass --force")

    const forced = await run(["bench", "--url", url, "--operations", "20", "--force", "--json"])
    expect(forced.code).toBe(0)
    const results = lines(forced.stdout)
    expect(results.map((row) => row.workload)).toEqual(["save, 1 event", "save, 10 events", "load, 10 events"])
    for (const row of results) {
      expect(row).toMatchObject({ operations: 20 })
      expect(row.operationsPerSecond).toBeGreaterThan(0)
    }
    const stats = JSON.parse((await run(["stats", "--url", url, "--json"])).stdout)
    expect(stats.aggregateTypes).toEqual([{ name: "EventualiBenchmark", aggregates: 80, events: 440 }])
  })

describe("eventuali on SQLite", () => {
  journey(() => sqliteUrl("journey"))
  lifecycleCommands(() => sqliteUrl("lifecycle"))
  projectionCommands(() => sqliteUrl("projections"))
  rebuildCommand(() => sqliteUrl("rebuild"))
  benchmark(() => sqliteUrl("bench"))
})

describePg("eventuali on PostgreSQL", () => {
  journey(() => freshUrl("cli"))
  lifecycleCommands(() => freshUrl("lifecycle"))
  projectionCommands(() => freshUrl("projections"))
  rebuildCommand(() => freshUrl("rebuild"))
  benchmark(() => freshUrl("bench"))

  it("wrong credentials: one line, password hidden, exit 1", async () => {
    const url = new URL(freshUrl("cli"))
    url.password = "wrong-password-123"
    const result = await run(["health", "--url", url.toString()])
    expect(result.code).toBe(1)
    expectOneLineError(result.stderr, /password authentication failed|Cannot connect/)
    expect(result.stderr).not.toContain("wrong-password-123")
  })
})
