import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    include: ["test/**/*.test.ts"],
    // The PostgreSQL tests need a server (the postgres package's).
    globalSetup: ["../postgres/test/support/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
})
