/**
 * The registry of event schemas a store uses to decode what `loadEvents`, `loadEventsByType` and
 * subscriptions return. Several names may point at one schema (aliases such as
 * `"order.created"` for `OrderCreated`). Events of unregistered types still load, with their
 * raw JSON as `data`. A schema with upcasters (`Upcaster.versioned`) brings payloads stored at
 * older versions up to its current version before decoding them.
 *
 * @since 0.1.0
 */
import { Effect, Either, Schema } from "effect"
import { EventStoreError, type SerializationError } from "./Errors.js"
import { decodeEvent } from "./internal/codec.js"
import { planOf } from "./internal/privacy.js"
import { upcast } from "./internal/versions.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface EventRegistry {
  /** Registers (or replaces) the schema of `eventType`. Fails if `schema` is not a Schema. */
  readonly register: (eventType: string, schema: Schema.Schema.AnyNoContext) => Effect.Effect<void, EventStoreError>
  /** Removes `eventType`; succeeds with whether it was registered. */
  readonly unregister: (eventType: string) => Effect.Effect<boolean>
  /** A copy of the registrations. */
  readonly entries: Effect.Effect<ReadonlyMap<string, Schema.Schema.AnyNoContext>>
  /** The schema of `eventType`, if registered (synchronous, for hot paths). */
  readonly unsafeGet: (eventType: string) => Schema.Schema.AnyNoContext | undefined
  /**
   * Decodes `data`, stored at `eventVersion`, with the schema of `eventType` (upcasting it first),
   * or leaves it as is if there is none.
   */
  readonly decode: (eventType: string, eventVersion: number, data: unknown) => Either.Either<unknown, SerializationError>
}

/**
 * A new, empty registry.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<EventRegistry> = Effect.sync(() => {
  const schemas = new Map<string, Schema.Schema.AnyNoContext>()
  return {
    register: (eventType, schema) =>
      Effect.suspend(() => {
        if (typeof eventType !== "string" || eventType.length === 0) {
          return Effect.fail(new EventStoreError({ message: "An event type must be a non-empty string" }))
        }
        if (!Schema.isSchema(schema)) {
          return Effect.fail(
            new EventStoreError({
              message: `Cannot register ${JSON.stringify(eventType)}: expected an effect Schema, got ${describe(schema)}`
            })
          )
        }
        // Personal data marked where it cannot be sealed is refused now, not when first saved.
        const plan = planOf(schema)
        if (Either.isLeft(plan)) return Effect.fail(plan.left)
        schemas.set(eventType, schema)
        return Effect.void
      }),
    unregister: (eventType) => Effect.sync(() => schemas.delete(eventType)),
    entries: Effect.sync(() => new Map(schemas)),
    unsafeGet: (eventType) => schemas.get(eventType),
    decode: (eventType, eventVersion, data) => {
      const schema = schemas.get(eventType)
      return schema === undefined
        ? Either.right(data)
        : Either.flatMap(upcast(schema, eventType, eventVersion, data), (current) => decodeEvent(schema, eventType, current))
    }
  }
})

const describe = (value: unknown): string =>
  value === null ? "null" : typeof value === "function" ? `function ${value.name || "(anonymous)"}` : typeof value
