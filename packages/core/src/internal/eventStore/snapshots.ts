/**
 * Snapshots under an aggregate's `snapshot` policy: which stored snapshot `load` may start from,
 * and which snapshot a `save` writes with its events. The state is encoded and decoded with the
 * policy's schema, compiled once per schema by the same cache as event schemas ({@link codecFor}).
 */
import { Effect, Either, Option, ParseResult } from "effect"
import * as Aggregate from "../../Aggregate.js"
import { EventStoreError, SerializationError } from "../../Errors.js"
import type { EventStorage, SnapshotToWrite } from "../../EventStorage.js"
import { codecFor, toJson } from "../codec.js"

/** A state to fold further events onto, and the version it is at. */
export interface FoldStart<State> {
  readonly state: State
  readonly version: number
}

/**
 * The newest snapshot `load` can start from: of this aggregate type and of the policy's
 * version, and decodable; anything else is ignored (a full replay is always correct).
 */
export const usableSnapshot = <State>(
  storage: EventStorage,
  policy: Aggregate.SnapshotPolicy<State>,
  aggregateType: string,
  aggregateId: string
) =>
  Effect.map(storage.readSnapshot(aggregateId), (snapshot): FoldStart<State> | undefined => {
    if (Option.isNone(snapshot)) return undefined
    const { aggregateType: type, aggregateVersion, schemaVersion, state } = snapshot.value
    if (type !== aggregateType || schemaVersion !== policy.version) return undefined
    const decoded = codecFor(policy.schema).decode(state)
    // Decoded with the policy's schema, so the value is its State.
    return Either.isRight(decoded) ? { state: decoded.right as State, version: aggregateVersion } : undefined
  })

/** The largest snapshot schema version: the SQL stores keep it in a 32-bit integer column. */
const MAX_SNAPSHOT_VERSION = 2_147_483_647

/** The snapshot a save writes: when it crosses a multiple of the policy's `every`. */
export const snapshotToWrite = <State, Ev extends { readonly _tag: string }>(
  root: Aggregate.Root<State, Ev>
): Either.Either<SnapshotToWrite | undefined, EventStoreError | SerializationError> => {
  const policy = root.definition.snapshot
  if (policy === undefined) return Either.right(undefined)
  if (!Number.isSafeInteger(policy.every) || policy.every < 1) {
    return Either.left(new EventStoreError({ message: `${root.type}: snapshot.every must be a positive integer, got ${policy.every}` }))
  }
  // Stored in an integer column: PostgreSQL refused 1.5 with a DatabaseError where SQLite and
  // memory kept it, so the one rule is checked here, before anything is written.
  if (!Number.isInteger(policy.version) || policy.version < 0 || policy.version > MAX_SNAPSHOT_VERSION) {
    return Either.left(
      new EventStoreError({ message: `${root.type}: snapshot.version must be an integer from 0 to ${MAX_SNAPSHOT_VERSION}, got ${policy.version}` })
    )
  }
  const committed = Aggregate.committedVersion(root)
  if (Math.floor(root.version / policy.every) === Math.floor(committed / policy.every)) return Either.right(undefined)
  return codecFor(policy.schema).encode(root.state).pipe(
    Either.mapLeft((error) =>
      new SerializationError({
        eventType: root.type,
        message: `The state of ${root.type} ${JSON.stringify(root.id)} does not match its snapshot schema: ${
          ParseResult.TreeFormatter.formatErrorSync(error)
        }`,
        cause: error
      })
    ),
    Either.flatMap((encoded) => toJson(root.type, encoded, "snapshot")),
    Either.map((stateJson) => ({ schemaVersion: policy.version, stateJson }))
  )
}
