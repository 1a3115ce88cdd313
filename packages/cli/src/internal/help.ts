/**
 * Help as people read it: what @effect/cli knows of a command (its usage, description, options,
 * arguments, subcommands), laid out to the terminal's width, in colour only on a terminal.
 *
 * The layout is done here because @effect/cli cannot be told to: `HelpDoc.toAnsiText` always
 * writes ANSI escape sequences (even into a pipe) and never wraps (help lines of 390 characters).
 * The content still comes from @effect/cli's `HelpDoc` and `Usage`, so a new option or command
 * shows up in the help without touching this file.
 */
import * as CliConfig from "@effect/cli/CliConfig"
import * as Descriptor from "@effect/cli/CommandDescriptor"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Span from "@effect/cli/HelpDoc/Span"
import * as Usage from "@effect/cli/Usage"
import { Array as Arr, Config, Effect, HashSet, Option } from "effect"

/**
 * How @effect/cli parses and shows our commands: `--help` anywhere on a line it refuses shows the
 * help rather than the problem; usage lines name each option once (`[--url URL]`, not
 * `[(-u, --url URL)]`); its built-in options are not listed among each command's own (the help
 * lists `--help` and, for `eventuali`, `--version` and `--completions` itself).
 */
export const cliConfig = CliConfig.make({ finalCheckBuiltIn: true, showAllNames: false, showBuiltIns: false })

/** A command and the commands under it, in the order the help lists them. */
export interface CommandTree {
  readonly name: string
  readonly descriptor: Descriptor.Command<unknown>
  readonly subcommands: ReadonlyArray<CommandTree>
}

export const commandTree = (
  command: { readonly descriptor: Descriptor.Command<unknown> },
  subcommands: ReadonlyArray<CommandTree> = []
): CommandTree => ({
  name: [...HashSet.values(Descriptor.getNames(command.descriptor))].join(" "),
  descriptor: command.descriptor,
  subcommands
})

/** `eventuali`, then the commands under it a command line names (`projections`, `rebuild`). */
export type CommandPath = readonly [CommandTree, ...Array<CommandTree>]

/**
 * The commands `args` name, from the root down, found as @effect/cli finds them (the first
 * argument that names a subcommand), and the arguments after the last of them.
 */
export const commandPath = (
  root: CommandTree,
  args: ReadonlyArray<string>
): { readonly path: CommandPath; readonly rest: ReadonlyArray<string> } => {
  const path: [CommandTree, ...Array<CommandTree>] = [root]
  let rest = args
  for (;;) {
    const subcommands = path[path.length - 1]!.subcommands
    const index = rest.findIndex((arg) => subcommands.some((subcommand) => subcommand.name === arg))
    if (index === -1) return { path, rest }
    path.push(subcommands.find((subcommand) => subcommand.name === rest[index])!)
    rest = rest.slice(index + 1)
  }
}

/** An option of a command, as its usage names it. */
export interface OptionName {
  readonly names: ReadonlyArray<string>
  /** What follows the option (`URL`, `N`), if it takes a value. */
  readonly value: Option.Option<string>
}

/** The options a command takes (not its subcommands'), from its usage. */
export const optionsOf = (command: CommandTree): ReadonlyArray<OptionName> => {
  const loop = (usage: Usage.Usage): ReadonlyArray<OptionName> => {
    switch (usage._tag) {
      case "Named":
        return usage.names.some((name) => name.startsWith("-")) ? [{ names: usage.names, value: usage.acceptedValues }] : []
      case "Optional":
      case "Repeated":
        return loop(usage.usage)
      case "Alternation":
      case "Concat":
        return [...loop(usage.left), ...loop(usage.right)]
      case "Empty":
      case "Mixed":
        return []
    }
  }
  return loop(Descriptor.getUsage(command.descriptor))
}

/** Where help goes and how it may look there. */
export interface Style {
  /** Bold headings and option names (ANSI escape sequences). */
  readonly colour: boolean
  /** No line is wider. */
  readonly width: number
}

/** Narrower than this, help would be mostly indentation. */
const MIN_WIDTH = 40

/**
 * The style for `stream`: colour only on a terminal and when `NO_COLOR` is not set to a non-empty
 * value (https://no-color.org); the terminal's width, else `COLUMNS`, else 80 columns.
 */
export const styleFor = (stream: { readonly isTTY?: boolean; readonly columns?: number }): Effect.Effect<Style> =>
  Effect.gen(function*() {
    const noColor = yield* Effect.orElseSucceed(Config.string("NO_COLOR"), () => "")
    const columns = yield* Effect.orElseSucceed(Config.integer("COLUMNS"), () => 0)
    const terminal = stream.isTTY === true
    const width = terminal && stream.columns !== undefined && stream.columns > 0 ? stream.columns : columns > 0 ? columns : 80
    return { colour: terminal && noColor === "", width: Math.max(width, MIN_WIDTH) }
  })

/** A command's help: its usage line and the rest of its help document. */
export interface Help {
  /** The words of the usage line (`eventuali`, `events`, `[--url URL]`…), none to be split. */
  readonly usage: ReadonlyArray<string>
  readonly doc: HelpDoc.HelpDoc
}

/** The help of the last command of `path` (as {@link commandPath} finds it). */
export const helpOf = (path: CommandPath): Help => {
  const command = path[path.length - 1]!
  const sections = sectionsOf(Descriptor.getHelp(command.descriptor, cliConfig))
  const definitions = (title: string) => (sections.get(title) ?? []).flatMap(definitionsOf).map(ownDescription)
  const builtIns = path.length === 1 ? rootBuiltIns : commandBuiltIns
  return {
    usage: [
      ...path.slice(0, -1).map((parent) => parent.name),
      ...usageWords(Descriptor.getUsage(command.descriptor)),
      // @effect/cli's usage has no word for the subcommand; `eventuali` alone does nothing.
      ...(command.subcommands.length === 0 ? [] : path.length === 1 ? ["<command>"] : ["[<command>]"])
    ],
    doc: HelpDoc.blocks([
      section("DESCRIPTION", HelpDoc.blocks(sections.get("DESCRIPTION") ?? [])),
      section("ARGUMENTS", definitionList(definitions("ARGUMENTS"))),
      section("OPTIONS", definitionList([...definitions("OPTIONS"), ...builtIns])),
      section("COMMANDS", definitionList(subcommandList(command)))
    ])
  }
}

/** A term (`-u, --url URL`, `- stats`) and its description. */
type Definition = readonly [Span.Span, HelpDoc.HelpDoc]

const definition = (term: string, description: string): Definition => [Span.text(term), HelpDoc.p(description)]

const commandBuiltIns = [definition("-h, --help", "Show this help")]

const rootBuiltIns = [
  ...commandBuiltIns,
  definition("--version", "Print the version"),
  definition("--completions SHELL", "Print a completion script for SHELL: sh, bash, fish or zsh")
]

const section = (title: string, body: HelpDoc.HelpDoc): HelpDoc.HelpDoc =>
  HelpDoc.isEmpty(body) ? HelpDoc.empty : HelpDoc.sequence(HelpDoc.h1(title), body)

const definitionList = (definitions: ReadonlyArray<Definition>): HelpDoc.HelpDoc =>
  Arr.isNonEmptyReadonlyArray(definitions) ? HelpDoc.descriptionList(Arr.map(definitions, ([term, doc]) => [term, doc])) : HelpDoc.empty

/** The blocks of a help document in order, sequences flattened. */
const blocksOf = (doc: HelpDoc.HelpDoc): ReadonlyArray<HelpDoc.HelpDoc> =>
  doc._tag === "Sequence" ? [...blocksOf(doc.left), ...blocksOf(doc.right)] : doc._tag === "Empty" ? [] : [doc]

/** A help document's blocks under each of its headers (DESCRIPTION, OPTIONS…). */
const sectionsOf = (doc: HelpDoc.HelpDoc): ReadonlyMap<string, ReadonlyArray<HelpDoc.HelpDoc>> => {
  const sections = new Map<string, Array<HelpDoc.HelpDoc>>()
  let current: Array<HelpDoc.HelpDoc> = []
  for (const block of blocksOf(doc)) {
    if (block._tag === "Header") sections.set(textOf(block.value), current = [])
    else current.push(block)
  }
  return sections
}

const definitionsOf = (block: HelpDoc.HelpDoc): ReadonlyArray<Definition> =>
  block._tag === "DescriptionList" ? block.definitions : []

/**
 * An option or argument with its own description only. @effect/cli puts a sentence on the kind of
 * value before it ("A user-defined piece of text that is confidential.") and notes the usage line
 * already shows after it ("This setting is optional.", "This option may be repeated…"), so the
 * description is its second block; defaults are written in the descriptions themselves.
 */
const ownDescription = ([term, doc]: Definition): Definition => [
  Span.text(withoutParentheses(textOf(term))),
  blocksOf(doc)[1] ?? HelpDoc.empty
]

/** `-u, --url URL` for @effect/cli's `(-u, --url URL)`: the parentheses group names in a usage line, not in a list. */
const withoutParentheses = (term: string): string => term.replace(/^\((.*)\)(\.\.\.)?$/, "$1$2")

/** Every command under `command`, with the first sentence of its description. */
const subcommandList = (command: CommandTree): ReadonlyArray<Definition> => {
  const entries = (tree: CommandTree, prefix: string): ReadonlyArray<Definition> =>
    tree.subcommands.flatMap((subcommand) => {
      const name = `${prefix}${subcommand.name}`
      const description = docText(HelpDoc.blocks(sectionsOf(Descriptor.getHelp(subcommand.descriptor, cliConfig)).get("DESCRIPTION") ?? []))
      return [definition(`- ${name}`, firstSentence(description)), ...entries(subcommand, `${name} `)]
    })
  return entries(command, "")
}

const firstSentence = (text: string): string => /^.*?[.!?](?=\s|$)/.exec(text)?.[0] ?? text

/** The usage as words that are not to be split across lines: `events`, `[--url URL]`, `<command>`. */
const usageWords = (usage: Usage.Usage): ReadonlyArray<string> =>
  usage._tag === "Concat"
    ? [...usageWords(usage.left), ...usageWords(usage.right)]
    : Usage.enumerate(usage, cliConfig).map(textOf).filter((word) => word !== "")

/** A span's text. Styles inside a paragraph are not rendered: our help has none. */
const textOf = (span: Span.Span): string => {
  switch (span._tag) {
    case "Text":
    case "URI":
      return span.value
    case "Highlight":
    case "Strong":
    case "Weak":
      return textOf(span.value)
    case "Sequence":
      return `${textOf(span.left)}${textOf(span.right)}`
  }
}

/** A help document's text, as one paragraph (for messages). */
export const docText = (doc: HelpDoc.HelpDoc): string =>
  blocksOf(doc).map((block) => {
    switch (block._tag) {
      case "Header":
      case "Paragraph":
        return textOf(block.value)
      case "DescriptionList":
        return block.definitions.map(([term, description]) => `${textOf(term)} ${docText(description)}`).join(" ")
      case "Enumeration":
        return block.elements.map(docText).join(" ")
      default:
        return ""
    }
  }).join(" ")

// ---------------------------------------------------------------------------------------------
// Rendering

const bold = (style: Style, text: string): string => style.colour ? `\x1b[1m${text}\x1b[22m` : text

/** `words` in lines of at most `width` characters; a word longer than a line is cut. */
const wrap = (words: ReadonlyArray<string>, width: number): Array<string> => {
  const lines: Array<string> = []
  let line = ""
  for (let word of words) {
    if (line !== "" && line.length + 1 + word.length <= width) {
      line = `${line} ${word}`
      continue
    }
    if (line !== "") lines.push(line)
    while (word.length > width) {
      lines.push(word.slice(0, width))
      word = word.slice(width)
    }
    line = word
  }
  if (line !== "") lines.push(line)
  return lines
}

const wordsOf = (text: string): ReadonlyArray<string> => text.split(/\s+/).filter((word) => word !== "")

const INDENT = 2
/** A term wider than this goes on its own line, its description under it. */
const MAX_TERM_WIDTH = 28
/** Narrower than this, a description goes under its term rather than beside it. */
const MIN_DESCRIPTION_WIDTH = 30

/** Terms and descriptions in two columns where they fit, else each description under its term. */
const definitionLines = (
  definitions: ReadonlyArray<Definition>,
  style: Style
): Array<string> => {
  const terms = definitions.map(([term]) => textOf(term))
  const termWidth = Math.max(0, ...terms.filter((term) => term.length <= MAX_TERM_WIDTH).map((term) => term.length))
  const descriptionWidth = style.width - INDENT - termWidth - 2
  return definitions.flatMap(([, doc], index) => {
    const term = terms[index]!
    const words = wordsOf(docText(doc))
    const beside = term.length <= termWidth && descriptionWidth >= MIN_DESCRIPTION_WIDTH &&
      words.every((word) => word.length <= descriptionWidth)
    if (beside) {
      const [first = "", ...rest] = wrap(words, descriptionWidth)
      const padding = " ".repeat(termWidth - term.length + 2)
      return [
        `${" ".repeat(INDENT)}${bold(style, term)}${first === "" ? "" : `${padding}${first}`}`,
        ...rest.map((line) => `${" ".repeat(INDENT + termWidth + 2)}${line}`)
      ]
    }
    return [
      ...wrap([term], style.width - INDENT).map((line) => `${" ".repeat(INDENT)}${bold(style, line)}`),
      ...wrap(words, style.width - INDENT * 3).map((line) => `${" ".repeat(INDENT * 3)}${line}`)
    ]
  })
}

const blockLines = (block: HelpDoc.HelpDoc, style: Style): Array<string> => {
  switch (block._tag) {
    case "Header":
      return [bold(style, textOf(block.value))]
    case "DescriptionList":
      return definitionLines(block.definitions, style)
    default:
      return wrap(wordsOf(docText(block)), style.width - INDENT).map((line) => `${" ".repeat(INDENT)}${line}`)
  }
}

/** The help as text: sections separated by a blank line, no line wider than `style.width`. */
export const render = (help: Help, style: Style): string => {
  const usage = wrap(help.usage, style.width - INDENT * 2).map((line, index) => `${" ".repeat(index === 0 ? INDENT : INDENT * 2)}${line}`)
  const blocks = blocksOf(help.doc)
  const lines = [bold(style, "USAGE"), ...usage]
  blocks.forEach((block, index) => {
    if (block._tag === "Header" || blocks[index - 1]?._tag !== "Header") lines.push("")
    lines.push(...blockLines(block, style))
  })
  return lines.join("\n")
}
