/**
 * Crypto-shredding on SQLite: the conformance suite, then what is left in the database's files
 * after `Privacy.forget` — the raw bytes of the database file and of its write-ahead log hold no
 * plaintext of the subject's personal fields (events and snapshots) and no byte of its keys.
 */
import { describe, expect, it } from "@effect/vitest"
import { SqliteEventStore } from "@eventuali/sqlite"
import { Aggregate, EventStore, Privacy } from "@eventuali/core"
import { PrivacyConformance } from "@eventuali/testing/vitest"
import Database from "better-sqlite3"
import { Effect, Layer, Option, Schema } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"

PrivacyConformance.run("SqliteEventStore (:memory:)", SqliteEventStore.layer({ filename: ":memory:" }))

const directory = Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventuali-privacy-"))
PrivacyConformance.run("SqliteEventStore (file)", SqliteEventStore.layer({ filename: Path.join(directory, "conformance.db") }))

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

/** Every file of the database: the file itself, its WAL and its shared memory index. */
const filesOf = (filename: string) => [filename, `${filename}-wal`, `${filename}-shm`].filter((file) => Fs.existsSync(file))

const contains = (filename: string, needle: string | Uint8Array) => {
  const bytes = typeof needle === "string" ? Buffer.from(needle, "utf8") : Buffer.from(needle)
  return filesOf(filename).filter((file) => Fs.readFileSync(file).includes(bytes))
}

describe("SqliteEventStore: nothing left behind after forget", () => {
  it.effect("the file and its WAL hold neither the subject's plaintext (events, snapshot) nor its keys; another subject's data is intact", () =>
    Effect.gen(function*() {
      const filename = Path.join(directory, "scan.db")
      const store = yield* EventStore.EventStore
      const privacy = yield* Privacy.Privacy
      const secretName = "Zelda Quartermaine-Unique"
      const secretEmail = "zelda.unique.4711@example.org"
      let root = Aggregate.empty(User, "user-zelda")
      for (let i = 0; i < 5; i++) root = yield* store.save(Aggregate.apply(root, new Registered({ name: secretName, email: secretEmail })))
      yield* Privacy.rotate("user-zelda")
      root = yield* store.save(Aggregate.apply(root, new Registered({ name: secretName, email: secretEmail })))
      yield* store.save(Aggregate.apply(Aggregate.empty(User, "user-other"), new Registered({ name: "Other Person", email: "other@example.org" })))
      const keys = (yield* privacy.keyStore.keysOf(["user-zelda"])).get("user-zelda")!
      expect(keys.length).toBe(2)
      // Sealed from the start: no plaintext was ever written.
      expect(contains(filename, secretName)).toEqual([])
      expect(contains(filename, secretEmail)).toEqual([])
      // But the keys are in the file or its WAL.
      expect(keys.every((key) => contains(filename, key.material).length > 0)).toBe(true)

      expect(yield* Privacy.forget("user-zelda")).toBe(true)
      for (const key of keys) expect(contains(filename, key.material)).toEqual([])
      expect(contains(filename, secretName)).toEqual([])
      const loaded = Option.getOrThrow(yield* store.load(User, "user-zelda"))
      expect(loaded.state).toEqual({ name: "[erased]", email: "erased@invalid", count: 6 })
      expect(Option.getOrThrow(yield* store.load(User, "user-other")).state.name).toBe("Other Person")
    }).pipe(Effect.provide(Layer.fresh(SqliteEventStore.layer({ filename: Path.join(directory, "scan.db") })))))
})

describe("SqliteEventStore: the keys a store remembers between reads", () => {
  it.scoped("another connection's rotation and forget, and a key changed by hand, show at this store's next read", () =>
    Effect.gen(function*() {
      const filename = Path.join(directory, "remembered.db")
      // Two stores on one file: `elsewhere` stands for another process.
      const here = yield* SqliteEventStore.make({ filename })
      const elsewhere = yield* SqliteEventStore.make({ filename })
      const state = (id: string) => Effect.map(here.store.load(User, id), (root) => Option.getOrThrow(root).state)
      yield* here.store.save(Aggregate.apply(Aggregate.empty(User, "user-1"), new Registered({ name: "Ada", email: "ada@example.org" })))
      yield* here.store.save(Aggregate.apply(Aggregate.empty(User, "user-2"), new Registered({ name: "Bob", email: "bob@example.org" })))
      // Read twice: the second read is answered from the remembered keys and openings.
      for (let i = 0; i < 2; i++) expect((yield* state("user-1")).name).toBe("Ada")

      // A key added elsewhere (a rotation) opens what was sealed under it here.
      yield* elsewhere.privacy.rotate("user-1")
      const root = Option.getOrThrow(yield* elsewhere.store.load(User, "user-1"))
      yield* elsewhere.store.save(Aggregate.apply(root, new Registered({ name: "Ada L.", email: "ada@example.org" })))
      expect(yield* state("user-1")).toEqual({ name: "Ada L.", email: "ada@example.org", count: 2 })

      // A forget elsewhere: the next read here shows the replacements.
      expect(yield* elsewhere.privacy.forget("user-1")).toBe(true)
      expect(yield* state("user-1")).toEqual({ name: "[erased]", email: "erased@invalid", count: 2 })
      expect((yield* state("user-2")).name).toBe("Bob")

      // A key row changed by hand: the next read does not decrypt (never the remembered plaintext).
      yield* here.client.unsafe("UPDATE eventuali_subject_keys SET material = randomblob(32) WHERE subject_id = 'user-2'")
      const changed = yield* Effect.either(state("user-2"))
      expect(changed._tag === "Left" && changed.left._tag).toBe("SerializationError")
    }))

  it.scoped("a database without the count (made before it, opened read-only) looks the keys up on every read", () =>
    Effect.gen(function*() {
      const filename = Path.join(directory, "without-count.db")
      yield* Effect.scoped(Effect.flatMap(SqliteEventStore.make({ filename }), ({ store }) =>
        store.save(Aggregate.apply(Aggregate.empty(User, "user-1"), new Registered({ name: "Ada", email: "ada@example.org" })))))
      const raw = new Database(filename)
      raw.exec(`DROP TRIGGER eventuali_subject_keys_added; DROP TRIGGER eventuali_subject_keys_removed; DROP TRIGGER eventuali_subject_keys_changed;
        DROP TABLE eventuali_subject_key_changes; DELETE FROM eventuali_migrations WHERE id = 10`)
      const reader = yield* SqliteEventStore.make({ filename, readonly: true })
      const name = Effect.map(reader.store.load(User, "user-1"), (root) => Option.getOrThrow(root).state.name)
      for (let i = 0; i < 2; i++) expect(yield* name).toBe("Ada")
      // Another process forgets (as a version without the count would): the next read shows it.
      raw.exec("DELETE FROM eventuali_subject_keys WHERE subject_id = 'user-1'")
      raw.close()
      expect(yield* name).toBe("[erased]")
    }))

  it.scoped("a key made in a transaction that rolls back is not remembered: the subject's next save makes a key that exists", () =>
    Effect.gen(function*() {
      const filename = Path.join(directory, "rolled-back.db")
      const here = yield* SqliteEventStore.make({ filename })
      const elsewhere = yield* SqliteEventStore.make({ filename })
      const register = (store: EventStore.Service, id: string) =>
        store.save(Aggregate.apply(Aggregate.empty(User, id), new Registered({ name: "Cy", email: "cy@example.org" })))
      // The first save of user-3 makes its key inside the transaction, and the rollback takes it back.
      const rolledBack = here.client.withTransaction(Effect.zipRight(register(here.store, "user-3"), Effect.fail("roll back" as const)))
      expect(yield* Effect.flip(rolledBack)).toBe("roll back")
      // A read inside a transaction that made a key of user-4 must not leave it remembered either.
      const readInside = here.client.withTransaction(
        Effect.zipRight(Effect.zipRight(register(here.store, "user-4"), here.store.load(User, "user-4")), Effect.fail("roll back" as const))
      )
      expect(yield* Effect.flip(readInside)).toBe("roll back")
      for (const id of ["user-3", "user-4"]) {
        yield* register(here.store, id)
        for (const store of [here.store, elsewhere.store]) {
          expect(Option.getOrThrow(yield* store.load(User, id)).state.name).toBe("Cy")
        }
      }
    }))

  it.scoped("a load of personal data checks the remembered keys with the counts read with its events; other loads read as before", () =>
    Effect.gen(function*() {
      const filename = Path.join(directory, "read-with-events.db")
      const here = yield* SqliteEventStore.make({ filename })
      const elsewhere = yield* SqliteEventStore.make({ filename })
      yield* here.store.save(Aggregate.apply(Aggregate.empty(Contact, "contact-1"), new Met({ name: "Ada" })))
      yield* here.store.save(Aggregate.apply(Aggregate.empty(Note, "note-1"), new Noted({ text: "plain" })))
      const contact = Effect.map(here.store.load(Contact, "contact-1"), (root) => Option.getOrThrow(root).state)
      expect(yield* contact).toBe("Ada")

      // The statements each load runs on the connection, by their text.
      const statements = yield* Effect.acquireRelease(
        Effect.sync(() => {
          const texts: Array<string> = []
          const prototype = Object.getPrototypeOf(new Database(":memory:").prepare("SELECT 1")) as Record<string, (...args: Array<unknown>) => unknown>
          const originals = new Map(["all", "get", "iterate", "run"].map((name) => [name, prototype[name]!] as const))
          for (const [name, original] of originals) {
            prototype[name] = function(this: { readonly source: string }, ...args: Array<unknown>) {
              texts.push(this.source)
              return original.apply(this, args)
            }
          }
          return { texts, restore: () => originals.forEach((original, name) => (prototype[name] = original)) }
        }),
        ({ restore }) => Effect.sync(restore)
      )
      const run = <A, E>(effect: Effect.Effect<A, E>) =>
        Effect.map(Effect.zipRight(Effect.sync(() => (statements.texts.length = 0)), effect), (value) => ({ value, texts: [...statements.texts] }))

      // Keys remembered, nothing changed: one statement, the events with the counts.
      const remembered = yield* run(contact)
      expect(remembered.value).toBe("Ada")
      expect(remembered.texts.length).toBe(1)
      expect(remembered.texts[0]).toContain("key_removed")
      // An aggregate without personal data reads its events as before, without the counts.
      const plain = yield* run(here.store.load(Note, "note-1"))
      expect(Option.getOrThrow(plain.value).state).toBe("plain")
      expect(plain.texts.length).toBe(1)
      expect(plain.texts[0]).not.toContain("key_removed")

      // A key added elsewhere moves the counts the next load reads: it checks them and looks the keys up again.
      yield* elsewhere.privacy.rotate("contact-1")
      const afterRotation = yield* run(contact)
      expect(afterRotation.value).toBe("Ada")
      expect(afterRotation.texts.length).toBeGreaterThan(1)
      // And a forget elsewhere shows at the next load, though the keys were remembered.
      expect((yield* run(contact)).texts.length).toBe(1)
      expect(yield* elsewhere.privacy.forget("contact-1")).toBe(true)
      expect(yield* contact).toBe("[forgotten]")
    }))
})

class Met extends Schema.TaggedClass<Met>()("Met", {
  name: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "[forgotten]" }))
}) {}

/** Personal data, no snapshots: a load is one read of its stream. */
const Contact = Aggregate.make({ type: "Contact", events: [Met], initialState: "", evolve: (_: string, event: Met) => event.name })

class Noted extends Schema.TaggedClass<Noted>()("Noted", { text: Schema.String }) {}

const Note = Aggregate.make({ type: "Note", events: [Noted], initialState: "", evolve: (_: string, event: Noted) => event.text })

class Legacy extends Schema.TaggedClass<Legacy>()("Registered", {
  name: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId, replacement: "[erased]" })),
  email: Schema.String.pipe(Privacy.personal({ subject: Privacy.aggregateId })),
  plan: Schema.String
}) {}

const LegacyUser = Aggregate.make({ type: "User", events: [Legacy], initialState: "", evolve: (_, event) => event.name })

/** Two events of one subject and its key as an earlier build wrote them (payloads and key copied from its file). */
interface EarlierForm {
  readonly name: string
  readonly subject: string
  readonly events: ReadonlyArray<readonly [eventId: string, version: number, timestamp: number, data: string]>
  readonly keyId: string
  readonly key: string
  readonly emails: ReadonlyArray<string>
}

const FIRST_FORM_KEY_ID = "2a590412768c57a38a99d957c15c11a5"

/** Personal fields as an array of objects `{ subject, key, fields, ciphertext, erased }`. */
const firstForm: EarlierForm = {
  name: "objects (the first form)",
  subject: "user-ada",
  events: ([
    ["01a23df7-2d4b-7000-88a3-aa430ac90ec8", 1, 1796335938890, "pro", "6+uatPfYIT1XYInOoBt+stXK1LMmtT/imbE0cQM8LY1hNr823kdvdnL1Zv7fP7z6gGj8bmCu2xkxjxkqnVNZ9XC1gzDFE4aFcJwoBqk="],
    ["01a23df7-2d71-7000-bf85-f485606f664e", 2, 1796335938928, "team", "IpV5YzEtQY4nGzF5hiF+KipR6VhIf7q9xHVpFB9LGQc2vvPWOOjrPLXbgaW4sOfZ84GBA02JkemnRHMDLhDTsPRKK1XPpnHrFe4E9YlE"]
  ] as const).map(([eventId, version, timestamp, plan, ciphertext]) => [
    eventId,
    version,
    timestamp,
    JSON.stringify({ plan, $personal: [{ subject: "user-ada", key: FIRST_FORM_KEY_ID, fields: ["name", "email"], ciphertext, erased: { name: "[erased]" } }] })
  ] as const),
  keyId: FIRST_FORM_KEY_ID,
  key: "C820B10BAD832B1D37B8C269EB4DBBBDEE3CFF93684D5B8CB58F3764D0B035CD",
  emails: ["ada@example.org", "ada.king@example.org"]
}

/** The compact form with an object of the fields as the plaintext (the build of 2026-12-04, 2b74136). */
const objectPlaintextForm: EarlierForm = {
  name: "four strings per subject, an object of the fields encrypted",
  subject: "user-bea",
  events: [
    [
      "01a23f11-19fc-7000-a301-038ab8c31565",
      1,
      1796355615000,
      String.raw`{"plan":"pro","$personal":["user-bea","e13aa4b949f279b849ab4e360388b7d9","[[\"name\",\"email\"],{\"name\":\"[erased]\"}]","o5wxgkbSeT2nxvHqOdo2is7w3clvBhowNu/qMBwySXJ7G/Zw6SnVTABmzzl6FBMa1I1u6DW5vk7Z5JjSTMZdCTOkkKM="]}`
    ],
    [
      "01a23f11-1a02-7000-894a-a0eb003edeb8",
      2,
      1796355616000,
      String.raw`{"plan":"team","$personal":["user-bea","e13aa4b949f279b849ab4e360388b7d9","[[\"name\",\"email\"],{\"name\":\"[erased]\"}]","J8NGitEqCo9IqqnmnRUD+4uwvfGO+gVgpzSxlMoGdEC0MVIVXrC56GU/S/O5g3dndRFnJLly8gYwILl7bhxntGVOnT2Ky0o6cN3z/hKt"]}`
    ]
  ],
  keyId: "e13aa4b949f279b849ab4e360388b7d9",
  key: "42477AD1E3E535442AB403AE3AED2EBA8885ECE1CFAA9FCE9305F50F650380DE",
  emails: ["bea@example.org", "bea.lane@example.org"]
}

describe("SqliteEventStore: personal data in the forms earlier versions wrote", () => {
  for (const form of [firstForm, objectPlaintextForm]) {
    it.scoped(`${form.name}: reads open, a new save beside them uses the current form, and after forget they show the replacement or PersonalDataErasedError`, () =>
      Effect.gen(function*() {
        const filename = Path.join(directory, `earlier-form-${form.subject}.db`)
        // Migrated by this version (the tables have not changed), then the rows as the earlier one wrote them.
        yield* Effect.scoped(SqliteEventStore.make({ filename }))
        const raw = new Database(filename)
        const insert = raw.prepare(`INSERT INTO eventuali_events
          (event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
          VALUES (?, ?, 'User', ?, 'Registered', 1, ?, '{"headers":{}}', ?)`)
        for (const [eventId, version, timestamp, data] of form.events) insert.run(eventId, form.subject, version, data, timestamp)
        raw.prepare("INSERT INTO eventuali_subject_keys (subject_id, generation, key_id, material, created_at) VALUES (?, 1, ?, ?, ?)")
          .run(form.subject, form.keyId, Buffer.from(form.key, "hex"), "2026-12-03T22:12:18.903Z")

        const { privacy, store } = yield* SqliteEventStore.make({ filename })
        const emails = Effect.map(store.loadEvents(form.subject), (events) => events.map((event) => (event.data as Legacy).email))
        expect(yield* emails).toEqual(form.emails)
        const root = Option.getOrThrow(yield* store.load(LegacyUser, form.subject))
        expect(root.state).toBe((yield* store.loadEvents(form.subject)).map((event) => (event.data as Legacy).name).at(-1))
        yield* store.save(Aggregate.apply(root, new Legacy({ name: "K.", email: "k@example.org", plan: "team" })))
        const stored = raw.prepare("SELECT data FROM eventuali_events WHERE aggregate_version = 3").get() as { readonly data: string }
        const sealed = (JSON.parse(stored.data) as { readonly $personal: ReadonlyArray<unknown> }).$personal
        expect(sealed.length).toBe(4)
        // Not every field declares a replacement: the descriptor lists the fields, then the replacements.
        expect(sealed.slice(0, 3)).toEqual([form.subject, form.keyId, JSON.stringify([["name", "email"], { name: "[erased]" }])])
        expect(yield* emails).toEqual([...form.emails, "k@example.org"])

        expect(yield* privacy.forget(form.subject)).toBe(true)
        const erased = yield* Effect.flip(store.loadEvents(form.subject))
        expect(erased._tag === "PersonalDataErasedError" && erased.fields).toEqual(["email"])
        raw.close()
      }))
  }
})
