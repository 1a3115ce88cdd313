/**
 * `eventuali export`: the whole log as NDJSON, read page by page (memory stays flat).
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as NodeSink from "@effect/platform-node/NodeSink"
import * as FileSystem from "@effect/platform/FileSystem"
import { EventStore } from "@eventuali/core/EventStore"
import { Chunk, Console, Effect, Option, Ref, Stream } from "effect"
import { position, replicas, url, withStore } from "./common.js"
import * as Ndjson from "./ndjson.js"
import * as Output from "./output.js"

const output = Options.file("output").pipe(
  Options.withAlias("o"),
  Options.withPseudoName("FILE"),
  Options.optional,
  Options.withDescription("Write to this file (default: standard output)")
)

const from = position("from").pipe(
  Options.optional,
  Options.withDescription("Only events after this position (for an incremental export)")
)

const PAGE_SIZE = 1000

const stdout = NodeSink.fromWritable(() => process.stdout, (cause) => cause, { endOnDone: false })

export const exportEvents = Command.make("export", { url, replicas, output, from }, (options) =>
  withStore(
    options.url,
    { create: false, replicas: options.replicas },
    Effect.gen(function*() {
      const store = yield* EventStore
      const fs = yield* FileSystem.FileSystem
      const exported = yield* Ref.make(0)
      const lines = store.streamAll({ fromPosition: Option.getOrUndefined(options.from), batchSize: PAGE_SIZE }).pipe(
        // One write per page; none for an empty chunk (a file sink fails on a zero-byte write).
        Stream.mapChunksEffect((events) =>
          Effect.as(
            Ref.update(exported, (n) => n + events.length),
            Chunk.isEmpty(events) ? Chunk.empty<string>() : Chunk.of(Chunk.join(Chunk.map(events, (event) => `${Ndjson.encode(event)}\n`), ""))
          )
        ),
        Stream.encodeText
      )
      const [duration] = yield* Effect.timed(Option.match(options.output, {
        onNone: () => Stream.run(lines, stdout),
        onSome: (path) => Stream.run(lines, fs.sink(path))
      }))
      if (Option.isSome(options.output)) {
        const count = yield* Ref.get(exported)
        yield* Console.log(`Exported ${Output.count(count)} events to ${options.output.value} in ${Output.seconds(duration)}`)
      }
    })
  )).pipe(
    Command.withDescription(
      "Write the log as NDJSON (one event per line, by position) to standard output or --output, page by page."
    )
  )
