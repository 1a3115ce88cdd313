/**
 * The suites every event store backend runs, written for `@effect/vitest` (a peer dependency of
 * this entry point): import them from `@eventuali/testing/vitest` inside a vitest test file.
 *
 * @since 0.1.0
 */

/** The conformance suite every event store layer must pass: `EventStoreConformance.run(name, layer)`. @since 0.1.0 */
export * as EventStoreConformance from "./EventStoreConformance.js"

/** Exactly-once read models for SQL-backed stores: `SqlReadModelConformance.run(name, layer)`. @since 0.1.0 */
export * as SqlReadModelConformance from "./SqlReadModelConformance.js"

/** Model-based property tests: random programs against a store and a reference model, `ModelConformance.run(name, layer)`. @since 0.1.0 */
export * as ModelConformance from "./ModelConformance.js"

/** SIGKILL a writer process mid-batch and check what survives: `FaultInjection.workload`, `runUntilKilled`, `verify`. @since 0.1.0 */
export * as FaultInjection from "./FaultInjection.js"

/** Stored events corrupted by hand: each read fails with a tagged error saying what is wrong, `CorruptedData.run(name, layer, cases)`. @since 0.1.0 */
export * as CorruptedData from "./CorruptedData.js"

/** SQL injection through every string the API takes, on a SQL store: `SqlInjection.run(name, open)`. @since 0.1.0 */
export * as SqlInjection from "./SqlInjection.js"

/** Crypto-shredding of personal data on a store that provides `Privacy`: `PrivacyConformance.run(name, layer)`. @since 0.2.0 */
export * as PrivacyConformance from "./PrivacyConformance.js"
