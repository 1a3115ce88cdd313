import { SqlError } from "@effect/sql/SqlError"
import { DatabaseError } from "@eventuali/core/Errors"
import { describe, expect, it } from "@effect/vitest"
import * as SqlErrors from "../src/SqlErrors.js"

const driverError = (message: string, code?: string) => Object.assign(new Error(message), code === undefined ? {} : { code })

describe("SqlErrors", () => {
  it("recognises SqlError and nothing else", () => {
    expect(SqlErrors.isSqlError(new SqlError({ cause: driverError("boom") }))).toBe(true)
    expect(SqlErrors.isSqlError(new DatabaseError({ message: "boom" }))).toBe(false)
    expect(SqlErrors.isSqlError(new Error("boom"))).toBe(false)
    expect(SqlErrors.isSqlError(null)).toBe(false)
  })

  it("says what an error says", () => {
    expect(SqlErrors.messageOf(new Error("disk full"))).toBe("disk full")
    expect(SqlErrors.messageOf(new AggregateError([new Error("ECONNREFUSED ::1"), new Error("ECONNREFUSED 127.0.0.1")])))
      .toBe("ECONNREFUSED ::1; ECONNREFUSED 127.0.0.1")
    expect(SqlErrors.messageOf({ _tag: "Interrupted" })).toBe("Interrupted")
    expect(SqlErrors.messageOf("plain")).toBe("plain")
  })

  it("prefers the driver's message to SqlError's generic one", () => {
    const error = new SqlError({ cause: driverError("no such table: eventuali_events"), message: "Failed to execute statement" })
    expect(SqlErrors.driverMessageOf(error)).toBe("no such table: eventuali_events")
    expect(SqlErrors.driverMessageOf(new SqlError({ cause: "not an error", message: "Failed to connect" }))).toBe("Failed to connect")
    expect(SqlErrors.driverMessageOf(new SqlError({ cause: new AggregateError([new Error("ECONNREFUSED")]) })))
      .toBe("ECONNREFUSED")
  })

  it("maps SqlError to a DatabaseError saying what failed, why and the driver's code", () => {
    const error = new SqlError({ cause: driverError("UNIQUE constraint failed", "SQLITE_CONSTRAINT_UNIQUE") })
    const mapped = SqlErrors.toDatabaseError("Appending events")(error)
    expect(mapped).toBeInstanceOf(DatabaseError)
    expect(mapped.message).toBe("Appending events failed: UNIQUE constraint failed [SQLITE_CONSTRAINT_UNIQUE]")
    expect(mapped.cause).toBe(error)
  })
})
