/**
 * The shared statement texts: every read shape binds exactly the parameters the storage passes,
 * texts are built once per shape (drivers prepare by text), and tables are qualified by schema.
 */
import { describe, expect, it } from "@effect/vitest"
import * as SqlBackend from "../src/SqlBackend.js"
import * as Statements from "../src/internal/statements.js"

const shapes: Array<Statements.ReadShape> = []
for (const aggregateTypes of ["none", "one", "many"] as const) {
  for (const eventTypes of ["none", "one", "many"] as const) {
    for (const limited of [false, true]) shapes.push({ aggregateTypes, eventTypes, limited })
  }
}

/** How many parameters the storage binds for a shape: the position, one per filter, the limit. */
const paramCount = (shape: Statements.ReadShape) =>
  1 + (shape.aggregateTypes === "none" ? 0 : 1) + (shape.eventTypes === "none" ? 0 : 1) + (shape.limited ? 1 : 0)

describe("shared statements", () => {
  it("SQLite reads have one ? per parameter the storage binds", () => {
    const statements = SqlBackend.statements("sqlite", undefined)
    for (const shape of shapes) {
      expect(statements.readAll(shape).match(/\?/g)?.length, JSON.stringify(shape)).toBe(paramCount(shape))
    }
    expect(statements.readStream.match(/\?/g)?.length).toBe(2)
    expect(statements.writeSnapshot.match(/\?/g)?.length).toBe(5)
  })

  it("PostgreSQL reads number their parameters $1..$n, and see only the gap-safe prefix of the log", () => {
    const statements = SqlBackend.statements("pg", undefined)
    for (const shape of shapes) {
      const text = statements.readAll(shape)
      const numbers = [...text.matchAll(/\$(\d+)/g)].map((match) => Number(match[1]))
      expect([...new Set(numbers)].sort(), JSON.stringify(shape)).toEqual(Array.from({ length: paramCount(shape) }, (_, i) => i + 1))
      expect(text).toContain(`pg_snapshot_xmin(pg_current_snapshot())::text::bigint << ${SqlBackend.POSITION_SHIFT}`)
    }
    expect(statements.logHead).toContain("pg_snapshot_xmin")
  })

  it("binds a list filter as the dialect reads it: JSON text for SQLite, an array for PostgreSQL", () => {
    expect(SqlBackend.statements("sqlite", undefined).list(["a", "b"])).toBe("[\"a\",\"b\"]")
    expect(SqlBackend.statements("pg", undefined).list(["a", "b"])).toEqual(["a", "b"])
  })

  it("qualifies and quotes the tables by schema", () => {
    expect(SqlBackend.statements("pg", "Tenant_1").readStream).toContain("FROM \"Tenant_1\".\"eventuali_events\"")
    expect(SqlBackend.statements("sqlite", undefined).readStream).toContain("FROM \"eventuali_events\"")
  })

  it("builds each text once per shape", () => {
    let built = 0
    const text = SqlBackend.memoized((count: number) => {
      built++
      return `SELECT ${count}`
    })
    expect(text(3)).toBe("SELECT 3")
    expect(text(3)).toBe(text(3))
    text(4)
    expect(built).toBe(2)
  })
})
