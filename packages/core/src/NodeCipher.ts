/**
 * AES-256-GCM from Node.js's `node:crypto`, as a `Privacy.Cipher`: the cipher the SQLite and
 * PostgreSQL stores use. A module of its own (not re-exported by the package's index), so that
 * the rest of this package stays free of Node.js APIs.
 *
 * A ciphertext is base64 of a random 12-byte IV, the encrypted bytes and the 16-byte tag. The
 * associated data binds it to its subject, key id and field names: a ciphertext copied onto
 * another subject's event does not decrypt.
 *
 * @since 0.2.0
 */
import { createCipheriv, createDecipheriv } from "node:crypto"
import * as Gcm from "./internal/gcm.js"
import type { Cipher } from "./Privacy.js"

const IV_BYTES = 12
const TAG_BYTES = 16
const ALGORITHM = "aes-256-gcm"

/**
 * The cipher.
 *
 * @since 0.2.0
 * @category ciphers
 */
export const aes256gcm: Cipher = {
  algorithm: ALGORITHM,
  keyLength: 32,
  encrypt: (key, plaintext, associatedData) => {
    // Short plaintexts (a personal payload's values) are sealed with the key's long-lived AES
    // context and GHASH in TypeScript: the same bytes, without a native cipher per ciphertext
    // (internal/gcm.ts says why and how).
    const bytesOfPlaintext = Buffer.byteLength(plaintext, "utf8")
    if (bytesOfPlaintext <= Gcm.MAX_PLAINTEXT_BYTES && key.length === 32) {
      return Gcm.seal(key, plaintext, bytesOfPlaintext, associatedData).toString("base64")
    }
    const iv = Gcm.nextIv()
    const cipher = createCipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(Buffer.from(associatedData, "utf8"))
    const head = cipher.update(plaintext, "utf8")
    // GCM encrypts as it goes: final() makes the tag and returns no bytes (kept if it ever did).
    const tail = cipher.final()
    const tag = cipher.getAuthTag()
    // One buffer written in place: `Buffer.concat` of the parts (and a copied IV) was a measured
    // 1 µs of a 6 µs encryption.
    const length = IV_BYTES + head.length + tail.length
    const bytes = Buffer.allocUnsafe(length + TAG_BYTES)
    bytes.set(iv, 0)
    bytes.set(head, IV_BYTES)
    if (tail.length > 0) bytes.set(tail, IV_BYTES + head.length)
    bytes.set(tag, length)
    return bytes.toString("base64")
  },
  decrypt: (key, ciphertext, associatedData) => {
    const bytes = Buffer.from(ciphertext, "base64")
    if (bytes.length < IV_BYTES + TAG_BYTES || key.length !== 32) return undefined
    const decipher = createDecipheriv(ALGORITHM, key, bytes.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(associatedData, "utf8"))
    decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES))
    const head = decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES))
    try {
      // final() is where a changed ciphertext or a wrong key shows: the tag does not match.
      return Buffer.concat([head, decipher.final()]).toString("utf8")
    } catch {
      return undefined
    }
  }
}
