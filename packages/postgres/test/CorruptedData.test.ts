/**
 * Stored events changed by hand in PostgreSQL: each read fails with a tagged error naming what
 * is wrong, and nothing is written. (json and typed columns rule out invalid JSON and text in
 * integer columns; what is left is JSON of the wrong shape, out-of-range values and NULLs.)
 */
import { PgEventStore } from "@eventuali/postgres"
import { CorruptedData } from "@eventuali/testing/vitest"
import { describePg, freshSchema, serverUrl } from "./support/pg.js"

const row = (table: string) => `UPDATE ${table} SET`
const where = `WHERE aggregate_id = 'corrupted'`
const corrupt = (name: string) => ({ _tag: "SerializationError", message: new RegExp(name) })
const dropNotNull = (table: string, column: string) => `ALTER TABLE ${table} ALTER COLUMN ${column} DROP NOT NULL`

describePg("PostgreSQL", () => {
  CorruptedData.run("PgEventStore with data corrupted by hand", () => {
    const schema = freshSchema("corrupt")
    return { layer: PgEventStore.layer({ url: `${serverUrl}?schema=${schema}` }), table: `"${schema}".eventuali_events` }
  }, [
    { name: "metadata that is JSON null", corrupt: (t) => [`${row(t)} metadata = 'null' ${where}`], expect: corrupt("its metadata is not an object") },
    { name: "metadata that is a string", corrupt: (t) => [`${row(t)} metadata = '"headers"' ${where}`], expect: corrupt("its metadata is not an object") },
    { name: "metadata headers that are an array", corrupt: (t) => [`${row(t)} metadata = '{"headers": []}' ${where}`], expect: corrupt("headers that are not an object of strings") },
    { name: "a user id that is an object", corrupt: (t) => [`${row(t)} metadata = '{"headers": {}, "userId": {}}' ${where}`], expect: corrupt("userId that is not a string") },
    { name: "an event type that is empty", corrupt: (t) => [`${row(t)} event_type = '' ${where}`], expect: corrupt(`its event_type is ""`) },
    { name: "an event version of 0", corrupt: (t) => [`${row(t)} event_version = 0 ${where}`], expect: corrupt(`its event_version is "0"`) },
    { name: "an aggregate version of -5", corrupt: (t) => [`${row(t)} aggregate_version = -5 ${where}`], expect: corrupt(`its aggregate_version is "-5"`), loadEvents: "reads" },
    { name: "a timestamp of infinity", corrupt: (t) => [`${row(t)} timestamp = 'infinity' ${where}`], expect: corrupt(`its timestamp is "infinity"`) },
    {
      name: "a payload of the wrong type for its schema",
      corrupt: (t) => [`${row(t)} data = '{"amount": "ten"}' ${where}`],
      expect: "reads",
      load: corrupt("Deposited.*does not match its schema")
    },
    {
      name: "a payload that is JSON null",
      corrupt: (t) => [`${row(t)} data = 'null' ${where}`],
      expect: "reads",
      load: corrupt("Deposited.*does not match its schema")
    },
    {
      name: "a stream with a gap in its versions",
      corrupt: (t) => [`${row(t)} aggregate_version = 2 ${where}`],
      expect: "reads",
      // A stream that starts after version 1 reads as truncated (EventStore.truncate, retention).
      load: { _tag: "StreamTruncatedError", message: /before version 2 were truncated/ }
    },
    { name: "data that is NULL", corrupt: (t) => [dropNotNull(t, "data"), `${row(t)} data = NULL ${where}`], expect: corrupt("its data is NULL") },
    { name: "metadata that is NULL", corrupt: (t) => [dropNotNull(t, "metadata"), `${row(t)} metadata = NULL ${where}`], expect: corrupt("its metadata is NULL") },
    // Outside every type: reads by type do not see it.
    {
      name: "an aggregate type that is NULL",
      corrupt: (t) => [dropNotNull(t, "aggregate_type"), `${row(t)} aggregate_type = NULL ${where}`],
      expect: corrupt("its aggregate_type is NULL"),
      byType: "reads"
    },
    { name: "an event version that is NULL", corrupt: (t) => [dropNotNull(t, "event_version"), `${row(t)} event_version = NULL ${where}`], expect: corrupt("its event_version is NULL") },
    { name: "a timestamp that is NULL", corrupt: (t) => [dropNotNull(t, "timestamp"), `${row(t)} timestamp = NULL ${where}`], expect: corrupt("its timestamp is NULL") }
  ])
})
