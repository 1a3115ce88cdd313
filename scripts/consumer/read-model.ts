/**
 * A consumer's durable read model: `EventStore.layerSql(url)` provides the `SqlClient` a
 * projection writes through, in the transaction of its checkpoint.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { Console, Effect } from "effect"
import { EventStore } from "eventuali"

const url = process.argv[2] ?? "sqlite://:memory:"

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const [row] = yield* sql<{ readonly answer: number }>`SELECT 42 AS answer`
  yield* Console.log(`sql ${Number(row?.answer)}`)
})

program.pipe(Effect.provide(EventStore.layerSql(url)), Effect.orDie, Effect.runPromise)
