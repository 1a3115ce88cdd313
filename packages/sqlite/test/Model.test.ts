import { SqliteEventStore } from "@eventuali/sqlite"
import { ModelConformance } from "@eventuali/testing/vitest"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

// A fresh in-memory database per program.
ModelConformance.run("SqliteEventStore (:memory:)", SqliteEventStore.layer({ filename: ":memory:" }))

// One file for every program (each uses names of its own), reopened per program.
const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-model-"))
ModelConformance.run("SqliteEventStore (file)", SqliteEventStore.layer({ filename: Path.join(directory, "events.db") }))
