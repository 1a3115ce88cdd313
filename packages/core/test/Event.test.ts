import { describe, expect, it } from "@effect/vitest"
import { Event } from "@eventuali/core"

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

describe("Event.makeId", () => {
  it("makes RFC 9562 version 7 UUIDs carrying the current time", () => {
    const before = Date.now()
    const id = Event.makeId()
    expect(id).toMatch(UUID_V7)
    const millis = parseInt(id.slice(0, 8) + id.slice(9, 13), 16)
    expect(millis).toBeGreaterThanOrEqual(before)
    expect(millis).toBeLessThanOrEqual(Date.now() + 1)
  })

  it("makes unique ids that increase in the order they are made, also many within one millisecond", () => {
    const ids = Array.from({ length: 20_000 }, () => Event.makeId())
    for (const id of ids) expect(id).toMatch(UUID_V7)
    expect(new Set(ids).size).toBe(ids.length)
    for (let i = 1; i < ids.length; i++) expect(ids[i]! > ids[i - 1]!).toBe(true)
  })
})
