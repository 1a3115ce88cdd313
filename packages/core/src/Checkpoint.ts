/**
 * Where a reader of the log is: an opaque, serialisable token that resumes a subscription (or a
 * projection) exactly after the event that carried it. Store it as a string; don't compute with
 * it.
 *
 * @since 0.1.0
 */
import { Brand, Either, Schema } from "effect"
import { EventStoreError } from "./Errors.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Checkpoint = string & Brand.Brand<"eventuali/Checkpoint">

/**
 * The schema of a checkpoint (a string), for storing checkpoints with your own data.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Checkpoint: Schema.Schema<Checkpoint, string> = Schema.String.pipe(
  Schema.pattern(/^(0|[1-9][0-9]*)$/),
  Schema.brand("eventuali/Checkpoint")
)

/**
 * The checkpoint before every event.
 *
 * @since 0.1.0
 * @category constants
 */
export const beginning: Checkpoint = "0" as Checkpoint

/**
 * The checkpoint right after the event at `position`. Every backend's positions are gap-safe
 * (PostgreSQL's carry the writing transaction, see the PostgreSQL guide), so the position is
 * the whole cursor.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPosition = (position: bigint): Checkpoint => position.toString() as Checkpoint

/**
 * The position a checkpoint resumes after; fails with `EventStoreError` for a string that is not
 * a checkpoint.
 *
 * @since 0.1.0
 * @category getters
 */
export const toPosition = (checkpoint: string): Either.Either<bigint, EventStoreError> =>
  /^(0|[1-9][0-9]*)$/.test(checkpoint)
    ? Either.right(BigInt(checkpoint))
    : Either.left(new EventStoreError({ message: `${JSON.stringify(checkpoint)} is not a checkpoint` }))
