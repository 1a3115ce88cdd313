/**
 * The two in-process caches of `Privacy.make`, which take the cipher's fixed cost and a key
 * statement off the common reads and saves (docs/performance.md, "Personal data"), without
 * changing what any read returns:
 *
 * - {@link memoizedCipher}: `decrypt` is a pure function of (key, ciphertext, associated data),
 *   so its results are remembered, keyed by all three (the key compared byte for byte). A read
 *   still looks its subjects' keys up in the key store every time and decrypts only with a key
 *   the key store returned, so a subject forgotten by any process reads as erased at once: a
 *   remembered plaintext is never reached without its key.
 * - {@link cachingKeyStore}: a subject's current key, for saves, for a short time. A save only
 *   writes with it; a stale key can never make a read show data, and this process's own
 *   `forget` and `rotate` drop it at once.
 */
import { Clock, Effect } from "effect"
import type { Cipher, KeyStore, SubjectKey } from "../Privacy.js"

interface Opened {
  readonly key: Uint8Array
  readonly associatedData: string
  readonly plaintext: string
}

const sameBytes = (left: Uint8Array, right: Uint8Array): boolean => {
  if (left.length !== right.length) return false
  for (let i = 0; i < left.length; i++) if (left[i] !== right[i]) return false
  return true
}

/** The cipher with its decryptions remembered (at most `capacity`, the oldest dropped first), and a way to forget them. */
export const memoizedCipher = (cipher: Cipher, capacity: number): Cipher & { readonly clear: () => void } => {
  const opened = new Map<string, Opened>()
  return {
    algorithm: cipher.algorithm,
    keyLength: cipher.keyLength,
    encrypt: cipher.encrypt,
    decrypt: (key, ciphertext, associatedData) => {
      if (capacity <= 0) return cipher.decrypt(key, ciphertext, associatedData)
      // Keyed by the ciphertext (its random IV makes it unique), checked against the associated
      // data (subject, key id, fields) and the key: a ciphertext copied onto another event, or
      // asked with another key, is decrypted, and fails, as it would be uncached.
      const known = opened.get(ciphertext)
      if (known !== undefined && known.associatedData === associatedData && sameBytes(known.key, key)) return known.plaintext
      const plaintext = cipher.decrypt(key, ciphertext, associatedData)
      if (plaintext !== undefined) {
        if (opened.size >= capacity) opened.delete(opened.keys().next().value!)
        // A copy: a key store may wipe the bytes it handed out when the key is destroyed.
        opened.set(ciphertext, { key: Uint8Array.from(key), associatedData, plaintext })
      }
      return plaintext
    },
    // The copies of the keys are wiped, not only dropped: a forgotten key should not linger in memory.
    clear: () => {
      for (const entry of opened.values()) entry.key.fill(0)
      opened.clear()
    }
  }
}

/**
 * The key store with each subject's current key remembered for `ttlMillis` (0: not at all).
 * `onForget` runs after every forget, whether it found keys or not.
 */
export const cachingKeyStore = (keyStore: KeyStore, ttlMillis: number, onForget: () => void): KeyStore => {
  const current = new Map<string, { readonly key: SubjectKey; readonly until: number }>()
  // Counts forgets begun and ended: keys read while one ran are used but not remembered (they
  // may be the destroyed ones).
  let forgets = 0
  const currentKeys: KeyStore["currentKeys"] = (subjectIds) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const epoch = forgets
      const found = new Map<string, SubjectKey>()
      const missing: Array<string> = []
      for (const subjectId of subjectIds) {
        const cached = current.get(subjectId)
        if (cached !== undefined && cached.until > now) found.set(subjectId, cached.key)
        else missing.push(subjectId)
      }
      if (missing.length === 0) return Effect.succeed(found)
      return Effect.map(keyStore.currentKeys(missing), (keys) => {
        for (const [subjectId, key] of keys) {
          found.set(subjectId, key)
          if (epoch === forgets) current.set(subjectId, { key, until: now + ttlMillis })
        }
        return found
      })
    })
  return {
    currentKeys: ttlMillis <= 0 ? keyStore.currentKeys : currentKeys,
    keysOf: keyStore.keysOf,
    forget: (subjectId) =>
      Effect.sync(() => {
        forgets++
        current.delete(subjectId)
      }).pipe(
        Effect.zipRight(keyStore.forget(subjectId)),
        Effect.ensuring(Effect.sync(() => {
          forgets++
          current.delete(subjectId)
          onForget()
        }))
      ),
    rotate: (subjectId) =>
      keyStore.rotate(subjectId).pipe(
        Effect.ensuring(Effect.sync(() => current.delete(subjectId)))
      )
  }
}
