import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { type EventRow, toStored, toStoredAll } from "../src/internal/rows.js"

const row = (overrides: Partial<Record<keyof EventRow, unknown>> = {}): EventRow => ({
  position: 7,
  event_id: "0190f5a2-0000-7000-8000-000000000001",
  event_type: "Deposited",
  event_version: 1,
  aggregate_id: "account-1",
  aggregate_type: "Account",
  aggregate_version: 3,
  data: "{\"amount\":10}",
  metadata: "{\"headers\":{\"source\":\"test\"},\"correlationId\":\"c-1\"}",
  timestamp: 1_733_200_000_000,
  ...overrides
} as EventRow)

const problemOf = (value: EventRow) => {
  const result = toStored(value)
  if (Either.isRight(result)) throw new Error("expected the row to be refused")
  return result.left
}

describe("rows", () => {
  it("turns a row into the stored event, whatever integer shape the driver returns", () => {
    const event = Either.getOrThrow(toStored(row({ position: "9007199254740993", aggregate_version: "3", timestamp: "1733200000000" })))
    expect(event).toEqual({
      eventId: "0190f5a2-0000-7000-8000-000000000001",
      eventType: "Deposited",
      eventVersion: 1,
      aggregateId: "account-1",
      aggregateType: "Account",
      aggregateVersion: 3,
      position: 9007199254740993n,
      timestamp: new Date(1_733_200_000_000),
      metadata: { headers: { source: "test" }, correlationId: "c-1" },
      data: { amount: 10 }
    })
    expect(Either.getOrThrow(toStored(row({ position: 7n }))).position).toBe(7n)
    // Another library in the process may set node-postgres' global int8 parser to BigInt.
    const bigints = Either.getOrThrow(toStored(row({ aggregate_version: 3n, event_version: 1n, timestamp: 1_733_200_000_000n })))
    expect([bigints.aggregateVersion, bigints.eventVersion, bigints.timestamp]).toEqual([3, 1, new Date(1_733_200_000_000)])
  })

  it.each([
    ["event_id", "", "its event_id is \"\""],
    ["event_type", null, "its event_type is NULL"],
    ["aggregate_id", 12, "its aggregate_id is number 12"],
    ["data", null, "its data is NULL"],
    ["aggregate_version", 0, "its aggregate_version is number 0, not a positive integer"],
    ["aggregate_version", "three", "its aggregate_version is \"three\", not a positive integer"],
    ["event_version", 1.5, "its event_version is number 1.5, not a positive integer"],
    ["timestamp", "infinity", "its timestamp is \"infinity\""],
    ["timestamp", 9e15, "its timestamp is number 9000000000000000"],
    ["metadata", "[]", "its metadata is not an object"],
    ["metadata", "{\"headers\":{\"a\":1}}", "its metadata has headers that are not an object of strings"],
    ["metadata", "{\"headers\":{},\"userId\":5}", "its metadata has a userId that is not a string"]
  ] as const)("refuses a row whose %s is %j, naming its position and what is wrong", (column, value, problem) => {
    const error = problemOf(row({ [column]: value }))
    expect(error._tag).toBe("SerializationError")
    expect(error.message).toBe(`The stored event at position 7 is corrupt: ${problem}`)
  })

  it("refuses JSON that does not parse, naming the event type", () => {
    const error = problemOf(row({ data: "{not json" }))
    expect(error._tag).toBe("SerializationError")
    expect(error.eventType).toBe("Deposited")
  })

  it("reads a batch in order, and refuses the whole batch for one corrupt row", () => {
    const rows = [row({ position: 1, aggregate_version: 1 }), row({ position: 2, aggregate_version: 2 })]
    expect(Either.getOrThrow(toStoredAll(rows)).map((event) => event.position)).toEqual([1n, 2n])
    const result = toStoredAll([...rows, row({ position: 3, aggregate_version: -1 })])
    expect(Either.isLeft(result) && result.left.message).toContain("position 3")
  })
})
