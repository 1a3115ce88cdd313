/**
 * Crypto-shredding on PostgreSQL: the conformance suite, then what is left after
 * `Privacy.forget` — no table of the store's schema holds the subject's plaintext (events,
 * snapshots) or its keys, and neither does the key table's file on disk (the dead tuples a
 * DELETE leaves behind are gone).
 */
import { expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import { Aggregate, EventStore, Privacy } from "@eventuali/core"
import { PgEventStore } from "@eventuali/postgres"
import { PrivacyConformance } from "@eventuali/testing/vitest"
import { Context, Effect, Layer, Option, Schema } from "effect"
import * as Fs from "node:fs"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"

class Registered extends Schema.TaggedClass<Registered>()("Registered", {
  name: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "[erased]" })),
  email: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "erased@invalid" }))
}) {}

const State = Schema.Struct({
  name: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId })),
  email: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId })),
  count: Schema.Number
})

const User = Aggregate.make({
  type: "User",
  events: [Registered],
  initialState: { name: "", email: "", count: 0 } as typeof State.Type,
  evolve: (state, event) => ({ name: event.name, email: event.email, count: state.count + 1 }),
  snapshot: { every: 2, version: 1, schema: State }
})

/** Every row of every table of the schema, as text (bytea as hex). */
const dumpSchema = (schema: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const tables = yield* sql<{ readonly table_name: string }>`SELECT table_name FROM information_schema.tables WHERE table_schema = ${schema}`
    expect(tables.map((table) => table.table_name)).toContain("eventuali_subject_keys")
    let text = ""
    for (const { table_name } of tables) {
      const rows = yield* sql<{ readonly row: string }>`SELECT t::text AS row FROM ${sql(`${schema}.${table_name}`)} t`
      text += rows.map((row) => row.row).join("\n")
    }
    return text
  })

/** The bytes of the key table's files (heap and TOAST) as the server holds them, after a checkpoint. */
const keyTableBytes = (schema: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CHECKPOINT`
    const [{ data_directory }] = yield* sql<{ readonly data_directory: string }>`SELECT current_setting('data_directory') AS data_directory`
    const files = yield* sql<{ readonly path: string | null }>`
      SELECT pg_relation_filepath(c.oid) AS path FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = ${schema} AND (c.relname = 'eventuali_subject_keys' OR c.oid = (
        SELECT reltoastrelid FROM pg_class k JOIN pg_namespace kn ON kn.oid = k.relnamespace WHERE kn.nspname = ${schema} AND k.relname = 'eventuali_subject_keys'))`
    return Buffer.concat(files.flatMap(({ path }) => {
      if (path === null) return []
      const file = `${data_directory}/${path}`
      return Fs.existsSync(file) ? [Fs.readFileSync(file)] : []
    }))
  })

describePg("PostgreSQL", () => {
  PrivacyConformance.run("PgEventStore", PgEventStore.layer({ url: serverUrl === "" ? "" : `${serverUrl}?schema=${freshSchema("privacy")}` }))

  const schema = freshSchema("scan")
  it.effect("after forget no table of the schema holds the subject's plaintext or keys, nor does the key table's file; others are intact", () =>
    Effect.gen(function*() {
      const store = yield* EventStore.EventStore
      const privacy = yield* Privacy.Privacy
      const secretName = "Zelda Quartermaine-Unique"
      const secretEmail = "zelda.unique.4711@example.org"
      let root = Aggregate.empty(User, "user-zelda")
      for (let i = 0; i < 5; i++) root = yield* store.save(Aggregate.apply(root, new Registered({ name: secretName, email: secretEmail })))
      yield* Privacy.rotate("user-zelda")
      yield* store.save(Aggregate.apply(root, new Registered({ name: secretName, email: secretEmail })))
      yield* store.save(Aggregate.apply(Aggregate.empty(User, "user-other"), new Registered({ name: "Other Person", email: "other@example.org" })))
      const keys = (yield* privacy.keyStore.keysOf(["user-zelda"])).get("user-zelda")!
      const hexOf = (key: Privacy.SubjectKey) => Buffer.from(key.material).toString("hex")
      const before = yield* dumpSchema(schema)
      expect(before).not.toContain(secretName)
      expect(before).not.toContain(secretEmail)
      for (const key of keys) expect(before).toContain(hexOf(key))
      const fileBefore = yield* keyTableBytes(schema)
      for (const key of keys) expect(fileBefore.includes(Buffer.from(key.material))).toBe(true)

      expect(yield* Privacy.forget("user-zelda")).toBe(true)
      const after = yield* dumpSchema(schema)
      expect(after).not.toContain(secretName)
      expect(after).not.toContain(secretEmail)
      for (const key of keys) expect(after).not.toContain(hexOf(key))
      const fileAfter = yield* keyTableBytes(schema)
      for (const key of keys) expect(fileAfter.includes(Buffer.from(key.material))).toBe(false)
      expect(Option.getOrThrow(yield* store.load(User, "user-zelda")).state).toEqual({ name: "[erased]", email: "erased@invalid", count: 6 })
      expect(Option.getOrThrow(yield* store.load(User, "user-other")).state.name).toBe("Other Person")
    }).pipe(Effect.provide(Layer.fresh(PgEventStore.layer({ url: `${serverUrl}?schema=${schema}` })))), 60_000)

  const shared = freshSchema("two_processes")
  it.effect("a forget by another store on the same database (another process) shows at this store's next read, even of events it read before", () =>
    Effect.gen(function*() {
      const here = yield* Layer.build(Layer.fresh(PgEventStore.layer({ url: `${serverUrl}?schema=${shared}` })))
      const elsewhere = yield* Layer.build(Layer.fresh(PgEventStore.layer({ url: `${serverUrl}?schema=${shared}` })))
      const store = Context.get(here, EventStore.EventStore)
      yield* store.save(Aggregate.apply(Aggregate.empty(User, "user-ada"), new Registered({ name: "Ada", email: "ada@example.org" })))
      // Read twice: the second read is served by the remembered decryption.
      for (let i = 0; i < 2; i++) expect(Option.getOrThrow(yield* store.load(User, "user-ada")).state.name).toBe("Ada")
      expect(yield* Context.get(elsewhere, Privacy.Privacy).forget("user-ada")).toBe(true)
      expect(Option.getOrThrow(yield* store.load(User, "user-ada")).state).toEqual({ name: "[erased]", email: "erased@invalid", count: 1 })
    }).pipe(Effect.scoped), 60_000)

  it.scoped("a key made in a transaction that rolls back is not remembered: the subject's next save makes a key that exists", () =>
    Effect.gen(function*() {
      const schema = freshSchema("rolled_back")
      const here = yield* PgEventStore.make({ url: serverUrl, schema })
      const elsewhere = yield* PgEventStore.make({ url: serverUrl, schema })
      const register = () =>
        here.store.save(Aggregate.apply(Aggregate.empty(User, "user-3"), new Registered({ name: "Cy", email: "cy@example.org" })))
      expect(yield* Effect.flip(here.client.withTransaction(Effect.zipRight(register(), Effect.fail("roll back" as const))))).toBe("roll back")
      yield* register()
      for (const store of [here.store, elsewhere.store]) expect(Option.getOrThrow(yield* store.load(User, "user-3")).state.name).toBe("Cy")
    }), 60_000)
})
