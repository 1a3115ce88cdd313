/**
 * The conformance suite of the event store: every behaviour of the contract, as `@effect/vitest`
 * tests a backend runs against its own layer. Every backend (in-memory, SQLite, PostgreSQL, or a
 * third party's) that passes it shares the same semantics.
 *
 * @example
 * ```ts
 * // test/MyEventStore.test.ts
 * import { EventStoreConformance } from "@eventuali/testing/vitest"
 * import { MyEventStore } from "../src/index.js"
 *
 * EventStoreConformance.run("MyEventStore", MyEventStore.layer({ ... }))
 * ```
 *
 * @since 0.1.0
 */
import { describe, it } from "@effect/vitest"
import { EventStore, type ProjectionStore } from "@eventuali/core"
import { Effect, type Layer } from "effect"
import { aggregates } from "./internal/aggregates.js"
import { badInput } from "./internal/badInput.js"
import { causation } from "./internal/causation.js"
import { commands } from "./internal/commands.js"
import { optimisticConcurrency, sharedAcrossFibers } from "./internal/concurrency.js"
import { envelopes } from "./internal/envelopes.js"
import { aggregateOwnership, expectedVersions } from "./internal/expectedVersion.js"
import type { Test } from "./internal/fixtures.js"
import { idempotency } from "./internal/idempotency.js"
import { inline } from "./internal/inline.js"
import { lifecycle } from "./internal/lifecycle.js"
import { payloads } from "./internal/payloads.js"
import { projectionOperations } from "./internal/projectionOperations.js"
import { projections } from "./internal/projections.js"
import { reading } from "./internal/reading.js"
import { registry } from "./internal/registry.js"
import { serialization } from "./internal/serialization.js"
import { snapshots } from "./internal/snapshots.js"
import { subscriptions } from "./internal/subscriptions.js"
import { upcasting } from "./internal/upcasting.js"
import { validation } from "./internal/validation.js"
import { versions } from "./internal/versions.js"

/**
 * Declares the suite as `describe(name, ...)`, each test an `it.effect` (with the test clock)
 * that provides `layer`. The layer is built once per test, so it may give each test a fresh
 * store; a layer that hands out one shared store (a database file or server) works too: every
 * aggregate id, aggregate type and registered event type in the suite is unique to its test.
 *
 * @since 0.1.0
 * @category tests
 */
export const run = (
  name: string,
  layer: Layer.Layer<EventStore.EventStore | ProjectionStore.ProjectionStore, unknown>
): void => {
  const test: Test = (title, body) =>
    it.effect(title, () => EventStore.EventStore.pipe(Effect.flatMap(body), Effect.provide(layer)))
  describe(name, () => {
    describe("aggregates", () => aggregates(test))
    describe("reading events", () => reading(test))
    describe("expected versions", () => expectedVersions(test))
    describe("aggregate ownership", () => aggregateOwnership(test))
    describe("optimistic concurrency", () => optimisticConcurrency(test))
    describe("sharing across fibers", () => sharedAcrossFibers(test))
    describe("idempotent retries", () => idempotency(test))
    describe("event ids, metadata and timestamps", () => envelopes(test))
    describe("payloads", () => payloads(test))
    describe("event registry", () => registry(test))
    describe("serialization errors", () => serialization(test))
    describe("invalid input", () => validation(test))
    describe("bad input, case by case", () => badInput(test))
    describe("subscriptions", () => subscriptions(test))
    describe("projections", () => projections(test))
    describe("inline projections", () => inline(test))
    describe("projections in production", () => projectionOperations(test))
    describe("projection versions", () => versions(test))
    describe("snapshots", () => snapshots(test))
    describe("command handling", () => commands(test))
    describe("schema evolution", () => upcasting(test))
    describe("causation and correlation", () => causation(test))
    describe("data lifecycle: delete, restore, truncate, retention", () => lifecycle(test))
  })
}
