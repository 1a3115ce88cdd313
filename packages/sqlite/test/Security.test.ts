/** SQL injection through every string the API takes, on SQLite. */
import { SqliteEventStore } from "@eventuali/sqlite"
import { SqlInjection } from "@eventuali/testing/vitest"

SqlInjection.run("SqliteEventStore", () => ({
  layer: SqliteEventStore.layer({ filename: ":memory:" }),
  events: "eventuali_events",
  canary: "eventuali_canary"
}))
