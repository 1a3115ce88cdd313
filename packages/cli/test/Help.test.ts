/**
 * The help's layout, in this process: which style a stream gets from the environment, and that
 * rendering keeps every line within the width whatever the terminal.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { command } from "../src/Cli.js"
import { events } from "../src/internal/events.js"
import * as Help from "../src/internal/help.js"

const withEnvironment = (environment: Record<string, string>) =>
  Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(environment))))

const terminal = { isTTY: true, columns: 120 }
const pipe = { isTTY: false }

describe("Help.styleFor", () => {
  it.effect("a terminal: colours and its width; NO_COLOR (not empty) turns colours off", () =>
    Effect.gen(function*() {
      expect(yield* Help.styleFor(terminal).pipe(withEnvironment({}))).toEqual({ colour: true, width: 120 })
      expect(yield* Help.styleFor(terminal).pipe(withEnvironment({ NO_COLOR: "1" }))).toEqual({ colour: false, width: 120 })
      expect(yield* Help.styleFor(terminal).pipe(withEnvironment({ NO_COLOR: "" }))).toEqual({ colour: true, width: 120 })
      expect(yield* Help.styleFor(terminal).pipe(withEnvironment({ COLUMNS: "60" }))).toEqual({ colour: true, width: 120 })
    }))

  it.effect("not a terminal: no colours; COLUMNS, else 80; never narrower than 40", () =>
    Effect.gen(function*() {
      expect(yield* Help.styleFor(pipe).pipe(withEnvironment({}))).toEqual({ colour: false, width: 80 })
      expect(yield* Help.styleFor(pipe).pipe(withEnvironment({ COLUMNS: "132" }))).toEqual({ colour: false, width: 132 })
      expect(yield* Help.styleFor(pipe).pipe(withEnvironment({ COLUMNS: "wide" }))).toEqual({ colour: false, width: 80 })
      expect(yield* Help.styleFor(pipe).pipe(withEnvironment({ COLUMNS: "10" }))).toEqual({ colour: false, width: 40 })
    }))
})

describe("Help.render", () => {
  const root = Help.commandTree(command, [Help.commandTree(events)])

  it("keeps every line within the width, at any width, cutting only words longer than a line", () => {
    const { path } = Help.commandPath(root, ["events", "--limit", "5"])
    for (let width = 40; width <= 200; width += 7) {
      const text = Help.render(Help.helpOf(path), { colour: false, width })
      for (const line of text.split("\n")) expect(line.length, `${width}: ${line}`).toBeLessThanOrEqual(width)
      expect(text.replace(/\s+/g, " ")).toContain("At most this many events (default: 100)")
    }
  })

  it("bold only with colour; the text is the same", () => {
    const help = Help.helpOf(Help.commandPath(root, ["events"]).path)
    const plain = Help.render(help, { colour: false, width: 80 })
    const coloured = Help.render(help, { colour: true, width: 80 })
    expect(plain).not.toContain("\u001b")
    expect(coloured).toContain("\u001b[1mUSAGE\u001b[22m")
    expect(coloured.replace(/\u001b\[\d+m/g, "")).toBe(plain)
  })

  it("commandPath finds commands as @effect/cli does: the first argument naming a subcommand", () => {
    expect(Help.commandPath(root, ["events", "--type", "User"]).path.map((node) => node.name)).toEqual(["eventuali", "events"])
    expect(Help.commandPath(root, ["--url", "x", "events", "-n", "1"]).rest).toEqual(["-n", "1"])
    expect(Help.commandPath(root, ["frob"]).path.map((node) => node.name)).toEqual(["eventuali"])
  })
})
