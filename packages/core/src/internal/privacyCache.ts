/**
 * The two in-process caches of `Privacy.make`, which take the cipher's fixed cost and a key
 * statement off the common reads and saves (docs/performance.md, "Personal data"), without
 * changing what any read returns:
 *
 * - {@link makeOpenedCache}: opening is a pure function of (key, ciphertext, associated data),
 *   so its results are remembered, keyed by all three (the key compared byte for byte). A read
 *   still looks its subjects' keys up in the key store every time and decrypts only with a key
 *   the key store returned, so a subject forgotten by any process reads as erased at once: a
 *   remembered plaintext is never reached without its key.
 * - {@link cachingKeyStore}: a subject's current key, for saves, for a short time. A save only
 *   writes with it; a stale key can never make a read show data, and this process's own
 *   `forget` and `rotate` drop it at once.
 */
import { Clock, Effect } from "effect"
import type { KeyStore, SubjectKey } from "../Privacy.js"

interface Opened {
  readonly ciphertext: string
  readonly key: Uint8Array
  readonly subject: string
  readonly keyId: string
  readonly fields: ReadonlyArray<string>
  readonly opened: Readonly<Record<string, unknown>>
}

const sameBytes = (left: Uint8Array, right: Uint8Array): boolean => {
  if (left === right) return true
  if (left.length !== right.length) return false
  for (let i = 0; i < left.length; i++) if (left[i] !== right[i]) return false
  return true
}

const sameNames = (left: ReadonlyArray<string>, right: ReadonlyArray<string>): boolean => {
  if (left.length !== right.length) return false
  for (let i = 0; i < left.length; i++) if (left[i] !== right[i]) return false
  return true
}

/**
 * Opened ciphertexts: the fields each one held, as the object they were parsed into, so that a
 * read of a payload opened before costs neither the cipher, nor building its associated data, nor
 * parsing its plaintext (measured: most of what opening cost after the key lookup).
 */
export interface OpenedCache {
  /** The fields of `ciphertext` if it was opened before with the same subject, key id, field names and key bytes. */
  readonly get: (
    ciphertext: string,
    subject: string,
    keyId: string,
    fields: ReadonlyArray<string>,
    key: Uint8Array
  ) => Readonly<Record<string, unknown>> | undefined
  readonly set: (
    ciphertext: string,
    subject: string,
    keyId: string,
    fields: ReadonlyArray<string>,
    key: Uint8Array,
    opened: Readonly<Record<string, unknown>>
  ) => void
  /** Forgets every opened ciphertext. */
  readonly clear: () => void
}

/**
 * How many of a ciphertext's last characters key the opened cache: each read's ciphertexts are
 * fresh strings, and hashing a whole one for the map cost twice as much as hashing its end and
 * comparing the whole on a hit (measured: about 0.13 µs an event). With the ciphertexts of
 * `NodeCipher`, the end is base64 of the authentication tag.
 */
const KEY_CHARS = 22

/** Remembers at most `capacity` opened ciphertexts, the oldest dropped first (0: none). */
export const makeOpenedCache = (capacity: number): OpenedCache => {
  const entries = new Map<string, Opened>()
  return {
    // Keyed by the ciphertext (its random IV makes it unique), checked against the whole of it,
    // what it is bound to (subject, key id, fields: its associated data) and the key: a
    // ciphertext copied onto another event, or asked with another key, is decrypted, and fails,
    // as it would be uncached. Two ciphertexts that end alike take turns in one entry.
    get: (ciphertext, subject, keyId, fields, key) => {
      const known = entries.get(ciphertext.slice(-KEY_CHARS))
      return known !== undefined && known.ciphertext === ciphertext && known.subject === subject && known.keyId === keyId &&
          sameNames(known.fields, fields) && sameBytes(known.key, key)
        ? known.opened
        : undefined
    },
    set: (ciphertext, subject, keyId, fields, key, opened) => {
      if (capacity <= 0) return
      const at = ciphertext.slice(-KEY_CHARS)
      if (!entries.has(at) && entries.size >= capacity) entries.delete(entries.keys().next().value!)
      // The key store's own bytes, not a copy: one that wipes a destroyed key's bytes makes its
      // entries unusable at once, and the common case compares by identity.
      entries.set(at, { ciphertext, key, subject, keyId, fields, opened: Object.freeze(opened) })
    },
    clear: () => entries.clear()
  }
}

/** The opened cache of each service `Privacy.make` built (a service built otherwise has none). */
export const openedCaches = new WeakMap<object, OpenedCache>()

/**
 * The subjects' remembered current keys at `now` (a save's clock reading), or `undefined` when
 * one is not remembered: a save whose keys are all remembered seals without an effect of its own
 * (measured: the effects around the key lookup were a tenth of what sealing a save cost).
 */
export type PeekCurrentKeys = (subjectIds: ReadonlyArray<string>, now: number) => ReadonlyMap<string, SubjectKey> | undefined

/** The {@link PeekCurrentKeys} of each service `Privacy.make` built (a service built otherwise has none). */
export const currentKeyPeeks = new WeakMap<object, PeekCurrentKeys>()

/**
 * The key store with each subject's current key remembered for `ttlMillis` (0: not at all), and
 * its {@link PeekCurrentKeys}. `onForget` runs after every forget, whether it found keys or not.
 */
export const cachingKeyStore = (
  keyStore: KeyStore,
  ttlMillis: number,
  onForget: () => void
): { readonly keyStore: KeyStore; readonly peek: PeekCurrentKeys } => {
  // `alone`: the answer to a peek of this subject only (most saves' case), made once, not per save.
  const current = new Map<string, { readonly key: SubjectKey; readonly until: number; readonly alone: ReadonlyMap<string, SubjectKey> }>()
  const peek: PeekCurrentKeys = (subjectIds, now) => {
    if (ttlMillis <= 0) return undefined
    if (subjectIds.length === 1) {
      const cached = current.get(subjectIds[0]!)
      return cached === undefined || cached.until <= now ? undefined : cached.alone
    }
    const found = new Map<string, SubjectKey>()
    for (const subjectId of subjectIds) {
      const cached = current.get(subjectId)
      if (cached === undefined || cached.until <= now) return undefined
      found.set(subjectId, cached.key)
    }
    return found
  }
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
          if (epoch === forgets && key.provisional !== true) {
            current.set(subjectId, { key, until: now + ttlMillis, alone: new Map([[subjectId, key]]) })
          }
        }
        return found
      })
    })
  const caching: KeyStore = {
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
  return { keyStore: caching, peek }
}
