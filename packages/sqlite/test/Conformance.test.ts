import { EventStoreConformance, SqlReadModelConformance } from "@eventuali/testing/vitest"
import { SqliteEventStore } from "@eventuali/sqlite"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

// A fresh in-memory database per test.
EventStoreConformance.run("SqliteEventStore (:memory:)", SqliteEventStore.layer({ filename: ":memory:" }))

// One database file shared by every test of the suite (each test uses its own ids and types).
const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-conformance-"))
EventStoreConformance.run(
  "SqliteEventStore (file)",
  SqliteEventStore.layer({ filename: Path.join(directory, "events.db") })
)

SqlReadModelConformance.run("SqliteEventStore read models (file)", SqliteEventStore.layer({ filename: Path.join(directory, "read-models.db") }))
