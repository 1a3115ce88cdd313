/**
 * The PostgreSQL server of this test run (see globalSetup.ts), with a fresh schema per use, so
 * test files never see each other's events.
 */
import { describe, inject } from "vitest"

/** The server URL, or "" when PostgreSQL is unavailable (and not required). */
export const serverUrl: string = inject("pgUrl")

/** `describe`, skipped with the reason when there is no server. */
export const describePg: typeof describe = serverUrl === ""
  ? ((name: string, ...rest: Array<unknown>) =>
    (describe.skip as (...args: Array<unknown>) => void)(`${name} (skipped: ${inject("pgUnavailable")})`, ...rest)) as typeof describe
  : describe

/** A schema name unique to this call. */
export const freshSchema = (prefix = "t"): string => `${prefix}_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`

/** The server URL pointing at a fresh schema. */
export const freshUrl = (prefix?: string): string => `${serverUrl}?schema=${freshSchema(prefix)}`
