/**
 * What an append expects of the aggregate's current version: the optimistic concurrency check.
 *
 * @since 0.1.0
 */
import { Match, Schema } from "effect"

/** @since 0.1.0 @category models */
export class Any extends Schema.TaggedClass<Any>()("Any", {}) {}
/** @since 0.1.0 @category models */
export class NoStream extends Schema.TaggedClass<NoStream>()("NoStream", {}) {}
/** @since 0.1.0 @category models */
export class StreamExists extends Schema.TaggedClass<StreamExists>()("StreamExists", {}) {}
/** @since 0.1.0 @category models */
export class Exact extends Schema.TaggedClass<Exact>()("Exact", {
  version: Schema.NonNegativeInt
}) {}

/**
 * `any` appends whatever the version; `noStream` only to an aggregate with no events;
 * `streamExists` only to one with at least one; `exact(n)` only when the version is `n`.
 *
 * @since 0.1.0
 * @category models
 */
export const ExpectedVersion = Schema.Union(Any, NoStream, StreamExists, Exact)

/** @since 0.1.0 @category models */
export type ExpectedVersion = typeof ExpectedVersion.Type

/** Append regardless of the current version. @since 0.1.0 @category constructors */
export const any: ExpectedVersion = new Any()

/** Append only if the aggregate has no events yet. @since 0.1.0 @category constructors */
export const noStream: ExpectedVersion = new NoStream()

/** Append only if the aggregate already has events. @since 0.1.0 @category constructors */
export const streamExists: ExpectedVersion = new StreamExists()

/**
 * Append only if the aggregate is exactly at `version` (0: it has no events). Any number is
 * taken here: the store refuses one that is not a non-negative integer with `EventStoreError`, so
 * a version from a request fails as a typed error instead of throwing where it is built.
 *
 * @since 0.1.0
 * @category constructors
 */
export const exact = (version: number): ExpectedVersion => new Exact({ version }, { disableValidation: true })

/**
 * Whether an aggregate at `actualVersion` (0 when absent) satisfies the expectation.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isSatisfiedBy = (expected: ExpectedVersion, actualVersion: number): boolean =>
  Match.valueTags(expected, {
    Any: () => true,
    NoStream: () => actualVersion === 0,
    StreamExists: () => actualVersion > 0,
    Exact: ({ version }) => actualVersion === version
  })

/**
 * A short human description, for error messages.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (expected: ExpectedVersion): string =>
  Match.valueTags(expected, {
    Any: () => "any version",
    NoStream: () => "no stream",
    StreamExists: () => "an existing stream",
    Exact: ({ version }) => `version ${version}`
  })
