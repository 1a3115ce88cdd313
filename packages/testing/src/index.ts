/**
 * Test tools that need no test runner: a fresh in-memory store per test and given/when/then
 * specifications for deciders. They load in plain Node. The suites written for `@effect/vitest`
 * (the conformance suite and its relatives) live in `@eventuali/testing/vitest`.
 *
 * @since 0.1.0
 */

/** Given/when/then specifications for deciders: `DeciderSpec.make(decider)(events).when(command).then(events)`. @since 0.1.0 */
export * as DeciderSpec from "./DeciderSpec.js"

/** A fresh in-memory event store per test: `TestEventStore.provide(effect)`, `TestEventStore.given(...)`. @since 0.1.0 */
export * as TestEventStore from "./TestEventStore.js"
