import { describe, expect, it } from "@effect/vitest"
import * as Tables from "../src/Tables.js"

describe("Tables", () => {
  it("names the tables bare without a schema", () => {
    expect(Tables.identifiers(undefined).events).toBe("eventuali_events")
    expect(Tables.quoted(undefined)).toEqual({
      events: "\"eventuali_events\"",
      migrations: "\"eventuali_migrations\"",
      checkpoints: "\"eventuali_checkpoints\"",
      snapshots: "\"eventuali_snapshots\"",
      projections: "\"eventuali_projections\"",
      leases: "\"eventuali_projection_leases\"",
      instances: "\"eventuali_projection_instances\"",
      ranges: "\"eventuali_projection_ranges\"",
      parked: "\"eventuali_parked_events\"",
      archive: "\"eventuali_events_archive\"",
      keys: "\"eventuali_subject_keys\"",
      keyChanges: "\"eventuali_subject_key_changes\"",
      projectionVersions: "\"eventuali_projection_versions\""
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

  it("keeps every channel within PostgreSQL's 63 bytes, distinct per schema", () => {
    const byteLength = (text: string) => new TextEncoder().encode(text).length
    const longest = "s".repeat(63)
    const multiByte = "ü".repeat(31) // 62 bytes: a valid schema name, a 72-byte readable channel
    for (const schema of [longest, multiByte, "a".repeat(53), "a".repeat(54)]) {
      expect(byteLength(Tables.channel(schema))).toBeLessThanOrEqual(63)
      expect(Tables.channel(schema)).toBe(Tables.channel(schema))
    }
    expect(Tables.channel("a".repeat(53))).toBe(`eventuali:${"a".repeat(53)}`)
    expect(Tables.channel(longest)).toMatch(/^eventuali:#[0-9a-f]{16}$/)
    expect(Tables.channel(longest)).not.toBe(Tables.channel(`${"s".repeat(62)}t`))
  })
})
