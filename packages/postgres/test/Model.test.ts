import { PgEventStore } from "@eventuali/postgres"
import { ModelConformance } from "@eventuali/testing/vitest"
import { describePg, freshUrl, serverUrl } from "./support/pg.js"

// One schema for every program (each uses names of its own), a new pool per program.
describePg("PostgreSQL", () => {
  ModelConformance.run("PgEventStore", PgEventStore.layer({ url: serverUrl === "" ? "" : freshUrl("model") }))
})
