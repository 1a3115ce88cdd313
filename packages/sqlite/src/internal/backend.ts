/**
 * The SQLite backend of the shared SQL store: every statement of the store runs on the
 * synchronous connection (`connection.ts`), appends are check-then-insert (`append.ts`) and
 * concurrent ones commit together (`groupCommit.ts`). Commits are visible at once, so reads need
 * no catch-up wait; other processes' appends are found by polling.
 */
import type { AppendRequest } from "@eventuali/core/EventStorage"
import * as SqlBackend from "@eventuali/sql/SqlBackend"
import * as SqlErrors from "@eventuali/sql/SqlErrors"
import { Effect, type Scope } from "effect"
import * as Append from "./append.js"
import type { SyncConnection } from "./connection.js"
import * as GroupCommit from "./groupCommit.js"

const appendError = SqlErrors.toDatabaseError("Appending events")

/** The backend on the store's connection; its group-commit writer lives as long as the scope. */
export const make = (connection: SyncConnection): Effect.Effect<SqlBackend.SqlBackend, never, Scope.Scope> =>
  Effect.gen(function*() {
    const statements = SqlBackend.statements("sqlite", undefined)
    const append = Append.make(connection, statements, Append.statements(undefined))
    const writeGroup: GroupCommit.WriteGroup = (requests) => Effect.mapError(connection.use(() => append(requests)), appendError)
    const appendGrouped = yield* GroupCommit.make(writeGroup)
    // Inside the caller's own transaction the append must run on its connection, now: the writer
    // would wait for the lock the caller holds.
    const appendNow = (request: AppendRequest) => Effect.map(writeGroup([request]), (outcomes) => outcomes[0]!)
    return {
      statements,
      query: <Row extends object>(text: string, params: ReadonlyArray<unknown>) =>
        connection.use(() => connection.all(text, params) as ReadonlyArray<Row>),
      append: (request) =>
        Effect.withFiberRuntime((fiber) =>
          Effect.flatMap(Effect.mapError(connection.heldBy(fiber), appendError), (held) => held ? appendNow(request) : appendGrouped(request))
        ),
      catchUp: Effect.void
    }
  })
