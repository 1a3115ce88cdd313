import { Either, Option, ParseResult, Schema, SchemaAST } from "effect"
import { SerializationError } from "../Errors.js"
import { tagOf } from "../Aggregate.js"

/**
 * Serialises a payload that must already be plain JSON: objects with a plain prototype, arrays,
 * strings, finite numbers other than -0, booleans and null. Anything JSON.stringify would drop or
 * change silently (undefined, NaN, Infinity, -0 — written as `0` —, Dates, Maps, class instances,
 * bigint, cycles) is refused,
 * and so are strings (values or keys) that not every backend can store: PostgreSQL's jsonb
 * rejects NUL characters and lone surrogates, so every backend does, and they share semantics.
 */
export const toJson = (eventType: string, value: unknown, what = "payload"): Either.Either<string, SerializationError> => {
  if (isPlainJson(value, 0)) return Either.right(JSON.stringify(value))
  const refused = notJson(eventType, value, what)
  return refused === undefined ? Either.right(JSON.stringify(value)) : Either.left(refused)
}

/** The check of {@link toJson} without the serialising: `value` is refused as `toJson` would refuse it. */
export const checkJson = (eventType: string, value: unknown, what = "payload"): Either.Either<void, SerializationError> => {
  if (isPlainJson(value, 0)) return Either.void
  const refused = notJson(eventType, value, what)
  return refused === undefined ? Either.void : Either.left(refused)
}

/** Why a value the quick check did not pass is not JSON, or `undefined` when it is after all. */
const notJson = (eventType: string, value: unknown, what: string): SerializationError | undefined => {
  const problem = findNonJson(value, "$", new Set())
  return problem === undefined
    ? undefined
    : new SerializationError({ eventType, message: `Event ${JSON.stringify(eventType)}: ${what} is not JSON: ${problem}` })
}

/** Nesting beyond which the quick check gives up (a cycle, or a value deep enough to look at slowly). */
const QUICK_DEPTH = 64

/**
 * The quick check every save makes: whether `value` is plain JSON with storable strings. It
 * builds no paths and tracks no ancestors; when it says no, {@link findNonJson} finds out why.
 */
const isPlainJson = (value: unknown, depth: number): boolean => {
  switch (typeof value) {
    case "string":
      return isStorable(value)
    case "boolean":
      return true
    case "number":
      return Number.isFinite(value) && !isNegativeZero(value)
    case "object": {
      if (value === null) return true
      if (depth === QUICK_DEPTH) return false
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth + 1)) return false
        return true
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return false
      for (const key in value) {
        if (!isStorable(key) || !isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}

const isNegativeZero = (value: number): boolean => value === 0 && 1 / value < 0

const isStorable = (value: string): boolean => !value.includes("\u0000") && value.isWellFormed()

const findNonJson = (value: unknown, path: string, ancestors: Set<object>): string | undefined => {
  switch (typeof value) {
    case "string":
      return stringProblem(value, path)
    case "boolean":
      return undefined
    case "number":
      return !Number.isFinite(value)
        ? `${path} is ${value}`
        : isNegativeZero(value)
        ? `${path} is -0, which JSON writes as 0`
        : undefined
    case "object": {
      if (value === null) return undefined
      if (ancestors.has(value)) return `${path} refers back to itself (a cycle)`
      ancestors.add(value)
      try {
        if (Array.isArray(value)) {
          for (let i = 0; i < value.length; i++) {
            const problem = findNonJson(value[i], `${path}[${i}]`, ancestors)
            if (problem !== undefined) return problem
          }
          return undefined
        }
        const proto = Object.getPrototypeOf(value)
        if (proto !== Object.prototype && proto !== null) {
          return `${path} is a ${value.constructor?.name ?? "non-plain object"}, not a plain object (encode it with its schema)`
        }
        for (const key in value) {
          const problem = stringProblem(key, `${path} key ${JSON.stringify(key)}`) ?? findNonJson((value as Record<string, unknown>)[key], `${path}.${key}`, ancestors)
          if (problem !== undefined) return problem
        }
        return undefined
      } finally {
        ancestors.delete(value)
      }
    }
    default:
      return `${path} is ${typeof value === "bigint" ? "a bigint" : typeof value}`
  }
}

const stringProblem = (value: string, path: string): string | undefined =>
  value.includes("\u0000")
    ? `${path} contains a NUL character (\\u0000), which cannot be stored`
    : value.isWellFormed()
    ? undefined
    : `${path} contains a lone surrogate (invalid UTF-16), which cannot be stored`

/** Parses stored JSON text; a corrupt row becomes a SerializationError naming its type. */
export const parseJson = (eventType: string, text: string, what = "payload"): Either.Either<unknown, SerializationError> => {
  try {
    return Either.right(JSON.parse(text) as unknown)
  } catch (cause) {
    return Either.left(
      new SerializationError({ eventType, message: `Event ${JSON.stringify(eventType)}: stored ${what} is not valid JSON`, cause })
    )
  }
}

type Decoder = (input: unknown) => Either.Either<unknown, ParseResult.ParseError>
type Encoder = (input: unknown) => Either.Either<unknown, ParseResult.ParseError>

/** What the store keeps per schema (of an event, or of a snapshot's state): its tag and its compiled codecs. */
interface Codec {
  readonly tag: string | undefined
  readonly decode: Decoder
  readonly encode: Encoder
  /** For a struct of plain fields (see {@link plainStructOf}). */
  readonly plain: ReadonlyArray<PlainField> | undefined
  /** For a plain `Schema.TaggedClass` (see {@link plainTaggedClass}). */
  readonly untagged: {
    /** Decodes a payload without its tag into an instance. */
    readonly decode: Decoder
    /** Encodes an instance of the class into its payload without the tag. */
    readonly encode: (event: object) => Either.Either<unknown, ParseResult.ParseError> | undefined
  } | undefined
}

const codecs = new WeakMap<Schema.Schema.AnyNoContext, Codec>()

/** The codecs of a schema, compiled the first time it is used and kept as long as the schema lives. */
export const codecFor = (schema: Schema.Schema.AnyNoContext): Codec => {
  let codec = codecs.get(schema)
  if (codec === undefined) {
    const plain = plainTaggedClass(schema)
    codec = {
      tag: tagOf(schema),
      plain: plainStructOf(schema.ast),
      decode: Schema.decodeUnknownEither(schema, { errors: "all" }),
      encode: Schema.encodeUnknownEither(schema, { errors: "all" }),
      untagged: plain === undefined ? undefined : {
        decode: (input) => Either.map(plain.decodeFields(input), (fields) => new plain.Class(fields, true)),
        encode: (event) => event instanceof plain.Class ? plain.encodeFields(event) : undefined
      }
    }
    codecs.set(schema, codec)
  }
  return codec
}

/** A field of a plain struct: its name, and the one check its schema makes of its value. */
interface PlainField {
  readonly name: string
  readonly is: (value: unknown) => boolean
}

const isString = (value: unknown): boolean => typeof value === "string"
const isNumber = (value: unknown): boolean => typeof value === "number"
const isBoolean = (value: unknown): boolean => typeof value === "boolean"

/** The check of a field type that decodes and encodes to itself, or `undefined` for any other. */
const plainCheckOf = (type: SchemaAST.AST): ((value: unknown) => boolean) | undefined => {
  switch (type._tag) {
    case "StringKeyword":
      return isString
    case "NumberKeyword":
      return isNumber
    case "BooleanKeyword":
      return isBoolean
    case "Literal": {
      const literal = type.literal
      return (value) => value === literal
    }
    default:
      return undefined
  }
}

/**
 * The fields of a struct whose every field is required and a string, number, boolean or literal
 * (a `Schema.TaggedStruct` of such fields: the common event), or `undefined` for any other schema.
 * For such a struct, decoding and encoding only check each field's type and copy the fields, in
 * the schema's order, leaving out any others — which {@link decodePlain} and {@link encodePlain}
 * do directly. Measured hot path: the schema's own decoding took about as long as the rest of
 * decoding a stored event (JSON parsing included), on every event of every load. Anything the
 * plain path would not accept goes through the schema, so errors are the schema's own.
 */
const plainStructOf = (ast: SchemaAST.AST): ReadonlyArray<PlainField> | undefined => {
  if (ast._tag !== "TypeLiteral" || ast.indexSignatures.length > 0) return undefined
  // Parse options on the schema (onExcessProperty, exact, ...) change what decoding does.
  if (Option.isSome(SchemaAST.getParseOptionsAnnotation(ast))) return undefined
  const fields: Array<PlainField> = []
  for (const property of ast.propertySignatures) {
    const is = plainCheckOf(property.type)
    if (typeof property.name !== "string" || property.isOptional || is === undefined) return undefined
    fields.push({ name: property.name, is })
  }
  return fields
}

/** Own fields only, as the schema reads them: an object of another prototype goes through the schema. */
const isPlainObject = (value: unknown): value is Record<string, unknown> => {
  if (typeof value !== "object" || value === null) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * A stored payload decoded as a plain struct, its `_tag` the given tag (as {@link withTag} puts
 * it), or `undefined` when the schema must decide (a field of the wrong type: its error).
 */
const decodePlain = (fields: ReadonlyArray<PlainField>, data: unknown, tag: string | undefined): object | undefined => {
  if (!isPlainObject(data)) return undefined
  const decoded: Record<string, unknown> = {}
  for (const field of fields) {
    const value = field.name === "_tag" && tag !== undefined ? tag : data[field.name]
    if (!field.is(value)) return undefined
    decoded[field.name] = value
  }
  return decoded
}

/** An event encoded as a plain struct, without its `_tag`, or `undefined` when the schema must decide. */
const encodePlain = (fields: ReadonlyArray<PlainField>, event: unknown): Record<string, unknown> | undefined => {
  if (!isPlainObject(event)) return undefined
  const encoded: Record<string, unknown> = {}
  for (const field of fields) {
    const value = event[field.name]
    if (!field.is(value)) return undefined
    if (field.name !== "_tag") encoded[field.name] = value
  }
  return encoded
}

/**
 * Decoding a `Schema.TaggedClass` runs its constructor on the decoded fields, and the
 * constructor deletes their `_tag` before adding its own: the delete turns the object into a
 * slow dictionary, and copying it onto the instance then costs more than all the decoding
 * (measured: half of loading a 10-event aggregate). Decoding the fields without `_tag` and calling
 * the same constructor the same way (`new Class(fields, true)`, as the schema's own decoding
 * does) makes the same instance, fast. Encoding an instance field by field without `_tag` gives
 * the stored payload directly, as the schema's encoding does before the tag is taken off. Only
 * for classes whose encoded side is a plain struct of plain fields; anything else goes through
 * the schema.
 */
const plainTaggedClass = (schema: Schema.Schema.AnyNoContext) => {
  const ast = schema.ast
  const fields: unknown = (schema as { readonly fields?: unknown }).fields
  if (typeof schema !== "function" || typeof fields !== "object" || fields === null || !("_tag" in fields)) return undefined
  if (ast._tag !== "Transformation" || ast.from._tag !== "TypeLiteral" || ast.to._tag !== "Declaration") return undefined
  const { _tag: _, ...rest } = fields as Schema.Struct.Fields
  // A struct of no fields takes any object as it is (excess keys and all): a class with nothing
  // but its tag goes through the schema.
  if (Reflect.ownKeys(rest).length === 0) return undefined
  // The fields of a schema without context have none.
  const struct = Schema.Struct(rest) as unknown as Schema.Schema.AnyNoContext
  return {
    Class: schema as unknown as new(fields: unknown, disableValidation: boolean) => object,
    decodeFields: Schema.decodeUnknownEither(struct, { errors: "all" }),
    encodeFields: Schema.encodeUnknownEither(struct, { errors: "all" })
  }
}

/**
 * The payload with its tag. Payloads reach here freshly parsed from storage (or made by an
 * upcaster) and are read by no one else, so the tag is put on the object itself: copying every
 * payload would cost more than decoding a struct.
 */
const withTag = (data: Record<string, unknown>, tag: string): Record<string, unknown> => {
  if (data["_tag"] === tag) return data
  if (!Object.isExtensible(data)) return { ...data, _tag: tag }
  data["_tag"] = tag
  return data
}

/**
 * Decodes a stored payload with an event schema. Payloads are stored without their `_tag`
 * (the event type column says it), so the schema's own tag is put back first; that also lets an
 * alias (`"order.created"`) decode with the schema of `OrderCreated`.
 */
export const decodeEvent = (
  schema: Schema.Schema.AnyNoContext,
  eventType: string,
  data: unknown,
  tag: string | undefined = codecFor(schema).tag
): Either.Either<unknown, SerializationError> => {
  const codec = codecFor(schema)
  if (codec.plain !== undefined) {
    const decoded = decodePlain(codec.plain, data, tag)
    if (decoded !== undefined) return Either.right(decoded)
  }
  if (codec.untagged !== undefined) {
    const decoded = codec.untagged.decode(data)
    // A payload that does not decode goes through the schema itself, for its error message.
    if (Either.isRight(decoded)) return Either.right(decoded.right)
  }
  const input = tag !== undefined && typeof data === "object" && data !== null && !Array.isArray(data)
    ? withTag(data as Record<string, unknown>, tag)
    : data
  return Either.mapLeft(codec.decode(input), (error) =>
    new SerializationError({
      eventType,
      message: `Event ${JSON.stringify(eventType)}: stored payload does not match its schema: ${
        ParseResult.TreeFormatter.formatErrorSync(error)
      }`,
      cause: error
    }))
}

/**
 * `json` in place of a payload's JSON text that {@link encodeEvent} was asked not to make: the
 * payload is checked, and the caller serialises it itself (a payload with personal data is
 * serialised once, sealed: `privacy.ts`). Never the JSON text of a value.
 */
export const JSON_NOT_MADE = ""

/**
 * Encodes a domain event with its schema into the JSON payload stored (without `_tag`), and its
 * JSON text unless `makeJson` is false ({@link JSON_NOT_MADE}; the payload is checked either way).
 */
export const encodeEvent = (
  schema: Schema.Schema.AnyNoContext,
  event: { readonly _tag: string },
  makeJson = true
): Either.Either<{ readonly data: unknown; readonly json: string }, SerializationError> => {
  const codec = codecFor(schema)
  const plain = codec.plain === undefined ? undefined : encodePlain(codec.plain, event)
  if (plain !== undefined) return encoded(event._tag, plain, makeJson)
  const untagged = codec.untagged?.encode(event)
  if (untagged !== undefined && Either.isRight(untagged)) return encoded(event._tag, untagged.right, makeJson)
  return Either.flatMap(
    Either.mapLeft(codec.encode(event), (error) =>
      new SerializationError({
        eventType: event._tag,
        message: `Event ${JSON.stringify(event._tag)} does not match its schema: ${
          ParseResult.TreeFormatter.formatErrorSync(error)
        }`,
        cause: error
      })),
    (value) =>
      encoded(
        event._tag,
        typeof value === "object" && value !== null && "_tag" in value ? withoutTag(value as Record<string, unknown>) : value,
        makeJson
      )
  )
}

const encoded = (
  eventType: string,
  data: unknown,
  makeJson: boolean
): Either.Either<{ readonly data: unknown; readonly json: string }, SerializationError> =>
  makeJson ? Either.map(toJson(eventType, data), (json) => ({ data, json })) : Either.map(checkJson(eventType, data), () => ({ data, json: JSON_NOT_MADE }))

const withoutTag = (encoded: Record<string, unknown>): Record<string, unknown> => {
  const { _tag: _, ...rest } = encoded
  return rest
}
