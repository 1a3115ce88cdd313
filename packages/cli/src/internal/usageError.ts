/**
 * What is wrong with a command line @effect/cli refused, in plain English: the word at fault and,
 * for a typo, what was probably meant. @effect/cli's own words are kept where they are plain
 * ("Missing argument <name>"); the options whose values it cannot describe well (numbers,
 * positions) check their values themselves (see `common.ts`).
 */
import * as AutoCorrect from "@effect/cli/AutoCorrect"
import type * as ValidationError from "@effect/cli/ValidationError"
import { Array as Arr, Option, Order, pipe } from "effect"
import { cliConfig, type CommandPath, type CommandTree, docText, type OptionName, optionsOf } from "./help.js"

/** The candidate closest to `word`, if it is a likely typo of it. */
const didYouMean = (word: string, candidates: ReadonlyArray<string>): string =>
  pipe(
    Arr.map(candidates, (candidate) => [candidate, AutoCorrect.levensteinDistance(word, candidate, cliConfig)] as const),
    Arr.filter(([, distance]) => distance <= cliConfig.autoCorrectLimit),
    Arr.sort(Order.mapInput(Order.number, ([, distance]: readonly [string, number]) => distance)),
    Arr.head,
    Option.match({ onNone: () => "", onSome: ([candidate]) => ` (did you mean ${candidate}?)` })
  )

const nameOf = (word: string): string => word.split("=")[0]!

const findOption = (options: ReadonlyArray<OptionName>, word: string): Option.Option<OptionName> =>
  Arr.findFirst(options, (option) => option.names.includes(nameOf(word)))

const unknownOption = (word: string, options: ReadonlyArray<OptionName>): string =>
  `Unknown option ${word}${didYouMean(nameOf(word), [...options.flatMap((option) => option.names), "--help"])}`

/** The first argument that is neither one of `options` nor an option's value. */
const firstArgument = (args: ReadonlyArray<string>, options: ReadonlyArray<OptionName>): string | undefined => {
  for (let index = 0; index < args.length; index++) {
    const option = findOption(options, args[index]!)
    if (Option.isNone(option)) return args[index]
    if (Option.isSome(option.value.value) && !args[index]!.includes("=")) index++
  }
  return undefined
}

/**
 * @effect/cli parsed the command line up to `leftover`, which no option or argument of `command`
 * takes (it says only "Received unknown argument").
 */
export const leftoverProblem = (command: CommandTree, leftover: readonly [string, ...Array<string>]): string => {
  const [word] = leftover
  const options = optionsOf(command)
  return Option.match(findOption(options, word), {
    // A known option at the end of the line, without the value it takes.
    onSome: (option) => `${nameOf(word)} needs a value: ${nameOf(word)} ${Option.getOrElse(option.value, () => "VALUE")}`,
    onNone: () => word.startsWith("-") ? unknownOption(word, options) : `Unexpected argument ${JSON.stringify(word)}`
  })
}

/**
 * An option of a command of `path` given an empty value (`--type ""`, typically an unset shell
 * variable): @effect/cli drops an empty value of a repeatable option without a word, so
 * `events --type "$T"` would show every type. Nothing takes an empty value.
 */
export const emptyValueProblem = (path: CommandPath, args: ReadonlyArray<string>): string | undefined => {
  const options = path.flatMap(optionsOf).filter((option) => Option.isSome(option.value))
  for (let index = 0; index + 1 < args.length; index++) {
    const option = findOption(options, args[index]!)
    if (Option.isSome(option) && !args[index]!.includes("=") && args[index + 1] === "") {
      return `${args[index]} needs a value, got an empty one: ${args[index]} ${Option.getOrElse(option.value.value, () => "VALUE")}`
    }
  }
  return undefined
}

/**
 * @effect/cli refused the command line with `error`; `path` is the commands named in it and
 * `rest` the arguments after the last of them.
 */
export const validationProblem = (
  error: ValidationError.ValidationError,
  path: CommandPath,
  rest: ReadonlyArray<string>
): string => {
  const command = path[path.length - 1]!
  // "Invalid subcommand for eventuali - use one of …": the word it stumbled on is the first one
  // that is not an option of the command.
  if (error._tag === "CommandMismatch" && command.subcommands.length > 0) {
    const options = optionsOf(command)
    const word = firstArgument(rest, options)
    if (word === undefined) return `Missing command after ${path.map((node) => node.name).join(" ")}`
    if (word.startsWith("-")) {
      return path.length === 1
        ? `Expected a command before ${word} (options go after it: eventuali stats --url URL)`
        : unknownOption(word, options)
    }
    return `Unknown command ${JSON.stringify(word)}${didYouMean(word, command.subcommands.map((subcommand) => subcommand.name))}`
  }
  return docText(error.error)
}
