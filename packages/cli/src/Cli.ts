/**
 * The `eventuali` command-line tool: inspect, tail, export and import an event store from a
 * connection string (`--url` or `EVENTUALI_URL`). The `bin` of this package runs {@link run}.
 *
 * @since 0.1.0
 */
import * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as ValidationError from "@effect/cli/ValidationError"
import { Cause, Console, Effect } from "effect"
import { bench } from "./internal/bench.js"
import { CliError, describeError } from "./internal/common.js"
import { events } from "./internal/events.js"
import { exportEvents } from "./internal/export.js"
import { health } from "./internal/health.js"
import { importEvents } from "./internal/import.js"
import { init } from "./internal/init.js"
import { projections } from "./internal/projections.js"
import { stats } from "./internal/stats.js"
import { tail } from "./internal/tail.js"

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
 * `projections` (and `projections rebuild NAME`), `bench`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = root.pipe(
  Command.withHandler(() => new CliError({ message: "No command given (see eventuali --help)" })),
  Command.withSubcommands([init, health, stats, events, tail, exportEvents, importEvents, projections, bench])
)

const cli = Command.run(command, { name: "eventuali", version })

/**
 * Runs the CLI on `process.argv`-style arguments and succeeds with the process exit code: 0 on
 * success, 1 when a command failed (after printing one line to stderr: no stack, no password),
 * 2 for invalid usage (after printing what was wrong).
 *
 * @since 0.1.0
 * @category running
 */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, CliApp.CliApp.Environment> =>
  // Bare `eventuali` shows the help.
  cli(argv.length <= 2 ? [...argv, "--help"] : argv).pipe(
    Effect.as(0),
    Effect.catchAll((error) =>
      ValidationError.isValidationError(error) ? Effect.succeed(2) : Effect.as(Console.error(`Error: ${error.message}`), 1)
    ),
    Effect.catchAllDefect((defect) => Effect.as(Console.error(`Error: unexpected failure: ${describeError(Cause.squash(Cause.die(defect)), undefined)}`), 1))
  )
