/**
 * Model-based tests of an event store: fast-check generates random programs of saves, appends
 * with every `ExpectedVersion` (idempotent retries with repeated event ids included), loads,
 * reads by aggregate and by type, pages of the log, streams and subscriptions, registrations and
 * clock moves; each program runs against the store and against a reference model written from
 * the contract, and every result, every error tag and its fields (`actualVersion`,
 * `expectedVersion`, `eventType`) must match. A failing program is shrunk to a minimal one.
 *
 * @example
 * ```ts
 * // test/MyEventStore.model.test.ts
 * import { ModelConformance } from "@eventuali/testing/vitest"
 * import { MyEventStore } from "../src/index.js"
 *
 * ModelConformance.run("MyEventStore", MyEventStore.layer({ ... }))
 * ```
 *
 * @since 0.1.0
 */
import { describe, it } from "@effect/vitest"
import { EventStore } from "@eventuali/core"
import { Effect, type Layer } from "effect"
import * as Commands from "./internal/model/commands.js"
import { execute } from "./internal/model/runner.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Programs to run (default 40). */
  readonly numRuns?: number | undefined
  /** Most commands per program (default 30). */
  readonly maxCommands?: number | undefined
  /** Replays a failure fast-check reported (its `seed`, and `path` to go straight to the shrunk program). */
  readonly seed?: number | undefined
  readonly path?: string | undefined
}

/**
 * Declares the model-based property test for `layer`, built once per program. Every program
 * uses aggregate types, ids and event ids of its own, so a layer handing out one shared store
 * (a database file or server) works as well as one giving each program a fresh store.
 *
 * @since 0.1.0
 * @category tests
 */
export const run = (
  name: string,
  layer: Layer.Layer<EventStore.EventStore, unknown>,
  options: Options = {}
): void => {
  describe(name, () => {
    it.effect.prop(
      "random programs give the results and errors of the reference model",
      [Commands.program(options.maxCommands ?? 30)],
      ([program]) => EventStore.EventStore.pipe(Effect.flatMap((store) => execute(store, program)), Effect.provide(layer)),
      {
        timeout: 300_000,
        fastCheck: {
          numRuns: options.numRuns ?? 40,
          ...(options.seed === undefined ? {} : { seed: options.seed }),
          ...(options.path === undefined ? {} : { path: options.path })
        }
      }
    )
  })
}
