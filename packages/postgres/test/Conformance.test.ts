import { PgEventStore } from "@eventuali/postgres"
import { EventStoreConformance, SqlReadModelConformance } from "@eventuali/testing/vitest"
import { describePg, freshUrl, serverUrl } from "./support/pg.js"

// One schema shared by every test of the suite (each test uses its own ids and types).
describePg("PostgreSQL", () => {
  EventStoreConformance.run("PgEventStore", PgEventStore.layer({ url: serverUrl === "" ? "" : freshUrl("conf") }))
  SqlReadModelConformance.run("PgEventStore read models", PgEventStore.layer({ url: serverUrl === "" ? "" : freshUrl("rm") }))
})
