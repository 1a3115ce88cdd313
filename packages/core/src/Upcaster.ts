/**
 * Schema evolution. Stored events are never rewritten: when the shape of an event changes, its
 * schema declares upcasters that bring payloads stored at older versions up to the current one,
 * on every read (`load`, `loadEvents`, `loadEventsByType`, the streams, `readEvents`,
 * `subscribe`).
 *
 * An upcaster is an Effect `Schema` transformation between stored payloads: it decodes the JSON
 * stored at version `n` (without `_tag`: the event type column names it) into the JSON of
 * version `n + 1`. `versioned(schema, [from1, from2])` makes `schema` version 3: payloads stored
 * at version 1 go through `from1` then `from2`, those at version 2 through `from2`, those at
 * version 3 decode directly. `save` writes `eventVersion` 3 for new events of that type.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Upcaster } from "eventuali"
 *
 * // Version 1 stored { owner }; version 2 split it; version 3 (current) added a currency.
 * const OpenedV1 = Schema.Struct({ owner: Schema.String })
 * const OpenedV2 = Schema.Struct({ firstName: Schema.String, lastName: Schema.String })
 *
 * class AccountOpened extends Schema.TaggedClass<AccountOpened>()("AccountOpened", {
 *   firstName: Schema.String,
 *   lastName: Schema.String,
 *   currency: Schema.String
 * }) {}
 *
 * const AccountOpenedV3 = Upcaster.versioned(AccountOpened, [
 *   Upcaster.make(OpenedV1, ({ owner }) => {
 *     const [firstName = "", ...rest] = owner.split(" ")
 *     return { firstName, lastName: rest.join(" ") }
 *   }),
 *   Upcaster.make(OpenedV2, (v2) => ({ ...v2, currency: "EUR" }))
 * ])
 * // events: [AccountOpenedV3, ...] in Aggregate.make, or store.registerEventClass("AccountOpened", AccountOpenedV3)
 * ```
 *
 * @since 0.1.0
 */
import { ParseResult, Schema } from "effect"
import * as internal from "./internal/versions.js"

/**
 * A schema that decodes a payload stored at one version (`From`, JSON without `_tag`) into the
 * payload of the next version (`To`). Only its decoding side is ever used.
 *
 * @since 0.1.0
 * @category models
 */
export interface Upcaster<From = unknown, To = unknown> extends Schema.Schema<To, From> {}

/**
 * The JSON form an event of schema `S` is stored in: its encoded form without `_tag`. What the
 * last upcaster must produce.
 *
 * @since 0.1.0
 * @category type-level
 */
export type StoredPayload<S extends Schema.Schema.Any> = Omit<Schema.Schema.Encoded<S>, "_tag">

/**
 * An upcaster from a function: `from` decodes (and checks) the old stored payload, `upcast` turns
 * it into the next version's. For an upcaster that may fail, write the transformation yourself
 * (`Schema.transformOrFail`); any schema from one stored shape to the next will do.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <Old, Stored, To>(
  from: Schema.Schema<Old, Stored>,
  upcast: (payload: Old) => To
): Upcaster<Stored, To> =>
  Schema.transformOrFail(from, nextVersion<To>(), {
    strict: true,
    decode: (payload) => ParseResult.succeed(upcast(payload)),
    encode: (payload, _, ast) =>
      ParseResult.fail(new ParseResult.Forbidden(ast, payload, "an upcaster only reads old payloads; it never writes them"))
  })

/**
 * The next version's payload as `upcast` returned it: whatever comes next (the next upcaster,
 * or the event's own schema) checks it.
 */
const nextVersion = <To>(): Schema.Schema<To> => Schema.declare((_: unknown): _ is To => true, { identifier: "NextVersion" })

/**
 * The event schema at version `upcasters.length + 1`, reading older payloads through
 * `upcasters` (`upcasters[0]` reads version 1, `upcasters[1]` version 2, ...). The result
 * decodes and encodes exactly like `schema`; use it wherever the schema goes: the `events` of
 * `Aggregate.make` and `registerEventClass` (also under aliases of renamed types). The last
 * upcaster must produce the current stored payload (checked by the compiler).
 *
 * @since 0.1.0
 * @category constructors
 */
export const versioned = <
  S extends Schema.Schema.AnyNoContext,
  const Upcasters extends readonly [
    ...ReadonlyArray<Schema.Schema.AnyNoContext>,
    Schema.Schema.AnyNoContext & { readonly Type: StoredPayload<S> }
  ]
>(
  schema: S,
  upcasters: Upcasters
): Schema.Schema<Schema.Schema.Type<S>, Schema.Schema.Encoded<S>> => schema.annotations({ [internal.UpcastersId]: upcasters })

/**
 * The version `save` writes for events of this schema: 1 unless it is {@link versioned}.
 *
 * @since 0.1.0
 * @category getters
 */
export const currentVersion = (schema: Schema.Schema.AnyNoContext): number => internal.versionsOf(schema).current
