import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    include: ["test/**/*.test.ts"],
    // A PostgreSQL server for the examples that need one (05-postgres.ts): EVENTUALI_PG_URL's, or
    // an embedded one, as for the PostgreSQL package's own tests.
    globalSetup: ["../packages/postgres/test/support/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000
  }
})
