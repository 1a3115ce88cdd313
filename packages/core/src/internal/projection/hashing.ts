/**
 * The two hashes projections rely on. Both are part of the stored format: partitions are chosen
 * and digests recorded with them, and `Projection.verify` recomputes them, so they must never
 * change. Both run over the string's UTF-16 code units (no encoding step on the hot path).
 */

/** FNV-1a, 32 bits. */
const fnv1a32 = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193)
  return hash >>> 0
}

/** A second, independent 32-bit hash (MurmurHash3's multiply-rotate mix per code unit, then its finaliser). */
const murmurish32 = (text: string): number => {
  let hash = 0x9747b28c
  for (let i = 0; i < text.length; i++) {
    let k = Math.imul(text.charCodeAt(i), 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    hash ^= k
    hash = Math.imul((hash << 13) | (hash >>> 19), 5) + 0xe6546b64
  }
  hash ^= text.length
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b)
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35)
  return (hash ^ (hash >>> 16)) >>> 0
}

/** The partition (0 to `partitions - 1`) of an aggregate: all its events go to the same one. */
export const partitionOf = (aggregateId: string, partitions: number): number =>
  partitions === 1 ? 0 : fnv1a32(aggregateId) % partitions

/** A 64-bit hash of an event id; a digest is the sum of these modulo 2^64 (so order does not matter, and a double counts twice). */
export const eventIdHash = (eventId: string): bigint =>
  (BigInt(fnv1a32(eventId)) << 32n) | BigInt(murmurish32(eventId))

/** Adds two digests modulo 2^64. */
export const addDigests = (a: bigint, b: bigint): bigint => BigInt.asUintN(64, a + b)
