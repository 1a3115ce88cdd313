import { Either, Option, ParseResult, Schema, SchemaAST } from "effect"
import { SerializationError } from "../Errors.js"

/** The annotation `Upcaster.versioned` puts on an event schema: its upcasters, oldest first. */
export const UpcastersId: unique symbol = Symbol.for("eventuali/Upcaster/upcasters")

type Decoder = (input: unknown) => Either.Either<unknown, ParseResult.ParseError>

interface Versions {
  /** The version `save` writes: one more than the number of upcasters. */
  readonly current: number
  /** `upcasters[n - 1]` turns a payload stored at version `n` into one of version `n + 1`. */
  readonly upcasters: ReadonlyArray<Decoder>
}

const unversioned: Versions = { current: 1, upcasters: [] }

const cache = new WeakMap<Schema.Schema.AnyNoContext, Versions>()

const upcastersOf = (ast: SchemaAST.AST): ReadonlyArray<Schema.Schema.AnyNoContext> | undefined => {
  const own = SchemaAST.getAnnotation<ReadonlyArray<Schema.Schema.AnyNoContext>>(ast, UpcastersId)
  if (Option.isSome(own)) return own.value
  // Class annotations (the third argument of `Schema.TaggedClass`) sit on the class side.
  return ast._tag === "Transformation" ? upcastersOf(ast.to) : undefined
}

/** The versions an event schema declares (version 1 and no upcasters when it declares none). */
export const versionsOf = (schema: Schema.Schema.AnyNoContext): Versions => {
  let versions = cache.get(schema)
  if (versions === undefined) {
    const upcasters = upcastersOf(schema.ast)
    versions = upcasters === undefined
      ? unversioned
      : {
        current: upcasters.length + 1,
        upcasters: upcasters.map((upcaster) => Schema.decodeUnknownEither(upcaster, { errors: "all" }))
      }
    cache.set(schema, versions)
  }
  return versions
}

/**
 * Brings a payload stored at `eventVersion` up to the schema's current version, one upcaster at
 * a time. Stored data is never touched: the result is a new value. A schema that declares no
 * versions takes every payload as it is.
 */
export const upcast = (
  schema: Schema.Schema.AnyNoContext,
  eventType: string,
  eventVersion: number,
  data: unknown
): Either.Either<unknown, SerializationError> => {
  const versions = versionsOf(schema)
  if (versions.upcasters.length === 0) return Either.right(data)
  if (eventVersion > versions.current) {
    return Either.left(
      new SerializationError({
        eventType,
        message: `Event ${JSON.stringify(eventType)} is stored at version ${eventVersion}, newer than the current version ${versions.current} of its schema`
      })
    )
  }
  let payload = data
  for (let version = eventVersion; version < versions.current; version++) {
    const result = versions.upcasters[version - 1]!(payload)
    if (Either.isLeft(result)) {
      return Either.left(
        new SerializationError({
          eventType,
          message: `Event ${JSON.stringify(eventType)} stored at version ${eventVersion}: upcasting version ${version} to ${
            version + 1
          } failed: ${ParseResult.TreeFormatter.formatErrorSync(result.left)}`,
          cause: result.left
        })
      )
    }
    payload = result.right
  }
  return Either.right(payload)
}
