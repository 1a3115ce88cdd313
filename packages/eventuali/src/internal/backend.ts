/**
 * The store layer of a parsed connection string, keeping what the SQL drivers also provide: the
 * front door hides the `SqlClient`, the CLI uses it for what the store API does not cover
 * (statistics, schema version, batching an import into transactions).
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type { DatabaseError } from "@eventuali/core/Errors"
import type * as Core from "@eventuali/core/EventStore"
import * as InMemoryEventStore from "@eventuali/core/InMemoryEventStore"
import type * as ProjectionStore from "@eventuali/core/ProjectionStore"
import * as PgEventStore from "@eventuali/postgres/PgEventStore"
import * as SqliteEventStore from "@eventuali/sqlite/SqliteEventStore"
import { type Layer, Redacted } from "effect"
import type { ConnectionString } from "../ConnectionString.js"

export type Backend =
  | {
    readonly _tag: "Memory"
    readonly layer: Layer.Layer<Core.EventStore | ProjectionStore.ProjectionStore>
  }
  | {
    readonly _tag: "Sqlite" | "Postgres"
    /** The PostgreSQL schema of the store's tables (`?schema=`), if any. */
    readonly schema: string | undefined
    readonly layer: Layer.Layer<Core.EventStore | ProjectionStore.ProjectionStore | SqlClient.SqlClient, DatabaseError>
  }

export const fromConnectionString = (parsed: ConnectionString): Backend => {
  switch (parsed._tag) {
    case "Memory":
      return { _tag: "Memory", layer: InMemoryEventStore.layer }
    case "Sqlite":
      return {
        _tag: "Sqlite",
        schema: undefined,
        layer: SqliteEventStore.layer({ filename: parsed.filename, synchronous: parsed.synchronous })
      }
    case "Postgres":
      return {
        _tag: "Postgres",
        schema: PgEventStore.parseUrl(parsed.url).schema,
        layer: PgEventStore.layer({ url: Redacted.make(parsed.url) })
      }
  }
}
