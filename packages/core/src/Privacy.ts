/**
 * Crypto-shredding of personal data. Fields of an event schema (or of a snapshot's state schema)
 * marked with {@link personal} are stored encrypted, with one key per data subject (the person
 * the data is about) kept in a {@link KeyStore}; {@link forget} destroys a subject's keys, after
 * which every read shows the replacement the schema declares for those fields (or fails with
 * `PersonalDataErasedError` when it declares none), and the stored ciphertext is noise.
 *
 * The cipher is a service too ({@link Cipher}): this module uses no platform API beyond
 * `crypto.getRandomValues`; the AES-256-GCM cipher of Node.js is `@eventuali/core/NodeCipher`.
 *
 * @since 0.2.0
 */
import { Context, Effect, Layer, Option, type Schema, SchemaAST } from "effect"
import { EventStoreError, KeyStoreError } from "./Errors.js"
import { cachingKeyStore, currentKeyPeeks, makeOpenedCache, openedCaches } from "./internal/privacyCache.js"

/**
 * The annotation key of {@link personal}.
 *
 * @since 0.2.0
 * @category annotations
 */
export const PersonalDataId: unique symbol = Symbol.for("eventuali/Privacy/PersonalData")

/**
 * The annotation key of {@link withoutPersonalData}.
 *
 * @since 0.2.0
 * @category annotations
 */
export const WithoutPersonalDataId: unique symbol = Symbol.for("eventuali/Privacy/WithoutPersonalData")

/**
 * As a {@link PersonalData.subject}: the data is about the aggregate itself (its id is the
 * subject id), e.g. the fields of a `User` aggregate's events.
 *
 * @since 0.2.0
 * @category annotations
 */
export const aggregateId: unique symbol = Symbol.for("eventuali/Privacy/aggregateId")

/**
 * What {@link personal} records about a field.
 *
 * @since 0.2.0
 * @category models
 */
export interface PersonalData<A = unknown> {
  /**
   * Whose data it is: the name of another field of the same event (or state), a non-empty
   * string that is not itself personal, or {@link aggregateId}.
   */
  readonly subject: string | typeof aggregateId
  /**
   * What reads show instead of the value once the subject is forgotten: a value of the field's
   * type, checked when the schema is registered or first saved. Without one, such reads fail with
   * `PersonalDataErasedError`.
   */
  readonly replacement?: A | undefined
}

/**
 * Marks a field as personal data: stored encrypted with its subject's key, shredded by
 * {@link forget}. A top-level field of a `Schema.TaggedClass`, `Schema.TaggedStruct` or
 * `Schema.Struct` (event or snapshot state), of any type: what is encrypted is the field's
 * encoded JSON value.
 *
 * @example
 * ```ts
 * import { Schema } from "effect"
 * import { Privacy } from "eventuali"
 *
 * class UserRegistered extends Schema.TaggedClass<UserRegistered>()("UserRegistered", {
 *   userId: Schema.String,
 *   email: Schema.String.pipe(Privacy.personal({ subject: "userId", replacement: "erased@invalid" }))
 * }) {}
 * ```
 *
 * @since 0.2.0
 * @category annotations
 */
export const personal = <A>(options: PersonalData<A>) =>
<S extends Schema.Annotable.All>(self: S): Schema.Annotable.Self<S> =>
  self.annotations({ [PersonalDataId]: options }) as Schema.Annotable.Self<S>

/**
 * Declares that a snapshot state schema holds no personal data although the aggregate's events
 * do (a count, a status): without it, or fields marked {@link personal}, a save that would
 * write such a snapshot is refused, so that no plaintext copy of personal data is ever written.
 *
 * @since 0.2.0
 * @category annotations
 */
export const withoutPersonalData = <S extends Schema.Annotable.All>(self: S): Schema.Annotable.Self<S> =>
  self.annotations({ [WithoutPersonalDataId]: true }) as Schema.Annotable.Self<S>

/**
 * The {@link personal} annotation of a schema's AST, if it has one.
 *
 * @since 0.2.0
 * @category annotations
 */
export const getPersonalData = (ast: SchemaAST.AST): Option.Option<PersonalData> =>
  SchemaAST.getAnnotation<PersonalData>(ast, PersonalDataId)

/**
 * One key of a subject. A subject has one current key (for new writes) and, after
 * {@link rotate}, older ones (for what was written before).
 *
 * @since 0.2.0
 * @category models
 */
export interface SubjectKey {
  readonly subjectId: string
  /** Recorded with each ciphertext: which of the subject's keys decrypts it. */
  readonly keyId: string
  readonly material: Uint8Array
  /**
   * Set by a key store on a key it returns from inside a transaction that may still roll back
   * (the SQL stores, in a caller's `withTransaction`): the key is used for that save, but not
   * remembered as the subject's current key, which a rollback could leave pointing at no key.
   */
  readonly provisional?: boolean | undefined
}

/**
 * Where the subjects' keys live. The SQL stores keep them in a table of their own database; an
 * application can keep them elsewhere (a KMS, a vault) by implementing this. Every failure is a
 * `KeyStoreError`.
 *
 * @since 0.2.0
 * @category models
 */
export interface KeyStore {
  /** Each subject's current key, made for the subjects that have none (also after `forget`). */
  readonly currentKeys: (subjectIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, SubjectKey>, KeyStoreError>
  /**
   * Every key the subjects still have (none for a forgotten or unknown subject). `seen`, on a
   * read: what the storage read together with the events being opened ({@link SeenWithEvents}),
   * if it left anything; a key store of the same database may answer from it instead of a
   * statement of its own, any other ignores it.
   */
  readonly keysOf: (
    subjectIds: ReadonlyArray<string>,
    seen?: unknown
  ) => Effect.Effect<ReadonlyMap<string, ReadonlyArray<SubjectKey>>, KeyStoreError>
  /** Destroys every key of the subject, beyond recovery; succeeds with whether it had any. */
  readonly forget: (subjectId: string) => Effect.Effect<boolean, KeyStoreError>
  /** Makes a new current key for the subject; older keys stay for what they encrypted. */
  readonly rotate: (subjectId: string) => Effect.Effect<SubjectKey, KeyStoreError>
}

/**
 * The property (a symbol) under which a storage may leave, on the array of events a read
 * returns, what it read together with them for the key store of the same database: opening those
 * events passes it to {@link KeyStore.keysOf} as `seen`. The SQLite store reads its key table's
 * change counts in the same statement as an aggregate's events, so that a load of personal data
 * needs no statement to check the keys it remembers. Opaque to everything else.
 *
 * @since 0.2.0
 * @category symbols
 */
export const SeenWithEvents: unique symbol = Symbol.for("@eventuali/core/Privacy/SeenWithEvents")

/**
 * A symmetric authenticated cipher, synchronous (it runs for every event read or written with
 * personal data). `decrypt` returns `undefined` when the ciphertext or associated data was
 * changed or the key is not the one it was encrypted with.
 *
 * @since 0.2.0
 * @category models
 */
export interface Cipher {
  /** Recorded nowhere; for logs and docs (e.g. `"aes-256-gcm"`). */
  readonly algorithm: string
  /** The key length in bytes, for the key stores to make keys of. */
  readonly keyLength: number
  readonly encrypt: (key: Uint8Array, plaintext: string, associatedData: string) => string
  readonly decrypt: (key: Uint8Array, ciphertext: string, associatedData: string) => string | undefined
}

/**
 * What a store with personal data uses: its key store and its cipher, and the operations on
 * subjects.
 *
 * @since 0.2.0
 * @category models
 */
export interface Service {
  readonly keyStore: KeyStore
  readonly cipher: Cipher
  /**
   * Destroys the subject's keys: every later read of the subject's personal fields shows their
   * replacement (or fails with `PersonalDataErasedError`). Succeeds with whether the subject had
   * keys. A save for the subject afterwards makes a new key.
   */
  readonly forget: (subjectId: string) => Effect.Effect<boolean, KeyStoreError | EventStoreError>
  /** A new key for the subject's future writes; what was written before stays readable. */
  readonly rotate: (subjectId: string) => Effect.Effect<void, KeyStoreError | EventStoreError>
}

/**
 * The service tag: provided by the SQLite and PostgreSQL layers (keys in the store's database),
 * and by `InMemoryEventStore.layerWithPrivacy` (keys in memory).
 *
 * @since 0.2.0
 * @category tags
 */
export class Privacy extends Context.Tag("eventuali/Privacy")<Privacy, Service>() {}

const validSubject = (subjectId: string): Effect.Effect<string, EventStoreError> =>
  typeof subjectId === "string" && subjectId.length > 0
    ? Effect.succeed(subjectId)
    : Effect.fail(new EventStoreError({ message: `A subject id must be a non-empty string, got ${JSON.stringify(subjectId)}` }))

/**
 * The in-process caches of {@link make} (see docs/api/privacy.md, "Cost"):
 *
 * - `openedCapacity`: how many decrypted payloads to remember (default 10,000; 0: none). Reads
 *   still look the keys up every time and use a remembered plaintext only with the key it was
 *   decrypted with, so a forget by any process takes effect at the next read.
 * - `currentKeyMillis`: how long a subject's current key is remembered for saves (default
 *   1,000; 0: not at all). This process's `forget` and `rotate` drop it at once; after a
 *   `forget` by another process, saves here may seal under the destroyed key for up to this
 *   long (that data then reads as erased, never as plaintext).
 *
 * A value out of range (`openedCapacity` not a whole number ≥ 0, `currentKeyMillis` not a
 * finite number ≥ 0) makes {@link make} return a service whose every key operation fails with
 * `KeyStoreError` naming the option: the first save or read of personal data fails.
 *
 * @since 0.2.0
 * @category models
 */
export interface CacheOptions {
  readonly openedCapacity?: number | undefined
  readonly currentKeyMillis?: number | undefined
}

const cacheOptionsProblem = (openedCapacity: unknown, currentKeyMillis: unknown): string | undefined => {
  if (typeof openedCapacity !== "number" || !Number.isSafeInteger(openedCapacity) || openedCapacity < 0) {
    return `Privacy.make: openedCapacity must be a whole number, 0 or more, got ${String(openedCapacity)}`
  }
  if (typeof currentKeyMillis !== "number" || !Number.isFinite(currentKeyMillis) || currentKeyMillis < 0) {
    return `Privacy.make: currentKeyMillis must be a finite number of milliseconds, 0 or more, got ${String(currentKeyMillis)}`
  }
  return undefined
}

/**
 * The service over a key store and a cipher, with the caches of {@link CacheOptions}.
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (keyStore: KeyStore, cipher: Cipher, options: CacheOptions = {}): Service => {
  const openedCapacity = options.openedCapacity ?? 10_000
  const currentKeyMillis = options.currentKeyMillis ?? 1_000
  const refused = cacheOptionsProblem(openedCapacity, currentKeyMillis)
  // `make` is not an effect, so a bad option cannot fail here: the service it returns fails
  // every key operation with a KeyStoreError naming it, so the first save or read of personal
  // data fails and nothing is sealed under a cache the caller did not ask for (NaN kept every
  // decryption forever; Infinity kept a current key forever, past another process's forget).
  if (refused !== undefined) return makeService(failingKeyStore(refused), cipher)
  const opened = makeOpenedCache(openedCapacity)
  const caching = cachingKeyStore(keyStore, currentKeyMillis, opened.clear)
  const service = makeService(caching.keyStore, cipher)
  openedCaches.set(service, opened)
  currentKeyPeeks.set(service, caching.peek)
  return service
}

const makeService = (keyStore: KeyStore, cipher: Cipher): Service => ({
  keyStore,
  cipher,
  forget: (subjectId) =>
    Effect.flatMap(validSubject(subjectId), keyStore.forget).pipe(
      Effect.withSpan("Privacy.forget")
    ),
  rotate: (subjectId) =>
    Effect.flatMap(validSubject(subjectId), keyStore.rotate).pipe(
      Effect.asVoid,
      Effect.withSpan("Privacy.rotate")
    )
})

/**
 * Destroys the subject's keys (see {@link Service.forget}).
 *
 * @since 0.2.0
 * @category operations
 */
export const forget = (subjectId: string): Effect.Effect<boolean, KeyStoreError | EventStoreError, Privacy> =>
  Effect.flatMap(Privacy, (privacy) => privacy.forget(subjectId))

/**
 * Gives the subject a new current key (see {@link Service.rotate}).
 *
 * @since 0.2.0
 * @category operations
 */
export const rotate = (subjectId: string): Effect.Effect<void, KeyStoreError | EventStoreError, Privacy> =>
  Effect.flatMap(Privacy, (privacy) => privacy.rotate(subjectId))

/**
 * A fresh random key id (not secret): 16 random bytes in base64url, 22 characters (ids made
 * before were the same bytes in hex; any string is a key id). It is stored with every sealed
 * payload, and a row's length is part of what a save costs (docs/performance.md).
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeKeyId = (): string => toBase64Url(crypto.getRandomValues(new Uint8Array(16)))

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

/** Base64url without padding (no `Buffer` here: this package runs beyond Node.js). */
const toBase64Url = (bytes: Uint8Array): string => {
  let text = ""
  for (let i = 0; i < bytes.length; i += 3) {
    const chunk = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    const characters = Math.min(4, Math.ceil(((bytes.length - i) * 8) / 6))
    for (let j = 0; j < characters; j++) text += BASE64URL[(chunk >> (18 - 6 * j)) & 63]
  }
  return text
}

/**
 * Fresh key material of `length` bytes from the platform's cryptographic random source.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeKeyMaterial = (length: number): Uint8Array => crypto.getRandomValues(new Uint8Array(length))

/**
 * Keys in memory, for the in-memory store and tests: gone when the process ends. `forget` also
 * overwrites the key material with zeros.
 *
 * @since 0.2.0
 * @category constructors
 */
export const makeMemoryKeyStore = (keyLength: number): Effect.Effect<KeyStore> =>
  Effect.sync(() => {
    // Newest last: the current key of a subject is the last of its keys.
    const keys = new Map<string, Array<SubjectKey>>()
    const add = (subjectId: string): SubjectKey => {
      const key = { subjectId, keyId: makeKeyId(), material: makeKeyMaterial(keyLength) }
      const held = keys.get(subjectId)
      if (held === undefined) keys.set(subjectId, [key])
      else held.push(key)
      return key
    }
    return {
      currentKeys: (subjectIds) =>
        Effect.sync(() => new Map(subjectIds.map((subjectId) => [subjectId, keys.get(subjectId)?.at(-1) ?? add(subjectId)]))),
      keysOf: (subjectIds) =>
        Effect.sync(() => new Map(subjectIds.flatMap((subjectId) => {
          const held = keys.get(subjectId)
          return held === undefined ? [] : [[subjectId, [...held]] as const]
        }))),
      forget: (subjectId) =>
        Effect.sync(() => {
          const held = keys.get(subjectId)
          if (held === undefined) return false
          for (const key of held) key.material.fill(0)
          keys.delete(subjectId)
          return true
        }),
      rotate: (subjectId) => Effect.sync(() => add(subjectId))
    }
  })

/**
 * The service with keys in memory ({@link makeMemoryKeyStore}) and the given cipher.
 *
 * @since 0.2.0
 * @category layers
 */
export const layerMemory = (cipher: Cipher): Layer.Layer<Privacy> =>
  Layer.effect(Privacy, Effect.map(makeMemoryKeyStore(cipher.keyLength), (keyStore) => make(keyStore, cipher)))

/**
 * A key store that fails every operation with `KeyStoreError` (for tests of what a store does
 * when its key store is down).
 *
 * @since 0.2.0
 * @category constructors
 */
export const failingKeyStore = (message: string): KeyStore => {
  const fail = Effect.fail(new KeyStoreError({ message }))
  return { currentKeys: () => fail, keysOf: () => fail, forget: () => fail, rotate: () => fail }
}
