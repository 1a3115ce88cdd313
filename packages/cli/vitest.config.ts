import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    include: ["test/**/*.test.ts"],
    // The CLI tests run the built binary; the PostgreSQL ones need a server (the postgres package's).
    globalSetup: ["test/support/buildBin.ts", "../postgres/test/support/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
})
