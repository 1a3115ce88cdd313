import { describe, expect, it } from "@effect/vitest"
import * as Tables from "../src/Tables.js"

describe("Tables", () => {
  it("names the tables bare without a schema", () => {
    expect(Tables.identifiers(undefined).events).toBe("eventuali_events")
    expect(Tables.quoted(undefined)).toEqual({
      events: "\"eventuali_events\"",
      migrations: "\"eventuali_migrations\"",
      checkpoints: "\"eventuali_checkpoints\"",
      snapshots: "\"eventuali_snapshots\""
    })
  })

  it("qualifies them by the schema, keeping its case when quoted", () => {
    expect(Tables.identifiers("Tenant_1").snapshots).toBe("Tenant_1.eventuali_snapshots")
    expect(Tables.quoted("Tenant_1").checkpoints).toBe("\"Tenant_1\".\"eventuali_checkpoints\"")
  })

  it("has one notification channel per schema", () => {
    expect(Tables.channel(undefined)).toBe("eventuali:public")
    expect(Tables.channel("tenant")).toBe("eventuali:tenant")
  })
})
