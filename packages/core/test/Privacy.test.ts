import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Schema, TestClock } from "effect"
import { Aggregate, Event, EventStore, ExpectedVersion, InMemoryEventStore, Privacy } from "../src/index.js"
import type { EncodedEvent, EventStorage } from "../src/EventStorage.js"
import { makeOpenedCache } from "../src/internal/privacyCache.js"
import * as NodeCipher from "../src/NodeCipher.js"

class Registered extends Schema.TaggedClass<Registered>()("Registered", {
  email: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "erased@invalid" }))
}) {}

const User = Aggregate.make({ type: "User", events: [Registered], initialState: "", evolve: (_, event) => event.email })

/** Field names an object would reorder ("2", "10") or that need escaping, two subjects, an optional field. */
class Changed extends Schema.TaggedClass<Changed>()("Changed", {
  "2": Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "[2]" })),
  "10": Schema.Number.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: 0 })),
  "quo\"te": Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "[q]" })),
  maybe: Schema.optional(Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "[maybe]" }))),
  plain: Schema.String,
  owner: Schema.String,
  ownerNote: Schema.optional(Schema.String.pipe(Privacy.personal({ subject: "owner" })))
}) {}

/** Personal data only when given: a payload without it has nothing to seal. */
class Noted extends Schema.TaggedClass<Noted>()("Noted", {
  text: Schema.String,
  private: Schema.optional(Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId })))
}) {}

const Odd = Aggregate.make({ type: "Profile", events: [Changed, Noted], initialState: 0, evolve: (count: number) => count + 1 })

const register = (store: EventStore.Service, id: string) =>
  store.save(Aggregate.apply(Aggregate.empty(User, id), new Registered({ email: `${id}@example.com` })))

describe("Privacy", () => {
  it.scoped("a key store that fails: the save fails with KeyStoreError and writes nothing; reads fail with KeyStoreError", () =>
    Effect.gen(function*() {
      const storage = yield* InMemoryEventStore.makeStorage
      const working = yield* EventStore.make(storage, { privacy: Privacy.make(yield* Privacy.makeMemoryKeyStore(32), NodeCipher.aes256gcm) })
      yield* register(working, "user-1")
      const failing = yield* EventStore.make(storage, { privacy: Privacy.make(Privacy.failingKeyStore("the KMS is down"), NodeCipher.aes256gcm) })
      const saved = yield* Effect.either(register(failing, "user-2"))
      expect(Either.isLeft(saved) && saved.left._tag === "KeyStoreError" && saved.left.message).toBe("the KMS is down")
      expect(yield* storage.version("user-2")).toEqual(Option.none())
      const read = yield* Effect.either(failing.loadEvents("user-1"))
      expect(Either.isLeft(read) && read.left._tag).toBe("KeyStoreError")
    }))

  it.scoped("cache options out of range: every save and read of personal data fails with KeyStoreError naming the option, nothing written", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Privacy.CacheOptions, string]> = [
        [{ openedCapacity: Number.NaN }, "Privacy.make: openedCapacity must be a whole number, 0 or more, got NaN"],
        [{ openedCapacity: -1 }, "Privacy.make: openedCapacity must be a whole number, 0 or more, got -1"],
        [{ openedCapacity: 2.5 }, "Privacy.make: openedCapacity must be a whole number, 0 or more, got 2.5"],
        [{ openedCapacity: Infinity }, "Privacy.make: openedCapacity must be a whole number, 0 or more, got Infinity"],
        [{ currentKeyMillis: Infinity }, "Privacy.make: currentKeyMillis must be a finite number of milliseconds, 0 or more, got Infinity"],
        [{ currentKeyMillis: -5 }, "Privacy.make: currentKeyMillis must be a finite number of milliseconds, 0 or more, got -5"]
      ]
      const storage = yield* InMemoryEventStore.makeStorage
      const keyStore = yield* Privacy.makeMemoryKeyStore(32)
      const working = yield* EventStore.make(storage, { privacy: Privacy.make(keyStore, NodeCipher.aes256gcm) })
      yield* register(working, "user-1")
      for (const [options, message] of cases) {
        const store = yield* EventStore.make(storage, { privacy: Privacy.make(keyStore, NodeCipher.aes256gcm, options) })
        const saved = yield* Effect.either(register(store, "user-2"))
        expect(Either.isLeft(saved) && saved.left._tag === "KeyStoreError" && saved.left.message).toBe(message)
        expect(yield* storage.version("user-2")).toEqual(Option.none())
        const read = yield* Effect.either(store.loadEvents("user-1"))
        expect(Either.isLeft(read) && read.left._tag === "KeyStoreError" && read.left.message).toBe(message)
      }
      // In range, including both caches off.
      const off = yield* EventStore.make(storage, { privacy: Privacy.make(keyStore, NodeCipher.aes256gcm, { openedCapacity: 0, currentKeyMillis: 0 }) })
      yield* register(off, "user-2")
      expect((yield* off.loadEvents("user-2")).length).toBe(1)
    }))

  it.scoped("a store without a key store refuses to save personal data (EventStoreError, nothing written) and to read it (KeyStoreError)", () =>
    Effect.gen(function*() {
      const storage = yield* InMemoryEventStore.makeStorage
      const plain = yield* EventStore.make(storage)
      const saved = yield* Effect.either(register(plain, "user-1"))
      expect(Either.isLeft(saved) && saved.left._tag).toBe("EventStoreError")
      expect(yield* storage.version("user-1")).toEqual(Option.none())
      const sealing = yield* EventStore.make(storage, { privacy: Privacy.make(yield* Privacy.makeMemoryKeyStore(32), NodeCipher.aes256gcm) })
      yield* register(sealing, "user-1")
      const read = yield* Effect.either(plain.loadEvents("user-1"))
      expect(Either.isLeft(read) && read.left._tag).toBe("KeyStoreError")
    }))

  it.scoped("what the storage holds is sealed: no plaintext, and a changed ciphertext is a SerializationError", () =>
    Effect.gen(function*() {
      const storage = yield* InMemoryEventStore.makeStorage
      const store = yield* EventStore.make(storage, { privacy: Privacy.make(yield* Privacy.makeMemoryKeyStore(32), NodeCipher.aes256gcm) })
      yield* register(store, "user-1")
      const [stored] = yield* storage.readStream("user-1", 0)
      expect(JSON.stringify(stored!.data)).not.toContain("user-1@example.com")
      // The compact form: subject id, key id, descriptor, ciphertext.
      const [subject, , descriptor, ciphertext] = (stored!.data as { readonly $personal: ReadonlyArray<string> }).$personal
      // Every field declares a replacement: the descriptor is the object of them.
      expect([subject, descriptor]).toEqual(["user-1", JSON.stringify({ email: "erased@invalid" })])
      expect(NodeCipher.aes256gcm.decrypt(new Uint8Array(32), ciphertext!, "x")).toBeUndefined()
    }))

  it.scoped("a stored sealed form that is neither the compact nor the earlier one is a SerializationError", () =>
    Effect.gen(function*() {
      const storage = yield* InMemoryEventStore.makeStorage
      const store = yield* EventStore.make(storage, { privacy: Privacy.make(yield* Privacy.makeMemoryKeyStore(32), NodeCipher.aes256gcm) })
      yield* register(store, "user-1")
      const [stored] = yield* storage.readStream("user-1", 0)
      const [subject, keyId, descriptor, ciphertext] = (stored!.data as { readonly $personal: ReadonlyArray<string> }).$personal
      const malformed: ReadonlyArray<unknown> = [
        [subject, keyId, descriptor],
        [subject, keyId, "not json", ciphertext],
        [subject, keyId, JSON.stringify([["email"], "not a record"]), ciphertext],
        [subject, keyId, JSON.stringify([[1]]), ciphertext],
        [subject, 7, descriptor, ciphertext],
        [{ subject, key: keyId, fields: "email", ciphertext }],
        []
      ]
      for (const [i, sealed] of malformed.entries()) {
        const data = { $personal: sealed }
        yield* storage.append({
          aggregateId: `bad-${i}`,
          aggregateType: "User",
          expectedVersion: ExpectedVersion.any,
          events: [{ ...stored!, eventId: Event.makeId(), data, dataJson: JSON.stringify(data), metadataJson: JSON.stringify(stored!.metadata) }]
        })
        const read = yield* Effect.flip(store.loadEvents(`bad-${i}`))
        expect(read._tag).toBe("SerializationError")
      }
    }))

  it.scoped("the caches: a forget by another process (another service over the same keys) erases this one's next read, even of events it read before", () =>
    Effect.gen(function*() {
      const storage = yield* InMemoryEventStore.makeStorage
      const keys = yield* Privacy.makeMemoryKeyStore(32)
      const here = yield* EventStore.make(storage, { privacy: Privacy.make(keys, NodeCipher.aes256gcm) })
      const elsewhere = Privacy.make(keys, NodeCipher.aes256gcm)
      yield* register(here, "user-1")
      yield* register(here, "user-2")
      // Read twice: the second read is served by the remembered decryption.
      for (let i = 0; i < 2; i++) expect(Option.getOrThrow(yield* here.load(User, "user-1")).state).toBe("user-1@example.com")
      yield* elsewhere.forget("user-1")
      expect(Option.getOrThrow(yield* here.load(User, "user-1")).state).toBe("erased@invalid")
      expect(Option.getOrThrow(yield* here.load(User, "user-2")).state).toBe("user-2@example.com")
    }))

  it.scoped("the caches: after this process's forget a save makes a new key at once; after another process's, within currentKeyMillis", () =>
    Effect.gen(function*() {
      const storage = yield* InMemoryEventStore.makeStorage
      const keys = yield* Privacy.makeMemoryKeyStore(32)
      const privacy = Privacy.make(keys, NodeCipher.aes256gcm, { currentKeyMillis: 1_000 })
      const here = yield* EventStore.make(storage, { privacy })
      const elsewhere = Privacy.make(keys, NodeCipher.aes256gcm)
      const emails = (id: string) => Effect.map(here.loadEvents(id), (events) => events.map((event) => (event.data as Registered).email))
      const again = (id: string) =>
        Effect.flatMap(here.load(User, id), (root) => here.save(Aggregate.apply(Option.getOrThrow(root), new Registered({ email: `${id}@new.example` }))))

      yield* register(here, "user-1")
      yield* privacy.forget("user-1")
      yield* again("user-1")
      expect(yield* emails("user-1")).toEqual(["erased@invalid", "user-1@new.example"])

      yield* register(here, "user-2")
      yield* elsewhere.forget("user-2")
      // The remembered key is the destroyed one: what is saved now is sealed under it, so erased (never plaintext).
      yield* again("user-2")
      expect(yield* emails("user-2")).toEqual(["erased@invalid", "erased@invalid"])
      yield* TestClock.adjust("1001 millis")
      yield* again("user-2")
      expect(yield* emails("user-2")).toEqual(["erased@invalid", "erased@invalid", "user-2@new.example"])
    }))

  it.scoped("the sealed payload's JSON text is that of its value, whatever its shape; each shape reads back and erases per subject", () =>
    Effect.gen(function*() {
      const storage = yield* InMemoryEventStore.makeStorage
      const appended: Array<EncodedEvent> = []
      const capturing: EventStorage = { ...storage, append: (request) => Effect.zipRight(Effect.sync(() => appended.push(...request.events)), storage.append(request)) }
      const privacy = Privacy.make(yield* Privacy.makeMemoryKeyStore(32), NodeCipher.aes256gcm)
      const store = yield* EventStore.make(capturing, { privacy })
      const fields = { "2": "two", "10": 10, "quo\"te": "q\"uote", plain: "plain", owner: "owner-1", ownerNote: "for the owner" }
      const { ownerNote: _, ...withoutNote } = fields
      const payloads = [fields, { ...fields, maybe: "present", "quo\"te": "\u00e9\n" }, { ...withoutNote, plain: "only the aggregate's subject" }]
      yield* store.save(Aggregate.applyAll(Aggregate.empty(Odd, "profile-1"), payloads.map((payload) => new Changed(payload))))
      // Nothing to seal in a payload without its personal field, alone in its save or not.
      yield* store.save(Aggregate.apply(Aggregate.empty(Odd, "profile-2"), new Noted({ text: "public" })))
      yield* store.save(Aggregate.applyAll(Aggregate.empty(Odd, "profile-3"), [new Noted({ text: "a" }), new Noted({ text: "b", private: "p" })]))
      expect(appended.length).toBe(6)
      for (const event of appended) expect(event.dataJson).toBe(JSON.stringify(event.data))
      expect(appended.slice(3).map((event) => event.dataJson.includes("$personal"))).toEqual([false, false, true])
      expect((yield* store.loadEvents("profile-3")).map((event) => event.data)).toEqual([{ text: "a" }, { text: "b", private: "p" }])
      const [first] = appended
      const sealed = (first!.data as { readonly $personal: ReadonlyArray<string> }).$personal
      // Two subjects, in the schema's order of their first fields; names that are array indexes keep the array form.
      expect([sealed[0], sealed[2], sealed[4], sealed[6]]).toEqual([
        "profile-1",
        JSON.stringify([["2", "10", "quo\"te"], { "2": "[2]", "10": 0, "quo\"te": "[q]" }]),
        "owner-1",
        JSON.stringify([["ownerNote"]])
      ])
      expect((yield* store.loadEvents("profile-1")).map((event) => event.data)).toEqual(payloads)
      yield* privacy.forget("profile-1")
      const erased = (yield* store.loadEvents("profile-1")).map((event) => event.data as Record<string, unknown>)
      expect(erased.map((data) => [data["2"], data["10"], data["quo\"te"], data["maybe"], data["ownerNote"]])).toEqual([
        ["[2]", 0, "[q]", undefined, "for the owner"],
        ["[2]", 0, "[q]", "[maybe]", "for the owner"],
        ["[2]", 0, "[q]", undefined, undefined]
      ])
      yield* privacy.forget("owner-1")
      const failed = yield* Effect.flip(store.loadEvents("profile-1"))
      expect(failed._tag === "PersonalDataErasedError" && [failed.subjectId, failed.fields]).toEqual(["owner-1", ["ownerNote"]])
    }))

  it("the remembered openings answer only for the same ciphertext, subject, key id, fields and key bytes", () => {
    const key = Privacy.makeKeyMaterial(32)
    const cache = makeOpenedCache(10)
    cache.set("ciphertext", "subject-1", "key-1", ["email"], key, { email: "secret" })
    expect(cache.get("ciphertext", "subject-1", "key-1", ["email"], key)).toEqual({ email: "secret" })
    // The same bytes in another array (a key store that reads its keys afresh) still match.
    expect(cache.get("ciphertext", "subject-1", "key-1", ["email"], Uint8Array.from(key))).toEqual({ email: "secret" })
    expect(cache.get("ciphertext", "subject-1", "key-1", ["email"], Privacy.makeKeyMaterial(32))).toBeUndefined()
    expect(cache.get("ciphertext", "subject-2", "key-1", ["email"], key)).toBeUndefined()
    expect(cache.get("ciphertext", "subject-1", "key-2", ["email"], key)).toBeUndefined()
    expect(cache.get("ciphertext", "subject-1", "key-1", ["name"], key)).toBeUndefined()
    // Two ciphertexts that end alike: each answers only for itself.
    const ending = "T".repeat(40)
    cache.set(`A${ending}`, "subject-1", "key-1", ["email"], key, { email: "first" })
    expect(cache.get(`B${ending}`, "subject-1", "key-1", ["email"], key)).toBeUndefined()
    cache.set(`B${ending}`, "subject-1", "key-1", ["email"], key, { email: "second" })
    expect(cache.get(`B${ending}`, "subject-1", "key-1", ["email"], key)).toEqual({ email: "second" })
    expect(cache.get(`A${ending}`, "subject-1", "key-1", ["email"], key)).toBeUndefined()
    // A key store that wipes a destroyed key's bytes makes what it opened unusable.
    key.fill(0)
    expect(cache.get("ciphertext", "subject-1", "key-1", ["email"], Privacy.makeKeyMaterial(32))).toBeUndefined()
    cache.clear()
    expect(cache.get("ciphertext", "subject-1", "key-1", ["email"], key)).toBeUndefined()
  })

  it.scoped("a cipher whose decryption gives no JSON of the fields: the read fails with SerializationError, not a defect", () =>
    Effect.gen(function*() {
      const storage = yield* InMemoryEventStore.makeStorage
      const keys = yield* Privacy.makeMemoryKeyStore(32)
      yield* register(yield* EventStore.make(storage, { privacy: Privacy.make(keys, NodeCipher.aes256gcm) }), "user-1")
      for (const plaintext of ["not json", "[1, 2]", "\"a string\""]) {
        const cipher: Privacy.Cipher = { ...NodeCipher.aes256gcm, decrypt: () => plaintext }
        const store = yield* EventStore.make(storage, { privacy: Privacy.make(keys, cipher, { openedCapacity: 0 }) })
        const read = yield* Effect.flip(store.loadEvents("user-1"))
        expect(read._tag).toBe("SerializationError")
      }
    }))

  it("key ids: 16 random bytes in base64url (22 characters), each new", () => {
    const ids = Array.from({ length: 1_000 }, Privacy.makeKeyId)
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(new Set(ids).size).toBe(ids.length)
    // Every character position takes more than a few values: the bytes are random, not a counter.
    for (let i = 0; i < 21; i++) expect(new Set(ids.map((id) => id[i])).size).toBeGreaterThan(40)
  })

  it("the cipher: round trip; another key, other associated data or a changed byte do not decrypt", () => {
    const key = Privacy.makeKeyMaterial(32)
    const ciphertext = NodeCipher.aes256gcm.encrypt(key, "secret", "subject-1")
    expect(NodeCipher.aes256gcm.decrypt(key, ciphertext, "subject-1")).toBe("secret")
    expect(NodeCipher.aes256gcm.decrypt(Privacy.makeKeyMaterial(32), ciphertext, "subject-1")).toBeUndefined()
    expect(NodeCipher.aes256gcm.decrypt(key, ciphertext, "subject-2")).toBeUndefined()
    const bytes = Buffer.from(ciphertext, "base64")
    bytes[14] = bytes[14]! ^ 1
    expect(NodeCipher.aes256gcm.decrypt(key, bytes.toString("base64"), "subject-1")).toBeUndefined()
    expect(NodeCipher.aes256gcm.decrypt(key, "", "subject-1")).toBeUndefined()
  })
})
