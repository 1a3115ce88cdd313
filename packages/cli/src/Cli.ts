/**
 * The `eventuali` command-line tool: inspect, tail, export and import an event store from a
 * connection string (`--url` or `EVENTUALI_URL`). The `bin` of this package runs {@link run}.
 *
 * @since 0.1.0
 */
import * as BuiltInOptions from "@effect/cli/BuiltInOptions"
import type * as CliApp from "@effect/cli/CliApp"
import * as CliConfig from "@effect/cli/CliConfig"
import * as Command from "@effect/cli/Command"
import * as Descriptor from "@effect/cli/CommandDescriptor"
import * as ValidationError from "@effect/cli/ValidationError"
import { Array as Arr, Cause, Console, Effect, Either } from "effect"
import { bench } from "./internal/bench.js"
import { CliError, describeError } from "./internal/common.js"
import { events } from "./internal/events.js"
import { exportEvents } from "./internal/export.js"
import { forget } from "./internal/forget.js"
import { health } from "./internal/health.js"
import * as Help from "./internal/help.js"
import { importEvents } from "./internal/import.js"
import { init } from "./internal/init.js"
import { archiveCommand, deleteCommand, restoreCommand, retention, retentionRun, truncateCommand } from "./internal/lifecycle.js"
import { discard, parked, projections, rebuild, retry, verify } from "./internal/projections.js"
import { stats } from "./internal/stats.js"
import { tail } from "./internal/tail.js"
import { ui } from "./internal/ui.js"
import { create as createTenant, move as moveTenant, tenants } from "./internal/tenants.js"
import { emptyValueProblem, leftoverProblem, validationProblem } from "./internal/usageError.js"

/**
 * The version the CLI reports (`--version`).
 *
 * @since 0.1.0
 * @category constants
 */
export const version = "0.1.0"

const root = Command.make("eventuali").pipe(
  Command.withDescription("Inspect and operate an Eventuali event store (SQLite, PostgreSQL). Every command takes --url or EVENTUALI_URL.")
)

/**
 * The command tree: `init`, `health`, `stats`, `events`, `tail`, `export`, `import`,
 * `projections` (and `projections rebuild NAME`), `delete`, `restore`, `truncate`,
 * `retention run`, `archive`, `tenants` (and `tenants create`, `tenants move`), `forget SUBJECT`, `ui`, `bench`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = root.pipe(
  Command.withHandler(() => new CliError({ message: "No command given (see eventuali --help)" })),
  Command.withSubcommands([
    init,
    health,
    stats,
    events,
    tail,
    exportEvents,
    importEvents,
    projections,
    deleteCommand,
    restoreCommand,
    truncateCommand,
    retention,
    archiveCommand,
    tenants,
    forget,
    ui,
    bench
  ])
)

const cli = Command.run(command, { name: "eventuali", version })

/** The commands as the help lists them: the order of {@link command}'s. */
const commands = Help.commandTree(command, [
  Help.commandTree(init),
  Help.commandTree(health),
  Help.commandTree(stats),
  Help.commandTree(events),
  Help.commandTree(tail),
  Help.commandTree(exportEvents),
  Help.commandTree(importEvents),
  Help.commandTree(projections, [
    Help.commandTree(rebuild),
    Help.commandTree(parked),
    Help.commandTree(retry),
    Help.commandTree(discard),
    Help.commandTree(verify)
  ]),
  Help.commandTree(deleteCommand),
  Help.commandTree(restoreCommand),
  Help.commandTree(truncateCommand),
  Help.commandTree(retention, [Help.commandTree(retentionRun)]),
  Help.commandTree(archiveCommand),
  Help.commandTree(tenants, [Help.commandTree(createTenant), Help.commandTree(moveTenant)]),
  Help.commandTree(forget),
  Help.commandTree(ui),
  Help.commandTree(bench)
])

const showHelp = (path: Help.CommandPath) =>
  Effect.flatMap(Help.styleFor(process.stdout), (style) => Console.log(Help.render(Help.helpOf(path), style)))

/** Invalid usage: the problem, then the help of the command it concerns, on stderr; exit code 2. */
const usageError = (problem: string, path: Help.CommandPath) =>
  Effect.flatMap(Help.styleFor(process.stderr), (style) =>
    Effect.as(Console.error(`Error: ${problem}\n\n${Help.render(Help.helpOf(path), style)}`), 2))

/**
 * Runs the CLI on `process.argv`-style arguments and succeeds with the process exit code: 0 on
 * success, 1 when a command failed (after printing one line to stderr: no stack, no password),
 * 2 for invalid usage (after printing the problem and the command's help).
 *
 * @effect/cli parses the command line; its help, version and usage errors are shown here (see
 * `internal/help.ts` for why), everything else is left to it.
 *
 * @since 0.1.0
 * @category running
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, CliApp.CliApp.Environment> => {
  const args = argv.slice(2)
  const { path, rest } = Help.commandPath(commands, args)
  return Effect.gen(function*() {
    // Bare `eventuali` shows the help.
    if (args.length === 0) return yield* Effect.as(showHelp(path), 0)
    const empty = emptyValueProblem(path, args)
    if (empty !== undefined) return yield* usageError(empty, path)
    const parsed = yield* Effect.either(Descriptor.parse(command.descriptor, [commands.name, ...args], Help.cliConfig))
    if (Either.isLeft(parsed)) return yield* usageError(validationProblem(parsed.left, path, rest), path)
    const directive = parsed.right
    // `stats --url x --help`: @effect/cli leaves a built-in option after the command's own over.
    const helpLeftOver = directive._tag === "UserDefined" && directive.leftover.some((arg) => arg === "--help" || arg === "-h")
    if (helpLeftOver || directive._tag === "BuiltIn" && BuiltInOptions.isShowHelp(directive.option)) return yield* Effect.as(showHelp(path), 0)
    if (directive._tag === "UserDefined" && Arr.isNonEmptyReadonlyArray(directive.leftover)) {
      return yield* usageError(leftoverProblem(path[path.length - 1]!, directive.leftover), path)
    }
    if (directive._tag === "BuiltIn" && BuiltInOptions.isShowVersion(directive.option)) return yield* Effect.as(Console.log(version), 0)
    return yield* cli(argv).pipe(
      Effect.as(0),
      // (A ValidationError cannot come from the line parsed above: @effect/cli would print it.)
      Effect.catchAll((error) =>
        ValidationError.isValidationError(error) ? Effect.succeed(2) : Effect.as(Console.error(`Error: ${error.message}`), 1)
      )
    )
  }).pipe(
    Effect.provideService(CliConfig.CliConfig, Help.cliConfig),
    Effect.catchAllDefect((defect) => Effect.as(Console.error(`Error: unexpected failure: ${describeError(Cause.squash(Cause.die(defect)), undefined)}`), 1))
  )
}
