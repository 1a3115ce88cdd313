/**
 * The keys of the data subjects (`Privacy.KeyStore`) in a table of the store's own database,
 * `eventuali_subject_keys`: one row per key, the highest `generation` a subject's current key.
 * `forget` deletes the subject's rows and then makes sure the key bytes are gone from the
 * database's files too, not only from its tables: on SQLite the connection runs with
 * `secure_delete` (the driver sets it), so a deleted row's bytes are overwritten with zeros, and
 * the write-ahead log that still holds older copies of the page is checkpointed and truncated;
 * on PostgreSQL, where a deleted row stays in its page as a dead tuple until the space is
 * reused, the key table is rewritten (`VACUUM FULL`: a short exclusive lock on that table only).
 *
 * The key lookup runs on every save and every read of personal data: it is the backend's
 * hand-written statement (`subjectKeys`, run by `SqlBackend.query`), because through the `sql`
 * template it cost more than the rest of a load (measured: 1.1–1.8 ms against 0.05 ms on SQLite,
 * docs/performance.md). Making, rotating and forgetting keys are cold paths: `sql` templates.
 *
 * @since 0.2.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import { DatabaseError, KeyStoreError } from "@eventuali/core/Errors"
import * as Privacy from "@eventuali/core/Privacy"
import { Context, Effect, Option, Schedule } from "effect"
import * as KeyChanges from "./internal/keyChanges.js"
import { driverMessageOf, isSqlError } from "./SqlErrors.js"
import type { SqlBackend } from "./SqlBackend.js"
import * as Tables from "./Tables.js"

/**
 * - `schema` (PostgreSQL): the store's schema.
 * - `keyLength`: the length of the keys made, in bytes (the cipher's `keyLength`).
 *
 * @since 0.2.0
 * @category models
 */
export interface SqlKeyStoreOptions {
  readonly schema?: string | undefined
  readonly keyLength: number
  /** The store's backend, whose `query` runs the key lookup. */
  readonly backend: SqlBackend
}

interface KeyRow {
  readonly subject_id: string
  readonly generation: number
  readonly key_id: string
  readonly material: Uint8Array
}

/** A key with its generation (which orders a subject's keys). */
type GenerationKey = Privacy.SubjectKey & { readonly generation: number }

const toKey = (row: KeyRow): GenerationKey => ({
  subjectId: row.subject_id,
  keyId: row.key_id,
  material: new Uint8Array(row.material),
  generation: Number(row.generation)
})

/** A failed key statement: what failed, what the driver said. */
const keyStoreError = (what: string) => (error: SqlError) =>
  new KeyStoreError({ message: `${what} failed: ${driverMessageOf(error)}`, cause: error })

/** How often a subject's first key is made again when a forget destroyed it before it was read. */
const MAKE_KEY_ROUNDS = 5

/** How often a forget on SQLite tries to truncate the write-ahead log while other connections read. */
const CHECKPOINT_ATTEMPTS = 20

/** A unique violation: another writer made the same subject's key (generation) at the same time. */
const isUniqueViolation = (error: SqlError): boolean => {
  const code: unknown = (error.cause as { readonly code?: unknown } | undefined)?.code
  return code === "23505" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE"
}

/**
 * The key store on the client's database. Fails at once with `DatabaseError` when the key table
 * cannot be read (a database not migrated to this version, a wrong schema).
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (options: SqlKeyStoreOptions): Effect.Effect<Privacy.KeyStore, DatabaseError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const table = sql(Tables.identifiers(options.schema).keys)
    const tableName = Tables.identifiers(options.schema).keys
    yield* sql`SELECT subject_id FROM ${table} WHERE 1 = 0`.pipe(
      Effect.mapError((error) =>
        new DatabaseError({
          message: `The key table ${tableName} of personal data cannot be read: ${driverMessageOf(error)} (is the database migrated?)`,
          cause: error
        })
      )
    )

    const { query, statements } = options.backend
    const rowsOf = (subjectIds: ReadonlyArray<string>) => query<KeyRow>(statements.subjectKeys, [statements.list(subjectIds)])

    /** Each subject's keys, ordered by generation: its current key ends its list. */
    const byGeneration = (rows: ReadonlyArray<KeyRow>): Map<string, Array<GenerationKey>> => {
      const keys = new Map<string, Array<GenerationKey>>()
      for (const row of rows) {
        const held = keys.get(row.subject_id)
        if (held === undefined) keys.set(row.subject_id, [toKey(row)])
        else held.push(toKey(row))
      }
      return keys
    }

    const lookUp = (subjectIds: ReadonlyArray<string>): Effect.Effect<Map<string, Array<GenerationKey>>, SqlError> =>
      subjectIds.length === 0 ? Effect.sync(() => new Map()) : Effect.map(rowsOf([...new Set(subjectIds)]), byGeneration)

    const remembering = yield* rememberingKeys(options.backend, lookUp)
    const keysOf = remembering?.keysOf ?? ((subjectIds: ReadonlyArray<string>, _seen?: unknown) => lookUp(subjectIds))

    const newRow = (subjectId: string, generation: number) => ({
      subject_id: subjectId,
      generation,
      key_id: Privacy.makeKeyId(),
      material: Privacy.makeKeyMaterial(options.keyLength),
      created_at: new Date().toISOString()
    })

    /**
     * Each subject's current key, making the missing ones. Another writer may make the same
     * subject's first key at once (its key is used), and a forget may destroy a key between its
     * making and its reading (a new one is made): a few rounds settle both.
     */
    const currentKeys = (subjectIds: ReadonlyArray<string>) =>
      Effect.gen(function*() {
        const held = yield* keysOf(subjectIds)
        let missing = [...new Set(subjectIds)].filter((subjectId) => !held.has(subjectId))
        for (let round = 0; missing.length > 0 && round < MAKE_KEY_ROUNDS; round++) {
          yield* sql`INSERT INTO ${table} ${sql.insert(missing.map((subjectId) => newRow(subjectId, 1)))} ON CONFLICT DO NOTHING`
          for (const [subjectId, keys] of yield* keysOf(missing)) held.set(subjectId, keys)
          missing = missing.filter((subjectId) => !held.has(subjectId))
        }
        if (missing.length > 0) {
          return yield* new KeyStoreError({ message: `The key of subject ${JSON.stringify(missing[0])} was destroyed each time it was made` })
        }
        // In a caller's transaction the key may be one this transaction made, gone if it rolls back.
        const provisional = yield* inTransaction
        return new Map(subjectIds.map((subjectId) => {
          const key = held.get(subjectId)!.at(-1)!
          return [subjectId, provisional ? { ...key, provisional } : key] as const
        }))
      }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(keyStoreError("Reading or making subject keys")(error))))

    const wipe = sql.onDialectOrElse({
      pg: () => Effect.asVoid(sql`VACUUM FULL ${table}`),
      orElse: () =>
        sql<{ readonly busy: number }>`PRAGMA wal_checkpoint(TRUNCATE)`.pipe(
          Effect.flatMap(([result]) =>
            result !== undefined && Number(result.busy) !== 0
              ? Effect.fail("busy" as const)
              : Effect.void
          ),
          Effect.retry({ schedule: Schedule.spaced("50 millis"), times: CHECKPOINT_ATTEMPTS, while: (error) => error === "busy" }),
          Effect.catchIf((error): error is "busy" => error === "busy", () =>
            Effect.logWarning(
              "Privacy.forget: the SQLite write-ahead log could not be truncated (other connections are reading); the deleted key's older copies stay in it until the next checkpoint"
            ))
        )
    })

    const forget = (subjectId: string) =>
      sql<{ readonly key_id: string }>`DELETE FROM ${table} WHERE subject_id = ${subjectId} RETURNING key_id`.pipe(
        Effect.tap(wipe),
        // The next read would see the removal anyway; this one's keys go at once.
        Effect.ensuring(Effect.sync(() => remembering?.drop())),
        Effect.map((deleted) => deleted.length > 0),
        Effect.catchIf(isSqlError, (error) => Effect.fail(keyStoreError(`Forgetting subject ${JSON.stringify(subjectId)}`)(error)))
      )

    const rotate = (subjectId: string) =>
      Effect.suspend(() => {
        const row = newRow(subjectId, 0)
        return sql`INSERT INTO ${table} (subject_id, generation, key_id, material, created_at)
          SELECT ${subjectId}, COALESCE(MAX(generation), 0) + 1, ${row.key_id}, ${row.material}, ${row.created_at}
          FROM ${table} WHERE subject_id = ${subjectId}`.pipe(
          Effect.as<Privacy.SubjectKey>({ subjectId, keyId: row.key_id, material: row.material })
        )
      }).pipe(
        // Two rotations at once computed the same generation: the loser takes the next one.
        Effect.retry({ times: 5, while: isUniqueViolation }),
        Effect.mapError(keyStoreError(`Rotating the key of subject ${JSON.stringify(subjectId)}`))
      )

    const keyStore = {
      currentKeys,
      keysOf: (subjectIds, seen) => Effect.mapError(keysOf(subjectIds, seen), keyStoreError("Reading subject keys")),
      forget,
      rotate
    } satisfies Privacy.KeyStore
    if (remembering !== undefined) KeyChanges.rememberingKeyStores.add(keyStore)
    return keyStore
  })

/** Whether the fiber runs in a caller's transaction (whose statements see its own uncommitted rows). */
const inTransaction = Effect.map(Effect.serviceOption(SqlClient.TransactionConnection), Option.isSome)

/** How many subjects' keys a store remembers between reads, the longest remembered dropped first. */
const REMEMBERED_SUBJECTS = 10_000

/** The keys remembered under the counts of key rows removed (or changed) and added. */
interface Remembered {
  readonly removed: number
  readonly added: number
  readonly keys: Map<string, ReadonlyArray<GenerationKey>>
}

/**
 * Subjects' keys remembered between reads, where the backend can tell cheaply that they are still
 * the keys (`statements.subjectKeyChanges`: SQLite; `undefined` elsewhere). Every read still runs
 * one statement: it reads how many key rows were ever removed or changed and how many were added
 * (triggers count them, whoever writes). While neither count moved, the keys remembered are the
 * keys; once one did — any process's `forget`, rotation or new subject — everything remembered is
 * dropped and the read looks the keys up, as every read did before. So a read returns the keys the
 * table holds when its statement runs, as a lookup would, without looking up what it knows:
 * measured, the lookup of ten subjects' keys was about a third of what a 10-event load of sealed
 * events cost more. A subject without keys is remembered too (its events read as erased without a
 * lookup). Counts, not row numbers: a VACUUM may renumber the key table's rows.
 */
const rememberingKeys = (
  backend: SqlBackend,
  lookUp: (subjectIds: ReadonlyArray<string>) => Effect.Effect<Map<string, Array<GenerationKey>>, SqlError>
) =>
  Effect.gen(function*() {
    const { query, statements } = backend
    const changes = statements.subjectKeyChanges
    if (changes === undefined) return undefined
    // A database without the counts (opened read-only, made by an older version): no remembering.
    const available = yield* Effect.match(query(changes, []), { onFailure: () => false, onSuccess: (rows) => rows.length === 1 })
    if (!available) return undefined

    let remembered: Remembered | undefined

    // The counts a stream read saw with the events being opened (`keyChanges.ts`): when they are
    // the counts the remembered keys were read under, no key row changed in between, and the
    // statement that would read them again is not needed.
    const countsFor = (seen: unknown): Effect.Effect<ReadonlyArray<{ readonly removed: number; readonly added: number }>, SqlError> => {
      const counts = KeyChanges.seenBy(seen, backend)
      return counts !== undefined && remembered !== undefined && counts.removed === remembered.removed && counts.added === remembered.added
        ? Effect.succeed([counts])
        : query<{ readonly removed: number; readonly added: number }>(changes, [])
    }

    const fromRemembered = (subjectIds: ReadonlyArray<string>, seen: unknown): Effect.Effect<Map<string, ReadonlyArray<Privacy.SubjectKey>>, SqlError> =>
      Effect.flatMap(countsFor(seen), ([counts]) => {
        const removed = Number(counts?.removed ?? 0)
        const added = Number(counts?.added ?? 0)
        let state = remembered
        if (state === undefined || state.removed !== removed || state.added !== added) {
          state = { removed, added, keys: new Map() }
          remembered = state
        }
        const current = state
        const answer = (found: ReadonlyMap<string, ReadonlyArray<GenerationKey>> | undefined) => {
          const keys = new Map<string, ReadonlyArray<Privacy.SubjectKey>>()
          for (const subjectId of subjectIds) {
            const held = found?.get(subjectId) ?? current.keys.get(subjectId)
            if (held !== undefined && held.length > 0) keys.set(subjectId, held)
          }
          return keys
        }
        const missing = subjectIds.filter((subjectId) => !current.keys.has(subjectId))
        if (missing.length === 0) return Effect.succeed(answer(undefined))
        // Remembered under the counts read before the lookup: a change committed in between is
        // seen by the next read's counts, which then drop it.
        return Effect.map(lookUp(missing), (found) => {
          for (const subjectId of missing) {
            if (!current.keys.has(subjectId) && current.keys.size >= REMEMBERED_SUBJECTS) {
              current.keys.delete(current.keys.keys().next().value!)
            }
            current.keys.set(subjectId, found.get(subjectId) ?? [])
          }
          return answer(found)
        })
      })

    // In a caller's transaction the statements see its uncommitted rows, which a rollback takes
    // back without any count having moved: nothing read there is remembered, nor answered from
    // what is.
    const keysOf = (subjectIds: ReadonlyArray<string>, seen?: unknown): Effect.Effect<Map<string, ReadonlyArray<Privacy.SubjectKey>>, SqlError> =>
      Effect.withFiberRuntime((fiber) =>
        Option.isSome(Context.getOption(fiber.currentContext, SqlClient.TransactionConnection))
          ? lookUp(subjectIds)
          : fromRemembered(subjectIds, seen)
      )

    return { keysOf, drop: () => (remembered = undefined) }
  })
