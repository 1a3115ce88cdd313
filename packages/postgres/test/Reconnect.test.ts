/** Which failures are tried again on another connection (`internal/reconnect.ts`), without a server. */
import { describe, expect, it } from "@effect/vitest"
import { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { isClosedConnection, isRetryable, retryOnClosedOrCancelled } from "../src/internal/reconnect.js"

const failure = (cause: unknown) => new SqlError({ cause, message: "Failed to execute statement" })
const withCode = (code: string, message = "server said so") => Object.assign(new Error(message), { code })

describe("retrying on a closed connection", () => {
  it("recognises connections the server or the network closed", () => {
    expect(isClosedConnection(failure(withCode("57P01", "terminating connection due to administrator command")))).toBe(true)
    expect(isClosedConnection(failure(withCode("57P05", "terminating connection due to idle-session timeout")))).toBe(true)
    expect(isClosedConnection(failure(withCode("08006")))).toBe(true)
    expect(isClosedConnection(failure(withCode("ECONNRESET")))).toBe(true)
    expect(isClosedConnection(failure(new Error("Connection terminated unexpectedly")))).toBe(true)
  })

  it("does not retry what another attempt would not change, nor a server that does not answer", () => {
    expect(isClosedConnection(failure(withCode("23505", "duplicate key")))).toBe(false)
    expect(isClosedConnection(failure(withCode("57014", "canceling statement due to statement timeout")))).toBe(false)
    expect(isClosedConnection(failure(new Error("Connection terminated due to connection timeout")))).toBe(false)
    expect(isClosedConnection(failure(withCode("ECONNREFUSED")))).toBe(false)
  })

  it("retries a stray cancel, not a statement timeout", () => {
    expect(isRetryable(failure(withCode("57014", "canceling statement due to user request")))).toBe(true)
    expect(isRetryable(failure(withCode("57014", "canceling statement due to statement timeout")))).toBe(false)
    expect(isRetryable(failure(withCode("57P01", "terminating connection due to administrator command")))).toBe(true)
    expect(isRetryable(failure(withCode("23505", "duplicate key")))).toBe(false)
  })

  it.live("tries again, at most three more times", () =>
    Effect.gen(function*() {
      let attempts = 0
      const closedTwice = Effect.suspend(() =>
        ++attempts <= 2 ? Effect.fail(failure(withCode("57P01"))) : Effect.succeed("answered")
      )
      expect(yield* retryOnClosedOrCancelled(closedTwice)).toBe("answered")
      expect(attempts).toBe(3)
      attempts = 0
      const alwaysClosed = Effect.suspend(() => {
        attempts++
        return Effect.fail(failure(withCode("57P01")))
      })
      yield* Effect.flip(retryOnClosedOrCancelled(alwaysClosed))
      expect(attempts).toBe(4)
    }))
})
