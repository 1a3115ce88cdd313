/**
 * Personal data on its way into and out of storage. A schema's fields marked `Privacy.personal`
 * are found once per schema ({@link planOf}); on write the fields of each subject are taken out
 * of the encoded payload and stored as one ciphertext per subject, under the reserved key
 * {@link SEALED}, with the field names, the key's id and the declared replacements (none of them
 * personal). On read ({@link reveal}) the fields come back from the ciphertext, or from the
 * replacements when the subject's key is gone. One ciphertext per subject and event, not per
 * field: the cipher's fixed cost is most of its cost on short values (docs/performance.md).
 */
import { Effect, Either, Option, ParseResult, Schema, SchemaAST } from "effect"
import type * as Aggregate from "../Aggregate.js"
import { EventStoreError, KeyStoreError, PersonalDataErasedError, SerializationError } from "../Errors.js"
import type { AppendRequest, EncodedEvent, EventStorage, StoredEvent, StoredSnapshot } from "../EventStorage.js"
import * as Privacy from "../Privacy.js"
import { JSON_NOT_MADE, toJson } from "./codec.js"
import { currentKeyPeeks, type OpenedCache, openedCaches } from "./privacyCache.js"

/** The payload key under which a payload keeps its sealed fields. No schema may use it. */
export const SEALED = "$personal"

/**
 * One subject's fields of one payload. Stored (under {@link SEALED}) in one of two forms, both read:
 *
 * - compact (written now): a flat array of strings, four per subject — the subject id, the key
 *   id, a descriptor and the ciphertext. Strings parse and serialise faster than objects with keys
 *   (measured, docs/performance.md: 0.5–0.7 µs against 0.85 µs to parse a payload); the descriptor
 *   is the same text for every event of a schema, made once and parsed once per process. The
 *   descriptor is the JSON text of `{ field: replacement, ... }` when every field declares a
 *   replacement (and no field name is an array index, which an object would reorder), else of
 *   `[fields]` or `[fields, erased]` (the only form written before). The ciphertext's plaintext is
 *   the JSON array of the fields' values in the descriptor's order (before: an object of them, still
 *   read): the row is shorter, and SQLite's cost of a row grows with its length (measured).
 * - objects (written first): `{ subject, key, fields, ciphertext, erased? }` per subject.
 */
interface Sealed {
  readonly subject: string
  readonly key: string
  readonly fields: ReadonlyArray<string>
  readonly ciphertext: string
  /** The encoded replacements of those fields that declare one. */
  readonly erased?: Record<string, unknown>
}

/** A field marked personal. */
interface PersonalField {
  readonly name: string
  /** A field name, or `undefined` for the aggregate id. */
  readonly subjectField: string | undefined
  /** The encoded replacement, if declared. */
  readonly replacement: Option.Option<unknown>
}

/** What a schema asks of the store: its personal fields (none: `undefined`). */
export interface Plan {
  readonly fields: ReadonlyArray<PersonalField>
  /** The encoded replacements of the fields that declare one, by field name. */
  readonly replacements: ReadonlyMap<string, unknown>
  /** The compact form's descriptor of all the fields (see {@link descriptorOf}), and its JSON text. */
  readonly descriptor: string
  readonly descriptorJson: string
  /** The names of all the fields: what a payload sealed for one subject leaves out. */
  readonly names: ReadonlySet<string>
  /** The same, in the schema's order. */
  readonly fieldNames: ReadonlyArray<string>
}

const plans = new WeakMap<Schema.Schema.All, Either.Either<Plan | undefined, EventStoreError>>()

/** The personal fields of a schema, checked: a misplaced or inconsistent annotation is an error. */
export const planOf = (schema: Schema.Schema.All): Either.Either<Plan | undefined, EventStoreError> => {
  let plan = plans.get(schema)
  if (plan === undefined) {
    plan = makePlan(schema)
    plans.set(schema, plan)
  }
  return plan
}

const describeSchema = (schema: Schema.Schema.All): string => {
  const identifier = SchemaAST.getIdentifierAnnotation(schema.ast).pipe(
    Option.orElse(() => SchemaAST.getIdentifierAnnotation(schema.ast._tag === "Transformation" ? schema.ast.to : schema.ast))
  )
  return Option.getOrElse(identifier, () => String(schema.ast))
}

/** The struct of a struct or class schema's fields, as written (annotations on the fields' schemas). */
const structOf = (ast: SchemaAST.AST): SchemaAST.TypeLiteral | undefined => {
  switch (ast._tag) {
    case "TypeLiteral":
      return ast
    case "Transformation":
      return structOf(ast.from)
    case "Refinement":
      return structOf(ast.from)
    default:
      return undefined
  }
}

/** The annotation on a field's own schema (or on the member of `X | undefined` of an optional field). */
const fieldAnnotation = (type: SchemaAST.AST): Option.Option<Privacy.PersonalData> => {
  const own = Privacy.getPersonalData(type)
  if (Option.isSome(own) || type._tag !== "Union") return own
  for (const member of type.types) {
    const annotation = Privacy.getPersonalData(member)
    if (Option.isSome(annotation)) return annotation
  }
  return Option.none()
}

/** Whether an annotation sits anywhere in `ast` (nested fields, array elements, ...), below the top level. */
const hasNestedAnnotation = (ast: SchemaAST.AST, seen: Set<SchemaAST.AST>): boolean => {
  if (seen.has(ast)) return false
  seen.add(ast)
  if (Option.isSome(Privacy.getPersonalData(ast))) return true
  switch (ast._tag) {
    case "TypeLiteral":
      return ast.propertySignatures.some((ps) => hasNestedAnnotation(ps.type, seen)) ||
        ast.indexSignatures.some((is) => hasNestedAnnotation(is.type, seen))
    case "TupleType":
      return ast.elements.some((element) => hasNestedAnnotation(element.type, seen)) ||
        ast.rest.some((rest) => hasNestedAnnotation(rest.type, seen))
    case "Union":
      return ast.types.some((member) => hasNestedAnnotation(member, seen))
    case "Refinement":
      return hasNestedAnnotation(ast.from, seen)
    case "Transformation":
      return hasNestedAnnotation(ast.from, seen) || hasNestedAnnotation(ast.to, seen)
    case "Declaration":
      return ast.typeParameters.some((parameter) => hasNestedAnnotation(parameter, seen))
    default:
      // A Suspend (recursive schema) is not followed: its annotations cannot be top-level fields.
      return false
  }
}

const makePlan = (schema: Schema.Schema.All): Either.Either<Plan | undefined, EventStoreError> => {
  const name = describeSchema(schema)
  const refuse = (message: string) => Either.left(new EventStoreError({ message: `${name}: ${message}` }))
  const struct = structOf(schema.ast)
  const fields: Array<PersonalField> = []
  const topLevel = new Set<SchemaAST.AST>()
  if (struct !== undefined) {
    const names = new Set(struct.propertySignatures.map((ps) => ps.name))
    if (names.has(SEALED)) return refuse(`the field name ${JSON.stringify(SEALED)} is reserved for personal data`)
    for (const ps of struct.propertySignatures) {
      const annotation = fieldAnnotation(ps.type)
      if (Option.isNone(annotation)) continue
      topLevel.add(ps.type)
      if (ps.type._tag === "Union") for (const member of ps.type.types) topLevel.add(member)
      const fieldName = String(ps.name)
      if (typeof ps.name !== "string" || fieldName === "_tag") return refuse(`${fieldName} cannot be personal data`)
      const { replacement, subject } = annotation.value
      let subjectField: string | undefined
      if (subject !== Privacy.aggregateId) {
        if (typeof subject !== "string" || !names.has(subject)) {
          return refuse(
            `the subject of the personal field ${JSON.stringify(fieldName)} must be another field of the schema or Privacy.aggregateId, got ${
              typeof subject === "string" ? JSON.stringify(subject) : String(subject)
            }`
          )
        }
        const subjectSignature = struct.propertySignatures.find((candidate) => candidate.name === subject)!
        if (Option.isSome(fieldAnnotation(subjectSignature.type))) {
          return refuse(`the subject field ${JSON.stringify(subject)} of ${JSON.stringify(fieldName)} is itself personal data, so it could not say whose key to use`)
        }
        subjectField = subject
      }
      let encodedReplacement: Option.Option<unknown> = Option.none()
      if (replacement !== undefined) {
        const encoded = Schema.encodeUnknownEither(Schema.make(ps.type))(replacement)
        if (Either.isLeft(encoded)) {
          return refuse(`the replacement of ${JSON.stringify(fieldName)} is not a value of the field: ${ParseResult.TreeFormatter.formatErrorSync(encoded.left)}`)
        }
        const json = toJson(name, encoded.right, "replacement")
        if (Either.isLeft(json)) return refuse(json.left.message)
        encodedReplacement = Option.some(encoded.right)
      }
      fields.push({ name: fieldName, subjectField, replacement: encodedReplacement })
    }
  }
  // An annotation anywhere else would silently not be applied: refused, so nothing is stored in plaintext by mistake.
  const seen = new Set<SchemaAST.AST>(topLevel)
  const misplaced = struct === undefined
    ? hasNestedAnnotation(schema.ast, seen)
    : struct.propertySignatures.some((ps) => !topLevel.has(ps.type) && hasNestedAnnotation(ps.type, seen))
  if (misplaced) {
    return refuse("Privacy.personal marks top-level fields of a struct or class schema only; a nested value must be marked as a whole field")
  }
  if (fields.length === 0) return Either.right(undefined)
  const replacements = new Map<string, unknown>()
  for (const field of fields) if (Option.isSome(field.replacement)) replacements.set(field.name, field.replacement.value)
  const descriptor = makeDescriptor(fields.map((field) => field.name), replacements)
  return Either.right({
    fields,
    replacements,
    descriptor,
    descriptorJson: JSON.stringify(descriptor),
    names: new Set(fields.map((field) => field.name)),
    fieldNames: fields.map((field) => field.name)
  })
}

/** Whether a schema has personal fields, which a save seals (a schema refused has none here: the save reports it). */
export const isSealable = (schema: Schema.Schema.All): boolean => {
  const plan = planOf(schema)
  return Either.isRight(plan) && plan.right !== undefined
}

/** Whether a snapshot state schema was declared free of personal data. */
export const isWithoutPersonalData = (schema: Schema.Schema.All): boolean =>
  Option.isSome(SchemaAST.getAnnotation(schema.ast, Privacy.WithoutPersonalDataId))

/** Whether any of a definition's event schemas has personal fields (errors count as no: they surface on save). */
const definitionHasPersonalData = new WeakMap<object, boolean>()
export const hasPersonalData = (definition: Aggregate.Definition<any, any>): boolean => {
  let has = definitionHasPersonalData.get(definition)
  if (has === undefined) {
    has = definition.events.some((schema) => {
      const plan = planOf(schema)
      return Either.isLeft(plan) || plan.right !== undefined
    })
    definitionHasPersonalData.set(definition, has)
  }
  return has
}

const associatedData = (subject: string, keyId: string, fields: ReadonlyArray<string>): string =>
  JSON.stringify([subject, keyId, fields])

/**
 * The associated data of the last payloads sealed, by key id (the same subject and schema's
 * events share it, and the key ids of the keys remembered for saves are the same strings each
 * time): the text is made once per key and descriptor, not per event (measured, about 0.3 µs).
 */
const sealedAssociatedData = new Map<string, { readonly subject: string; readonly descriptor: string; readonly text: string }>()
const ASSOCIATED_DATA_REMEMBERED = 1_000

const associatedDataForSeal = (subject: string, keyId: string, fields: ReadonlyArray<string>, descriptor: string): string => {
  const known = sealedAssociatedData.get(keyId)
  if (known !== undefined && known.subject === subject && known.descriptor === descriptor) return known.text
  const text = associatedData(subject, keyId, fields)
  if (known === undefined && sealedAssociatedData.size >= ASSOCIATED_DATA_REMEMBERED) {
    sealedAssociatedData.delete(sealedAssociatedData.keys().next().value!)
  }
  sealedAssociatedData.set(keyId, { subject, descriptor, text })
  return text
}

/** A payload to seal: its encoded value, its plan, and for error messages its event type. */
interface ToSeal {
  readonly label: string
  readonly data: Record<string, unknown>
  readonly plan: Plan
}

/** The subject of each personal field of a payload, by subject: field names in schema order. */
const subjectsOf = (
  item: ToSeal,
  aggregateId: string
): Either.Either<ReadonlyMap<string, ReadonlyArray<string>>, SerializationError> => {
  // The subjects checked first, in the schema's order; the common case — every field present, one
  // subject — answers with the plan's own list of names.
  let single: string | undefined
  let mixed = false
  for (const field of item.plan.fields) {
    if (item.data[field.name] === undefined) {
      mixed = true
      continue
    }
    const subject = field.subjectField === undefined ? aggregateId : item.data[field.subjectField]
    if (typeof subject !== "string" || subject.length === 0) {
      return Either.left(
        new SerializationError({
          eventType: item.label,
          message: `${item.label}: the subject field ${JSON.stringify(field.subjectField)} of the personal field ${
            JSON.stringify(field.name)
          } must hold a non-empty string, got ${JSON.stringify(subject)}`
        })
      )
    }
    if (single === undefined) single = subject
    else if (subject !== single) mixed = true
  }
  if (!mixed && single !== undefined) return Either.right(new Map([[single, item.plan.fieldNames]]))
  const bySubject = new Map<string, Array<string>>()
  for (const field of item.plan.fields) {
    if (item.data[field.name] === undefined) continue
    const subject = (field.subjectField === undefined ? aggregateId : item.data[field.subjectField]) as string
    const names = bySubject.get(subject)
    if (names === undefined) bySubject.set(subject, [field.name])
    else names.push(field.name)
  }
  return Either.right(bySubject)
}

/** The descriptor of the compact form for `names` of a payload of `plan` (see {@link Sealed}). */
const descriptorOf = (plan: Plan, names: ReadonlyArray<string>): string => {
  // Every personal field, for one subject (`names` keeps the plan's order): the common case.
  if (names.length === plan.fields.length) return plan.descriptor
  return makeDescriptor(names, plan.replacements)
}

/** Whether a property name is an array index, which an object lists first whatever its place. */
const isIndexLike = (name: string): boolean => /^(0|[1-9][0-9]*)$/.test(name)

const makeDescriptor = (names: ReadonlyArray<string>, replacements: ReadonlyMap<string, unknown>): string => {
  let erased: Record<string, unknown> | undefined
  let all = true
  for (const name of names) {
    if (replacements.has(name)) (erased ??= {})[name] = replacements.get(name)
    else all = false
  }
  if (erased !== undefined && all && !names.some(isIndexLike)) return JSON.stringify(erased)
  return JSON.stringify(erased === undefined ? [names] : [names, erased])
}

/**
 * The payload with each subject's fields replaced by their ciphertext, in the compact form, and
 * its JSON text: the text of the rest of the payload with the sealed part's appended, which is
 * what `JSON.stringify` of the payload gives (tested) without serialising the sealed part's
 * strings, whose descriptors are escaped text, again.
 */
const seal = (
  item: ToSeal,
  bySubject: ReadonlyMap<string, ReadonlyArray<string>>,
  keys: ReadonlyMap<string, Privacy.SubjectKey>,
  cipher: Privacy.Cipher
): { readonly data: Record<string, unknown>; readonly json: string } => {
  let sealedNames: ReadonlySet<string> = item.plan.names
  if (bySubject.size > 1 || !everyField(item.plan, bySubject)) {
    const names = new Set<string>()
    for (const subjectNames of bySubject.values()) for (const name of subjectNames) names.add(name)
    sealedNames = names
  }
  // Built without `delete`, which would turn the object into a slow dictionary (see codec.ts).
  const data: Record<string, unknown> = {}
  for (const key in item.data) if (!sealedNames.has(key)) data[key] = item.data[key]
  const rest = JSON.stringify(data)
  const sealed: Array<string> = []
  let sealedJson = ""
  for (const [subject, names] of bySubject) {
    const key = keys.get(subject)!
    const descriptor = descriptorOf(item.plan, names)
    const ciphertext = cipher.encrypt(
      key.material,
      valuesJson(item.data, names),
      associatedDataForSeal(subject, key.keyId, names, descriptor)
    )
    sealed.push(subject, key.keyId, descriptor, ciphertext)
    sealedJson += `${sealedJson === "" ? "" : ","}${quote(subject)},${quote(key.keyId)},${
      descriptor === item.plan.descriptor ? item.plan.descriptorJson : JSON.stringify(descriptor)
    },${quote(ciphertext)}`
  }
  data[SEALED] = sealed
  return { data, json: `${rest === "{}" ? "{" : `${rest.slice(0, -1)},`}"${SEALED}":[${sealedJson}]}` }
}

/** Whether a payload's only subject has all of the plan's fields (the common case: no set of names to build). */
const everyField = (plan: Plan, bySubject: ReadonlyMap<string, ReadonlyArray<string>>): boolean => {
  for (const names of bySubject.values()) return names.length === plan.fields.length
  return false
}

/** Characters `JSON.stringify` escapes in a string (surrogates: a lone one; pairs are left to it too). */
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/

/**
 * `JSON.stringify` of a string, without its escaping scan when there is nothing to escape (a
 * base64 ciphertext, an id): measured 110 against 250 ns for a ciphertext, three times a save.
 */
const quote = (text: string): string => ESCAPED.test(text) ? JSON.stringify(text) : `"${text}"`

/** The JSON text of the array of the payload's values of `names` (strings without `JSON.stringify`'s scan, see {@link quote}). */
const valuesJson = (data: Record<string, unknown>, names: ReadonlyArray<string>): string => {
  let json = "["
  for (let i = 0; i < names.length; i++) {
    const value = data[names[i]!]
    json += `${i === 0 ? "" : ","}${typeof value === "string" ? quote(value) : JSON.stringify(value)}`
  }
  return `${json}]`
}

/** The event with its payload's JSON text, made now if the save left it to sealing ({@link JSON_NOT_MADE}). */
const withJson = (event: EncodedEvent): EncodedEvent =>
  event.dataJson === JSON_NOT_MADE ? { ...event, dataJson: JSON.stringify(event.data) } : event

/** The request with every payload's JSON text ({@link withJson}). */
const withJsons = (request: AppendRequest): AppendRequest =>
  request.events.some((event) => event.dataJson === JSON_NOT_MADE) ? { ...request, events: request.events.map(withJson) } : request

const asRecord = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined

const noKeyStore = (label: string) =>
  new EventStoreError({
    message: `${label} has personal data (Privacy.personal), but this store has no key store: use a SQLite or PostgreSQL store, InMemoryEventStore.layerWithPrivacy, or EventStore.make(storage, { privacy })`
  })

/**
 * What sealing an append request needs, found without any effect: the request itself when it has
 * nothing to seal, or the subjects whose current keys it needs and how to seal it with them.
 */
export type SealPlan =
  | { readonly _tag: "Unchanged"; readonly request: AppendRequest }
  | {
    readonly _tag: "NeedsKeys"
    readonly privacy: Privacy.Service
    readonly subjects: ReadonlyArray<string>
    readonly seal: (keys: ReadonlyMap<string, Privacy.SubjectKey>) => AppendRequest
  }

/**
 * Plans the sealing of an append request: the personal fields of its events (and of its snapshot),
 * each subject's to be sealed under its current key. Requests of aggregates without personal data
 * pass unchanged.
 */
export const planSeal = (
  privacy: Privacy.Service | undefined,
  definition: Aggregate.Definition<any, any> | undefined,
  request: AppendRequest,
  schemaOf: (event: EncodedEvent) => Schema.Schema.All | undefined
): Either.Either<SealPlan, EventStoreError | SerializationError> => {
  const unchanged = () => Either.right<SealPlan>({ _tag: "Unchanged", request: withJsons(request) })
  const items: Array<ToSeal | undefined> = new Array(request.events.length)
  let any = false
  for (let i = 0; i < request.events.length; i++) {
    const event = request.events[i]!
    const schema = schemaOf(event)
    if (schema === undefined) continue
    const plan = planOf(schema)
    if (Either.isLeft(plan)) return Either.left(plan.left)
    const data = asRecord(event.data)
    if (plan.right === undefined || data === undefined) continue
    items[i] = { label: event.eventType, data, plan: plan.right }
    any = true
  }
  let snapshotItem: ToSeal | undefined
  if (request.snapshot !== undefined && definition?.snapshot !== undefined) {
    const policy = definition.snapshot
    const plan = planOf(policy.schema)
    if (Either.isLeft(plan)) return Either.left(plan.left)
    if (plan.right === undefined) {
      if (hasPersonalData(definition) && !isWithoutPersonalData(policy.schema)) {
        return Either.left(
          new EventStoreError({
            message: `${definition.type}: its events have personal data, so its snapshot state would hold a plaintext copy: mark the state's personal fields with Privacy.personal, or its schema with Privacy.withoutPersonalData if it holds none`
          })
        )
      }
    } else {
      const state = asRecord(JSON.parse(request.snapshot.stateJson))
      if (state !== undefined) {
        snapshotItem = { label: definition.type, data: state, plan: plan.right }
        any = true
      }
    }
  }
  if (!any) return unchanged()
  if (privacy === undefined) return Either.left(noKeyStore(request.aggregateType))
  const subjectsByItem: Array<ReadonlyMap<string, ReadonlyArray<string>> | undefined> = new Array(items.length + 1)
  const subjects: Array<string> = []
  const seen = new Set<string>()
  for (let i = 0; i <= items.length; i++) {
    const item = i < items.length ? items[i] : snapshotItem
    if (item === undefined) continue
    const bySubject = subjectsOf(item, request.aggregateId)
    if (Either.isLeft(bySubject)) return Either.left(bySubject.left)
    subjectsByItem[i] = bySubject.right
    for (const subject of bySubject.right.keys()) {
      if (seen.has(subject)) continue
      seen.add(subject)
      subjects.push(subject)
    }
  }
  if (subjects.length === 0) return unchanged()
  return Either.right({
    _tag: "NeedsKeys",
    privacy,
    subjects,
    seal: (keys) => {
      const events = request.events.map((event, i): EncodedEvent => {
        const item = items[i]
        const bySubject = subjectsByItem[i]
        if (item === undefined || bySubject === undefined || bySubject.size === 0) return withJson(event)
        const { data, json } = seal(item, bySubject, keys, privacy.cipher)
        return { ...event, data, dataJson: json }
      })
      const snapshotSubjects = subjectsByItem[items.length]
      const snapshot = snapshotItem === undefined || snapshotSubjects === undefined || request.snapshot === undefined
        ? request.snapshot
        : { ...request.snapshot, stateJson: seal(snapshotItem, snapshotSubjects, keys, privacy.cipher).json }
      return { ...request, events, snapshot }
    }
  })
}

/**
 * The request sealed as planned, when the subjects' current keys are remembered at `now`;
 * `undefined` when the key store must be asked ({@link sealWithKeyStore}).
 */
export const sealWithRemembered = (plan: SealPlan & { readonly _tag: "NeedsKeys" }, now: number): AppendRequest | undefined => {
  const keys = currentKeyPeeks.get(plan.privacy)?.(plan.subjects, now)
  return keys === undefined ? undefined : plan.seal(keys)
}

/** The request sealed as planned, with the current keys the key store gives. */
export const sealWithKeyStore = (plan: SealPlan & { readonly _tag: "NeedsKeys" }): Effect.Effect<AppendRequest, KeyStoreError> =>
  Effect.map(plan.privacy.keyStore.currentKeys(plan.subjects), plan.seal)

/**
 * The append request with the personal fields of its events (and of its snapshot) sealed, each
 * subject's under its current key. Requests of aggregates without personal data pass untouched.
 */
export const sealRequest = (
  privacy: Privacy.Service | undefined,
  definition: Aggregate.Definition<any, any> | undefined,
  request: AppendRequest,
  schemaOf: (event: EncodedEvent) => Schema.Schema.All | undefined
): Effect.Effect<AppendRequest, EventStoreError | SerializationError | KeyStoreError> =>
  Effect.suspend((): Effect.Effect<AppendRequest, EventStoreError | SerializationError | KeyStoreError> => {
    const plan = planSeal(privacy, definition, request, schemaOf)
    if (Either.isLeft(plan)) return Effect.fail(plan.left)
    return plan.right._tag === "Unchanged" ? Effect.succeed(plan.right.request) : sealWithKeyStore(plan.right)
  })

/** Whether a payload has sealed fields (its value under {@link SEALED} is checked when it is opened). */
const hasSealed = (data: unknown): boolean => {
  const record = asRecord(data)
  return record !== undefined && SEALED in record
}

/** Whether a payload is in the sealed form `seal` writes (its personal fields encrypted). */
export const isSealedPayload = hasSealed

/** The fields and replacements of a compact descriptor. */
interface Descriptor {
  readonly fields: ReadonlyArray<string>
  readonly erased: Record<string, unknown> | undefined
}

/** Descriptors read, by their text (`null`: not a descriptor); a few distinct texts per schema. */
const descriptors = new Map<string, Descriptor | null>()
const DESCRIPTORS_REMEMBERED = 1_000

const parseDescriptor = (text: string): Descriptor | null => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return null
  }
  const replacements = asRecord(value)
  if (replacements !== undefined) {
    // Every field with its replacement, in order: written without index-like names (see Sealed).
    const fields = Object.keys(replacements)
    return fields.length === 0 || fields.some(isIndexLike) ? null : { fields, erased: replacements }
  }
  if (!Array.isArray(value) || value.length < 1 || value.length > 2) return null
  const [fields, erased] = value as [unknown, unknown]
  if (!Array.isArray(fields) || !fields.every((field) => typeof field === "string")) return null
  if (value.length === 2 && asRecord(erased) === undefined) return null
  return { fields, erased: value.length === 2 ? erased as Record<string, unknown> : undefined }
}

/** The last descriptor read: most reads are of one schema's events, whose descriptors are equal. */
let lastDescriptor: { readonly text: string; readonly descriptor: Descriptor | null } | undefined

const readDescriptor = (text: string): Descriptor | null => {
  // Comparing with the last text is cheaper than hashing a freshly parsed string for the map.
  if (lastDescriptor !== undefined && lastDescriptor.text === text) return lastDescriptor.descriptor
  let descriptor = descriptors.get(text)
  if (descriptor === undefined) {
    descriptor = parseDescriptor(text)
    if (descriptors.size >= DESCRIPTORS_REMEMBERED) descriptors.delete(descriptors.keys().next().value!)
    descriptors.set(text, descriptor)
  }
  lastDescriptor = { text, descriptor }
  return descriptor
}

const isSealedObject = (value: unknown): value is Sealed => {
  const record = asRecord(value)
  return record !== undefined && typeof record["subject"] === "string" && typeof record["key"] === "string" &&
    typeof record["ciphertext"] === "string" && Array.isArray(record["fields"]) &&
    record["fields"].every((field) => typeof field === "string") &&
    (record["erased"] === undefined || asRecord(record["erased"]) !== undefined)
}

/** The sealed parts of a payload's value under {@link SEALED}, in either stored form; `undefined` when it is neither. */
const partsOf = (stored: unknown): ReadonlyArray<Sealed> | undefined => {
  if (!Array.isArray(stored) || stored.length === 0) return undefined
  if (typeof stored[0] !== "string") return stored.every(isSealedObject) ? stored : undefined
  if (stored.length % 4 !== 0) return undefined
  const parts: Array<Sealed> = []
  for (let i = 0; i < stored.length; i += 4) {
    const subject: unknown = stored[i]
    const key: unknown = stored[i + 1]
    const descriptorText: unknown = stored[i + 2]
    const ciphertext: unknown = stored[i + 3]
    if (typeof subject !== "string" || typeof key !== "string" || typeof descriptorText !== "string" || typeof ciphertext !== "string") {
      return undefined
    }
    const descriptor = readDescriptor(descriptorText)
    if (descriptor === null) return undefined
    parts.push(descriptor.erased === undefined
      ? { subject, key, fields: descriptor.fields, ciphertext }
      : { subject, key, fields: descriptor.fields, ciphertext, erased: descriptor.erased })
  }
  return parts
}

type RevealError = KeyStoreError | PersonalDataErasedError | SerializationError

/** The fields sealed in `part`, opened with `key` (remembered in `cache`), or `undefined` when they do not decrypt with it. */
const openPart = (
  cipher: Privacy.Cipher,
  cache: OpenedCache | undefined,
  part: Sealed,
  key: Uint8Array
): Readonly<Record<string, unknown>> | undefined => {
  const known = cache?.get(part.ciphertext, part.subject, part.key, part.fields, key)
  if (known !== undefined) return known
  const plaintext = cipher.decrypt(key, part.ciphertext, associatedData(part.subject, part.key, part.fields))
  const fields = plaintext === undefined ? undefined : fieldsOf(part.fields, parsed(plaintext))
  if (fields !== undefined) cache?.set(part.ciphertext, part.subject, part.key, part.fields, key, fields)
  return fields
}

/** A plaintext's JSON value; `undefined` when it is not JSON (a cipher of one's own that opened it wrongly). */
const parsed = (plaintext: string): unknown => {
  try {
    return JSON.parse(plaintext)
  } catch {
    return undefined
  }
}

/** The fields of an opened plaintext: the array of their values (written now) or an object of them (written before). */
const fieldsOf = (names: ReadonlyArray<string>, opened: unknown): Record<string, unknown> | undefined => {
  if (!Array.isArray(opened)) return asRecord(opened)
  if (opened.length !== names.length) return undefined
  const fields: Record<string, unknown> = {}
  for (let i = 0; i < names.length; i++) fields[names[i]!] = opened[i]
  return fields
}

/**
 * Opens the sealed parts of `items` (payload `dataOf(item)`, event type `labelOf(item)`).
 * `replace` says what a payload whose subject was forgotten becomes: its declared replacements
 * (events), or nothing at all (a snapshot, which is then not used). Payloads without sealed parts
 * come back as they are.
 */
const openAll = <A>(
  privacy: Privacy.Service | undefined,
  items: ReadonlyArray<A>,
  labelOf: (item: A) => string,
  dataOf: (item: A) => unknown,
  replace: boolean,
  seen: unknown
): Effect.Effect<ReadonlyArray<unknown> | undefined, RevealError> => {
  let subjects: Set<string> | undefined
  const sealedParts: Array<ReadonlyArray<Sealed> | undefined> = new Array(items.length)
  for (let i = 0; i < items.length; i++) {
    const data = dataOf(items[i]!)
    if (!hasSealed(data)) continue
    const sealed = partsOf((data as Record<string, unknown>)[SEALED])
    if (sealed === undefined) {
      const label = labelOf(items[i]!)
      return Effect.fail(new SerializationError({ eventType: label, message: `${label}: stored personal data is not in the form the store writes` }))
    }
    sealedParts[i] = sealed
    subjects ??= new Set()
    for (const part of sealed) subjects.add(part.subject)
  }
  if (subjects === undefined) return Effect.succeed(items.map(dataOf))
  if (privacy === undefined) {
    return Effect.fail(new KeyStoreError({ message: "Stored events hold personal data, but this store has no key store to read them with" }))
  }
  const cache = openedCaches.get(privacy)
  return Effect.flatMap(privacy.keyStore.keysOf([...subjects], seen), (keys): Effect.Effect<ReadonlyArray<unknown> | undefined, RevealError> => {
    const opened: Array<unknown> = new Array(items.length)
    for (let i = 0; i < items.length; i++) {
      const sealed = sealedParts[i]
      const record = dataOf(items[i]!) as Record<string, unknown>
      if (sealed === undefined) {
        opened[i] = record
        continue
      }
      // Built without `delete`, which would turn the object into a slow dictionary that the
      // decoding then copies slowly (see codec.ts): measured, half of a load.
      const data: Record<string, unknown> = {}
      for (const key in record) if (key !== SEALED) data[key] = record[key]
      for (const part of sealed) {
        const key = keys.get(part.subject)?.find((candidate) => candidate.keyId === part.key)
        if (key === undefined) {
          if (!replace) return Effect.succeed(undefined)
          const missing = part.fields.filter((field) => part.erased === undefined || !(field in part.erased))
          if (missing.length > 0) {
            return Effect.fail(new PersonalDataErasedError({ subjectId: part.subject, eventType: labelOf(items[i]!), fields: missing }))
          }
          for (const field of part.fields) data[field] = part.erased![field]
          continue
        }
        const fields = openPart(privacy.cipher, cache, part, key.material)
        if (fields === undefined) {
          const label = labelOf(items[i]!)
          return Effect.fail(
            new SerializationError({
              eventType: label,
              message: `${label}: the personal data of subject ${JSON.stringify(part.subject)} does not decrypt with its key (changed since written)`
            })
          )
        }
        for (const field in fields) data[field] = fields[field]
      }
      opened[i] = data
    }
    return Effect.succeed(opened)
  })
}

const labelOfEvent = (event: StoredEvent): string => event.eventType
const dataOfEvent = (event: StoredEvent): unknown => event.data

/** The events with their personal fields opened (or replaced, for forgotten subjects). */
export const revealEvents = (
  privacy: Privacy.Service | undefined,
  events: ReadonlyArray<StoredEvent>
): Effect.Effect<ReadonlyArray<StoredEvent>, RevealError> => {
  let sealed = false
  for (const event of events) {
    if (hasSealed(event.data)) {
      sealed = true
      break
    }
  }
  if (!sealed) return Effect.succeed(events)
  return Effect.map(
    openAll(privacy, events, labelOfEvent, dataOfEvent, true, (events as { readonly [Privacy.SeenWithEvents]?: unknown })[Privacy.SeenWithEvents]),
    (opened) => events.map((event, i) => opened![i] === event.data ? event : { ...event, data: opened![i] })
  )
}

/** The snapshot with its personal fields opened; `None` when a subject of it was forgotten (the load replays instead). */
export const revealSnapshot = (
  privacy: Privacy.Service | undefined,
  snapshot: Option.Option<StoredSnapshot>
): Effect.Effect<Option.Option<StoredSnapshot>, RevealError> => {
  if (Option.isNone(snapshot) || !hasSealed(snapshot.value.state)) return Effect.succeed(snapshot)
  return Effect.map(
    openAll(privacy, [snapshot.value], (stored) => stored.aggregateType, (stored) => stored.state, false, undefined),
    (opened) => opened === undefined ? Option.none() : Option.some({ ...snapshot.value, state: opened[0] })
  )
}

/** The storage as the store's reads see it: personal data opened. */
export const revealingStorage = (storage: EventStorage, privacy: Privacy.Service | undefined): EventStorage => ({
  ...storage,
  readStream: (aggregateId, fromVersion, options) =>
    Effect.flatMap(storage.readStream(aggregateId, fromVersion, options), (events) => revealEvents(privacy, events)),
  readAll: (options) => Effect.flatMap(storage.readAll(options), (events) => revealEvents(privacy, events)),
  readSnapshot: (aggregateId) =>
    Effect.flatMap(storage.readSnapshot(aggregateId), (snapshot) => revealSnapshot(privacy, snapshot))
})
