import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { createCipheriv, randomBytes } from "node:crypto"
import { MAX_PLAINTEXT_BYTES } from "../src/internal/gcm.js"
import * as NodeCipher from "../src/NodeCipher.js"

const { decrypt, encrypt } = NodeCipher.aes256gcm

/** What OpenSSL's AES-256-GCM makes of the plaintext with the IV the ciphertext was made with. */
const openssl = (key: Uint8Array, ciphertext: string, plaintext: string, associatedData: string): string => {
  const iv = Buffer.from(ciphertext, "base64").subarray(0, 12)
  const cipher = createCipheriv("aes-256-gcm", key, iv, { authTagLength: 16 })
  cipher.setAAD(Buffer.from(associatedData, "utf8"))
  return Buffer.concat([iv, cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]).toString("base64")
}

describe("NodeCipher.aes256gcm", () => {
  it("short plaintexts (sealed without a native cipher per ciphertext) come out as OpenSSL makes them, for every length", () => {
    const keys = Array.from({ length: 3 }, () => randomBytes(32))
    for (let length = 0; length <= MAX_PLAINTEXT_BYTES + 40; length++) {
      const plaintext = "x".repeat(length)
      for (const associatedData of ["", "a", JSON.stringify(["customer-1", "key", { note: "" }]), "é".repeat(length % 40)]) {
        const key = keys[length % keys.length]!
        const ciphertext = encrypt(key, plaintext, associatedData)
        expect(ciphertext).toBe(openssl(key, ciphertext, plaintext, associatedData))
        expect(decrypt(key, ciphertext, associatedData)).toBe(plaintext)
      }
    }
  })

  it("random keys, texts and associated data: the same bytes as OpenSSL, and they decrypt", () => {
    // Keys 0-4 are used again (their reserve of key stream); 5 is a new key each time.
    const keys = Array.from({ length: 5 }, () => randomBytes(32))
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.fullUnicodeString({ maxLength: 120 }),
        fc.fullUnicodeString({ maxLength: 60 }),
        (which, plaintext, associatedData) => {
          const key = keys[which] ?? randomBytes(32)
          const ciphertext = encrypt(key, plaintext, associatedData)
          expect(ciphertext).toBe(openssl(key, ciphertext, plaintext, associatedData))
          expect(decrypt(key, ciphertext, associatedData)).toBe(plaintext)
        }
      ),
      { numRuns: 2_000 }
    )
  })

  it("every ciphertext has an IV of its own, with one key and across keys", () => {
    const key = randomBytes(32)
    const others = Array.from({ length: 20 }, () => randomBytes(32))
    const ivs = new Set<string>()
    const count = 5_000
    for (let i = 0; i < count; i++) {
      const ciphertext = encrypt(i % 2 === 0 ? key : others[i % others.length]!, "same text", "same data")
      ivs.add(Buffer.from(ciphertext, "base64").subarray(0, 12).toString("hex"))
    }
    expect(ivs.size).toBe(count)
  })

  it("a key whose bytes changed (erased in place) encrypts with its new bytes", () => {
    const key = randomBytes(32)
    const before = encrypt(key, "before", "data")
    key.fill(0)
    const after = encrypt(key, "after", "data")
    expect(after).toBe(openssl(Buffer.alloc(32), after, "after", "data"))
    expect(decrypt(Buffer.alloc(32), after, "data")).toBe("after")
    expect(decrypt(key, before, "data")).toBeUndefined()
  })

  it("a changed byte anywhere, another key or other associated data do not decrypt", () => {
    const key = randomBytes(32)
    const ciphertext = encrypt(key, "personal data", "subject-1")
    const bytes = Buffer.from(ciphertext, "base64")
    for (let i = 0; i < bytes.length; i++) {
      const changed = Buffer.from(bytes)
      changed[i] = changed[i]! ^ (1 << (i % 8))
      expect(decrypt(key, changed.toString("base64"), "subject-1")).toBeUndefined()
    }
    expect(decrypt(randomBytes(32), ciphertext, "subject-1")).toBeUndefined()
    expect(decrypt(key, ciphertext, "subject-2")).toBeUndefined()
  })
})
