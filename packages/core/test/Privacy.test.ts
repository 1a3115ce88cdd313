import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option, Schema } from "effect"
import { Aggregate, EventStore, InMemoryEventStore, Privacy } from "../src/index.js"
import * as NodeCipher from "../src/NodeCipher.js"

class Registered extends Schema.TaggedClass<Registered>()("Registered", {
  email: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "erased@invalid" }))
}) {}

const User = Aggregate.make({ type: "User", events: [Registered], initialState: "", evolve: (_, event) => event.email })

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
      const sealed = (stored!.data as { readonly $personal: ReadonlyArray<{ readonly ciphertext: string }> }).$personal[0]!
      expect(NodeCipher.aes256gcm.decrypt(new Uint8Array(32), sealed.ciphertext, "x")).toBeUndefined()
    }))

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
