import { defineProject } from "vitest/config"

export default defineProject({
  test: {
    include: ["test/**/*.test.ts"],
    // The assets are bundled from frontend/ before the tests; the PostgreSQL tests need a server (the postgres package's).
    globalSetup: ["test/support/bundleAssets.ts", "test/support/chromium.ts", "../postgres/test/support/globalSetup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000
  }
})
