/**
 * @since 0.1.0
 */

/** The conformance suite every event store layer must pass: `EventStoreConformance.run(name, layer)`. @since 0.1.0 */
export * as EventStoreConformance from "./EventStoreConformance.js"

/** Exactly-once read models for SQL-backed stores: `SqlReadModelConformance.run(name, layer)`. @since 0.1.0 */
export * as SqlReadModelConformance from "./SqlReadModelConformance.js"

/** Given/when/then specifications for deciders: `DeciderSpec.make(decider)(events).when(command).then(events)`. @since 0.1.0 */
export * as DeciderSpec from "./DeciderSpec.js"

/** A fresh in-memory event store per test: `TestEventStore.provide(effect)`, `TestEventStore.given(...)`. @since 0.1.0 */
export * as TestEventStore from "./TestEventStore.js"

/** Model-based property tests: random programs against a store and a reference model, `ModelConformance.run(name, layer)`. @since 0.1.0 */
export * as ModelConformance from "./ModelConformance.js"

/** SIGKILL a writer process mid-batch and check what survives: `FaultInjection.workload`, `runUntilKilled`, `verify`. @since 0.1.0 */
export * as FaultInjection from "./FaultInjection.js"

/** Stored events corrupted by hand: each read fails with a tagged error saying what is wrong, `CorruptedData.run(name, layer, cases)`. @since 0.1.0 */
export * as CorruptedData from "./CorruptedData.js"

/** SQL injection through every string the API takes, on a SQL store: `SqlInjection.run(name, open)`. @since 0.1.0 */
export * as SqlInjection from "./SqlInjection.js"
