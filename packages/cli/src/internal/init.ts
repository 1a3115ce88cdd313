/**
 * `eventuali init`: creates the store's tables, or applies the migrations a database lacks.
 */
import * as Command from "@effect/cli/Command"
import { Console, Effect, Option } from "effect"
import { url, withStore } from "./common.js"
import { Database, schemaVersion } from "./database.js"

export const init = Command.make("init", { url }, ({ url }) =>
  withStore(
    url,
    { create: true },
    Effect.gen(function*() {
      const database = yield* Database
      if (Option.isNone(database.sql)) {
        return yield* Console.log(`${database.shownUrl}: the in-memory store needs no schema`)
      }
      const version = yield* schemaVersion(database.sql.value)
      yield* Console.log(`${database.shownUrl}: ready, schema version ${version.applied}`)
    })
  )).pipe(
    Command.withDescription(
      "Create the store's schema, or apply the migrations it lacks. Idempotent. The only command (with import) that creates a SQLite file."
    )
  )
