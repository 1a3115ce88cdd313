/**
 * AES-256-GCM encryption of short plaintexts from a key's AES block function, for the save path
 * of personal data (`NodeCipher.aes256gcm.encrypt`). Kept on purpose, on a measured hot path:
 * `createCipheriv` builds a native cipher (and OpenSSL looks its implementation up) for every
 * ciphertext, five calls into C++ per event; between SQLite's statements in a save that cost
 * 9–10 µs of CPU per event, most of the 25% a sealed save may cost (docs/performance.md,
 * "Personal data"). Here each key gets one long-lived AES-256-ECB context, which makes the
 * counter blocks' key stream (NIST SP 800-38D, section 7.1) for several ciphertexts at once, and
 * GHASH is computed in this file. Node.js has no public API that runs GCM on a reused context.
 *
 * GHASH multiplies in GF(2^128) with 32-bit integer multiplications on operands whose bits are
 * spaced four apart, so that carries never reach a bit that is kept: no table lookups and no
 * branches on secret values (H, the hash state), unlike the table-driven GHASH of most
 * JavaScript libraries. Karatsuba makes a 128-bit product from nine 32-bit ones; `Math.imul`
 * gives only the low 32 bits of each, so each is made twice, the second time with bit-reversed
 * operands, whose low half is the bit-reversed high half.
 *
 * The output is byte for byte what OpenSSL's AES-256-GCM gives (tested against `createCipheriv`
 * on random keys, plaintexts of every length and associated data), and every ciphertext is read
 * back with OpenSSL's `createDecipheriv`, which checks the tag. Longer plaintexts go to OpenSSL,
 * for which a long GHASH in TypeScript would be slower.
 */
import { createCipheriv, randomFillSync, type Cipher } from "node:crypto"

/** Plaintexts up to this many bytes are sealed here (a personal payload is usually far shorter). */
export const MAX_PLAINTEXT_BYTES = 256

/** Bit-reverses a 32-bit word. */
const reverse = (x: number): number => {
  x = ((x & 0x55555555) << 1) | ((x >>> 1) & 0x55555555)
  x = ((x & 0x33333333) << 2) | ((x >>> 2) & 0x33333333)
  x = ((x & 0x0f0f0f0f) << 4) | ((x >>> 4) & 0x0f0f0f0f)
  x = ((x & 0x00ff00ff) << 8) | ((x >>> 8) & 0x00ff00ff)
  return (x << 16) | (x >>> 16)
}

/**
 * The low 32 bits of the carry-less product of two 32-bit words. Each operand is split into four
 * words holding every fourth bit; a product of two such words sums at most eight bits in a
 * column, so its carries land three bits or less above, never on a bit of the same residue
 * (mod 4), which is the only one kept.
 */
const clmulLow = (x: number, y: number): number => {
  const x0 = x & 0x11111111
  const x1 = x & 0x22222222
  const x2 = x & 0x44444444
  const x3 = x & 0x88888888
  const y0 = y & 0x11111111
  const y1 = y & 0x22222222
  const y2 = y & 0x44444444
  const y3 = y & 0x88888888
  return ((Math.imul(x0, y0) ^ Math.imul(x1, y3) ^ Math.imul(x2, y2) ^ Math.imul(x3, y1)) & 0x11111111) |
    ((Math.imul(x0, y1) ^ Math.imul(x1, y0) ^ Math.imul(x2, y3) ^ Math.imul(x3, y2)) & 0x22222222) |
    ((Math.imul(x0, y2) ^ Math.imul(x1, y1) ^ Math.imul(x2, y0) ^ Math.imul(x3, y3)) & 0x44444444) |
    ((Math.imul(x0, y3) ^ Math.imul(x1, y2) ^ Math.imul(x2, y1) ^ Math.imul(x3, y0)) & 0x88888888)
}

/**
 * H's operands for the nine products: its four words (least significant first, as the block's
 * big-endian 128-bit integer), the Karatsuba sums, then the same nine bit-reversed.
 */
const hashKey = (h: Uint8Array): Int32Array => {
  const w = new Int32Array(18)
  for (let i = 0; i < 4; i++) w[3 - i] = readWord(h, 4 * i)
  w[4] = w[0]! ^ w[1]!
  w[5] = w[2]! ^ w[3]!
  w[6] = w[0]! ^ w[2]!
  w[7] = w[1]! ^ w[3]!
  w[8] = w[6]! ^ w[7]!
  for (let i = 0; i < 9; i++) w[9 + i] = reverse(w[i]!)
  return w
}

const readWord = (bytes: Uint8Array, at: number): number =>
  (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!

/**
 * The hash state Y, least significant word first; multiplied by H in place. GCM's bit order
 * reflects the polynomial: the 256-bit integer product is shifted left by one, and the reduction
 * by x^128 + x^7 + x^2 + x + 1 folds the low four words into the high four, lowest first (a
 * fold of word 0, 1 or 2 spills into word 3, which is folded after).
 */
const multiply = (y: Int32Array, h: Int32Array): void => {
  const a0 = y[0]!
  const a1 = y[1]!
  const a2 = y[2]!
  const a3 = y[3]!
  const a4 = a0 ^ a1
  const a5 = a2 ^ a3
  const a6 = a0 ^ a2
  const a7 = a1 ^ a3
  const a8 = a6 ^ a7
  // Low and high words of the nine 64-bit products.
  const l0 = clmulLow(a0, h[0]!)
  const l1 = clmulLow(a1, h[1]!)
  const l2 = clmulLow(a2, h[2]!)
  const l3 = clmulLow(a3, h[3]!)
  const l4 = clmulLow(a4, h[4]!)
  const l5 = clmulLow(a5, h[5]!)
  const l6 = clmulLow(a6, h[6]!)
  const l7 = clmulLow(a7, h[7]!)
  const l8 = clmulLow(a8, h[8]!)
  const u0 = reverse(clmulLow(reverse(a0), h[9]!)) >>> 1
  const u1 = reverse(clmulLow(reverse(a1), h[10]!)) >>> 1
  const u2 = reverse(clmulLow(reverse(a2), h[11]!)) >>> 1
  const u3 = reverse(clmulLow(reverse(a3), h[12]!)) >>> 1
  const u4 = reverse(clmulLow(reverse(a4), h[13]!)) >>> 1
  const u5 = reverse(clmulLow(reverse(a5), h[14]!)) >>> 1
  const u6 = reverse(clmulLow(reverse(a6), h[15]!)) >>> 1
  const u7 = reverse(clmulLow(reverse(a7), h[16]!)) >>> 1
  const u8 = reverse(clmulLow(reverse(a8), h[17]!)) >>> 1
  // The three 128-bit products of 64-bit halves (Karatsuba within each half).
  const p0 = l0
  const p1 = u0 ^ l4 ^ l0 ^ l1
  const p2 = l1 ^ u4 ^ u0 ^ u1
  const p3 = u1
  const q0 = l2
  const q1 = u2 ^ l5 ^ l2 ^ l3
  const q2 = l3 ^ u5 ^ u2 ^ u3
  const q3 = u3
  const m0 = l6 ^ p0 ^ q0
  const m1 = u6 ^ l8 ^ l6 ^ l7 ^ p1 ^ q1
  const m2 = l7 ^ u8 ^ u6 ^ u7 ^ p2 ^ q2
  const m3 = u7 ^ p3 ^ q3
  // The 255-bit product, shifted left by one.
  const d2 = p2 ^ m0
  const d3 = p3 ^ m1
  const d4 = q0 ^ m2
  const d5 = q1 ^ m3
  let z0 = p0 << 1
  let z1 = (p1 << 1) | (p0 >>> 31)
  let z2 = (d2 << 1) | (p1 >>> 31)
  let z3 = (d3 << 1) | (d2 >>> 31)
  let z4 = (d4 << 1) | (d3 >>> 31)
  let z5 = (d5 << 1) | (d4 >>> 31)
  let z6 = (q2 << 1) | (d5 >>> 31)
  let z7 = (q3 << 1) | (q2 >>> 31)
  z4 ^= z0 ^ (z0 >>> 1) ^ (z0 >>> 2) ^ (z0 >>> 7)
  z3 ^= (z0 << 31) ^ (z0 << 30) ^ (z0 << 25)
  z5 ^= z1 ^ (z1 >>> 1) ^ (z1 >>> 2) ^ (z1 >>> 7)
  z4 ^= (z1 << 31) ^ (z1 << 30) ^ (z1 << 25)
  z6 ^= z2 ^ (z2 >>> 1) ^ (z2 >>> 2) ^ (z2 >>> 7)
  z5 ^= (z2 << 31) ^ (z2 << 30) ^ (z2 << 25)
  z7 ^= z3 ^ (z3 >>> 1) ^ (z3 >>> 2) ^ (z3 >>> 7)
  z6 ^= (z3 << 31) ^ (z3 << 30) ^ (z3 << 25)
  y[0] = z4
  y[1] = z5
  y[2] = z6
  y[3] = z7
}

/** Absorbs `bytes[from, to)` into the hash state, the last block padded with zeros. */
const absorb = (y: Int32Array, h: Int32Array, bytes: Uint8Array, from: number, to: number): void => {
  let at = from
  for (; at + 16 <= to; at += 16) {
    y[3]! ^= readWord(bytes, at)
    y[2]! ^= readWord(bytes, at + 4)
    y[1]! ^= readWord(bytes, at + 8)
    y[0]! ^= readWord(bytes, at + 12)
    multiply(y, h)
  }
  if (at < to) {
    for (let i = 0; at + i < to; i++) y[3 - (i >>> 2)]! ^= bytes[at + i]! << (24 - 8 * (i & 3))
    multiply(y, h)
  }
}

/** Absorbs GCM's last block: the bit lengths of the associated data and the ciphertext. */
const absorbLengths = (y: Int32Array, h: Int32Array, associatedBytes: number, ciphertextBytes: number): void => {
  y[3]! ^= Math.floor(associatedBytes / 0x20000000)
  y[2]! ^= associatedBytes << 3
  y[1]! ^= Math.floor(ciphertextBytes / 0x20000000)
  y[0]! ^= ciphertextBytes << 3
  multiply(y, h)
}

/**
 * IVs come from a pool of random bytes filled 256 IVs at a time: one call to the system's random
 * source per IV was a measured 7% of a save of personal data (as `crypto.randomUUID` buffers its
 * entropy too). The bytes are the same CSPRNG output, each used once; IVs are not secret.
 */
const IV_POOL = new Uint8Array(12 * 256)
let ivOffset = IV_POOL.length

/** The next IV: a view of the pool, to be copied before the next call. */
export const nextIv = (): Uint8Array => {
  if (ivOffset === IV_POOL.length) {
    randomFillSync(IV_POOL)
    ivOffset = 0
  }
  const iv = IV_POOL.subarray(ivOffset, ivOffset + 12)
  ivOffset += 12
  return iv
}

/**
 * Saves take their IV and key stream from a reserve made ahead per key: E(K, J0) and eight blocks
 * (128 bytes of plaintext) per ciphertext, a slot. A call to the AES context costs about 5 µs of
 * a save in a busy process whatever its length (measured: 1.3 µs in a loop of its own), so a key
 * in use gets its slots in batches: one at its first save, then twice the last batch, up to
 * {@link MAX_SLOTS} (a key saved with once costs one call, as without the reserve). Each slot is
 * used once; the reserve is key stream for IVs not yet used, held like the key itself.
 */
const SLOT_BYTES = 16 * 9
const SLOT_PLAINTEXT_BYTES = SLOT_BYTES - 16
const MAX_SLOTS = 16

/** What a key needs, made at its first ciphertext. */
interface KeyState {
  /** A copy of the key's bytes when the context was made: a key whose bytes changed (erased) gets a new state. */
  readonly material: Uint8Array
  readonly blocks: Cipher
  readonly h: Int32Array
  /** The hash state after each associated data (a few per key: one per subject and field set). */
  readonly associated: Map<string, { readonly y: Int32Array; readonly length: number }>
  /** The reserve's counter blocks (each slot's IV is its first 12 bytes) and key stream. */
  reserve: Uint8Array
  stream: Uint8Array
  used: number
}

/**
 * Keyed by the key's bytes (the object): the key stores hand the same object out while a key is
 * cached, and the state goes with it when the key is collected.
 */
const states = new WeakMap<Uint8Array, KeyState>()

const MAX_ASSOCIATED_PER_KEY = 64

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  let difference = a.length ^ b.length
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!
  return difference === 0
}

const EMPTY = new Uint8Array(0)

const stateOf = (key: Uint8Array): KeyState => {
  const known = states.get(key)
  if (known !== undefined) {
    if (sameBytes(known.material, key)) return known
    // Overwritten (erased): this state's copy of the old bytes and its key stream go too.
    known.material.fill(0)
    known.stream.fill(0)
  }
  const blocks = createCipheriv("aes-256-ecb", key, null).setAutoPadding(false)
  const state: KeyState = {
    material: Uint8Array.from(key),
    blocks,
    h: hashKey(blocks.update(new Uint8Array(16))),
    associated: new Map(),
    reserve: EMPTY,
    stream: EMPTY,
    used: 0
  }
  states.set(key, state)
  return state
}

const hashedAssociated = (state: KeyState, associatedData: string) => {
  const known = state.associated.get(associatedData)
  if (known !== undefined) return known
  const bytes = Buffer.from(associatedData, "utf8")
  const y = new Int32Array(4)
  absorb(y, state.h, bytes, 0, bytes.length)
  if (state.associated.size >= MAX_ASSOCIATED_PER_KEY) state.associated.clear()
  const hashed = { y, length: bytes.length }
  state.associated.set(associatedData, hashed)
  return hashed
}

/** Writes the counter blocks IV ‖ 1, IV ‖ 2, … (`count` of them) at `at`, the IV at `iv[ivAt, ivAt + 12)`. */
const writeCounters = (into: Uint8Array, at: number, iv: Uint8Array, ivAt: number, count: number): void => {
  for (let i = 0; i < count; i++, at += 16) {
    for (let j = 0; j < 12; j++) into[at + j] = iv[ivAt + j]!
    const counter = i + 1
    into[at + 12] = counter >>> 24
    into[at + 13] = (counter >>> 16) & 0xff
    into[at + 14] = (counter >>> 8) & 0xff
    into[at + 15] = counter & 0xff
  }
}

/** The next slot of the key's reserve (its offset in `reserve` and `stream`), made when none is left. */
const nextSlot = (state: KeyState): number => {
  const slots = state.reserve.length / SLOT_BYTES
  if (state.used === slots) {
    const batch = Math.min(MAX_SLOTS, Math.max(1, 2 * slots))
    const reserve = new Uint8Array(batch * SLOT_BYTES)
    for (let slot = 0; slot < batch; slot++) writeCounters(reserve, slot * SLOT_BYTES, nextIv(), 0, SLOT_BYTES / 16)
    state.reserve = reserve
    state.stream = state.blocks.update(reserve)
    state.used = 0
  }
  return SLOT_BYTES * state.used++
}

/** Counter blocks of one ciphertext, reused. */
let counters = new Uint8Array(16 * (MAX_PLAINTEXT_BYTES / 16 + 1))
const y = new Int32Array(4)

/**
 * E(K, J0) followed by the key stream for `length` bytes, for the IV at `bytes[ivAt, ivAt + 12)`:
 * one call to the key's AES context.
 */
const keyStream = (state: KeyState, bytes: Uint8Array, ivAt: number, length: number): Buffer => {
  const countersLength = 16 * (((length + 15) >>> 4) + 1)
  if (counters.length < countersLength) counters = new Uint8Array(countersLength)
  writeCounters(counters, 0, bytes, ivAt, countersLength / 16)
  return state.blocks.update(counters.subarray(0, countersLength))
}

/**
 * Leaves in `y` the tag: GHASH of the associated data and `bytes[from, to)` (the ciphertext),
 * XOR E(K, J0) (at `stream[streamAt]`).
 */
const tag = (
  state: KeyState,
  associatedData: string,
  bytes: Uint8Array,
  from: number,
  to: number,
  stream: Uint8Array,
  streamAt: number
): void => {
  const associated = hashedAssociated(state, associatedData)
  y.set(associated.y)
  absorb(y, state.h, bytes, from, to)
  absorbLengths(y, state.h, associated.length, to - from)
  for (let i = 0; i < 4; i++) y[3 - i]! ^= readWord(stream, streamAt + 4 * i)
}

/**
 * IV (12 bytes) ‖ ciphertext ‖ tag (16 bytes), for a plaintext of at most
 * {@link MAX_PLAINTEXT_BYTES} bytes whose UTF-8 length is `length`, with a fresh IV.
 */
export const seal = (key: Uint8Array, plaintext: string, length: number, associatedData: string): Buffer => {
  const state = stateOf(key)
  const bytes = Buffer.allocUnsafe(12 + length + 16)
  let stream: Uint8Array
  let streamAt: number
  if (length <= SLOT_PLAINTEXT_BYTES) {
    streamAt = nextSlot(state)
    stream = state.stream
    bytes.set(state.reserve.subarray(streamAt, streamAt + 12), 0)
  } else {
    bytes.set(nextIv(), 0)
    stream = keyStream(state, bytes, 0, length)
    streamAt = 0
  }
  bytes.write(plaintext, 12, length, "utf8")
  const end = 12 + length
  for (let i = 12, s = streamAt + 16; i < end; i++, s++) bytes[i]! ^= stream[s]!
  tag(state, associatedData, bytes, 12, end, stream, streamAt)
  for (let i = 0; i < 4; i++) {
    const word = y[3 - i]!
    bytes[end + 4 * i] = word >>> 24
    bytes[end + 4 * i + 1] = (word >>> 16) & 0xff
    bytes[end + 4 * i + 2] = (word >>> 8) & 0xff
    bytes[end + 4 * i + 3] = word & 0xff
  }
  return bytes
}
