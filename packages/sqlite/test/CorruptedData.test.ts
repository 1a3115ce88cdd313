/**
 * Stored events changed by hand in the SQLite file: each read fails with a tagged error naming
 * what is wrong, and nothing is written.
 */
import { SqliteEventStore } from "@eventuali/sqlite"
import { CorruptedData } from "@eventuali/testing/vitest"

const row = (table: string) => `UPDATE ${table} SET`
const where = `WHERE aggregate_id = 'corrupted'`
const corrupt = (name: string) => ({ _tag: "SerializationError", message: new RegExp(name) })

/** Rebuilds the table without its NOT NULL constraints (as an old or foreign schema might be). */
const withoutNotNull = [
  `ALTER TABLE eventuali_events RENAME TO eventuali_events_old`,
  `CREATE TABLE eventuali_events (position INTEGER PRIMARY KEY, event_id TEXT, aggregate_id TEXT, aggregate_type TEXT,
    aggregate_version INTEGER, event_type TEXT, event_version INTEGER, data TEXT, metadata TEXT, timestamp INTEGER)`,
  `INSERT INTO eventuali_events SELECT * FROM eventuali_events_old`,
  `DROP TABLE eventuali_events_old`
]

CorruptedData.run("SqliteEventStore with data corrupted by hand", () => ({ layer: SqliteEventStore.layer({ filename: ":memory:" }), table: "eventuali_events" }), [
  { name: "data that is not JSON", corrupt: (t) => [`${row(t)} data = '{"amount": 1' ${where}`], expect: corrupt("stored payload is not valid JSON") },
  { name: "metadata that is not JSON", corrupt: (t) => [`${row(t)} metadata = '{"headers":' ${where}`], expect: corrupt("stored metadata is not valid JSON") },
  { name: "metadata that is JSON null", corrupt: (t) => [`${row(t)} metadata = 'null' ${where}`], expect: corrupt("its metadata is not an object") },
  { name: "metadata that is an array", corrupt: (t) => [`${row(t)} metadata = '[]' ${where}`], expect: corrupt("its metadata is not an object") },
  { name: "metadata headers that are a number", corrupt: (t) => [`${row(t)} metadata = '{"headers": 5}' ${where}`], expect: corrupt("headers that are not an object of strings") },
  { name: "a metadata header that is not a string", corrupt: (t) => [`${row(t)} metadata = '{"headers": {"tenant": 7}}' ${where}`], expect: corrupt("headers that are not an object of strings") },
  { name: "a correlation id that is a number", corrupt: (t) => [`${row(t)} metadata = '{"headers": {}, "correlationId": 7}' ${where}`], expect: corrupt("correlationId that is not a string") },
  { name: "data that is a BLOB", corrupt: (t) => [`${row(t)} data = X'00FF7B' ${where}`], expect: corrupt("its data is a Buffer") },
  { name: "data that is an empty string", corrupt: (t) => [`${row(t)} data = '' ${where}`], expect: corrupt(`its data is ""`) },
  { name: "an event type that is empty", corrupt: (t) => [`${row(t)} event_type = '' ${where}`], expect: corrupt(`its event_type is ""`) },
  { name: "an aggregate version that is text", corrupt: (t) => [`${row(t)} aggregate_version = 'abc' ${where}`], expect: corrupt(`its aggregate_version is "abc", not a positive integer`) },
  // A version below 1 is outside every stream: reads by aggregate (versions above 0) do not see it.
  { name: "an aggregate version of 0", corrupt: (t) => [`${row(t)} aggregate_version = 0 ${where}`], expect: corrupt("its aggregate_version is number 0"), loadEvents: "reads" },
  { name: "an aggregate version of 1.5", corrupt: (t) => [`${row(t)} aggregate_version = 1.5 ${where}`], expect: corrupt("its aggregate_version is number 1.5") },
  { name: "an event version of 0", corrupt: (t) => [`${row(t)} event_version = 0 ${where}`], expect: corrupt("its event_version is number 0") },
  { name: "an event version of -2", corrupt: (t) => [`${row(t)} event_version = -2 ${where}`], expect: corrupt("its event_version is number -2") },
  { name: "a timestamp that is text", corrupt: (t) => [`${row(t)} timestamp = 'yesterday' ${where}`], expect: corrupt(`its timestamp is "yesterday"`) },
  { name: "a timestamp beyond what a Date holds", corrupt: (t) => [`${row(t)} timestamp = 9e18 ${where}`], expect: corrupt("its timestamp is number 9000000000000000000") },
  {
    name: "a payload of the wrong type for its schema",
    corrupt: (t) => [`${row(t)} data = '{"amount": "ten"}' ${where}`],
    expect: "reads",
    load: corrupt("Deposited.*does not match its schema")
  },
  {
    name: "an event type no schema of the aggregate knows",
    corrupt: (t) => [`${row(t)} event_type = 'Mystery' ${where}`],
    expect: "reads",
    load: corrupt(`"Mystery" is not an event of "Account"`)
  },
  {
    name: "an aggregate type changed to another",
    corrupt: (t) => [`${row(t)} aggregate_type = 'Customer' ${where}`],
    expect: "reads",
    load: { _tag: "EventStoreError", message: /is a "Customer", not a "Account"/ }
  },
  { name: "data that is NULL", corrupt: (t) => [...withoutNotNull, `${row(t)} data = NULL ${where}`], expect: corrupt("its data is NULL") },
  { name: "metadata that is NULL", corrupt: (t) => [...withoutNotNull, `${row(t)} metadata = NULL ${where}`], expect: corrupt("its metadata is NULL") },
  { name: "an event type that is NULL", corrupt: (t) => [...withoutNotNull, `${row(t)} event_type = NULL ${where}`], expect: corrupt("its event_type is NULL") },
  { name: "an event id that is NULL", corrupt: (t) => [...withoutNotNull, `${row(t)} event_id = NULL ${where}`], expect: corrupt("its event_id is NULL") },
  { name: "an aggregate version that is NULL", corrupt: (t) => [...withoutNotNull, `${row(t)} aggregate_version = NULL ${where}`], expect: corrupt("its aggregate_version is NULL"), loadEvents: "reads" },
  {
    name: "a stream with a gap in its versions",
    corrupt: (t) => [`${row(t)} aggregate_version = 2 ${where}`],
    expect: "reads",
    // A stream that starts after version 1 reads as truncated (EventStore.truncate, retention).
    load: { _tag: "StreamTruncatedError", message: /before version 2 were truncated/ }
  },
  {
    name: "a stream with a version twice",
    corrupt: (t) => [
      `DROP INDEX eventuali_events_stream`,
      `INSERT INTO ${t} (event_id, aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp)
        SELECT 'copy', aggregate_id, aggregate_type, aggregate_version, event_type, event_version, data, metadata, timestamp FROM ${t} ${where}`
    ],
    expect: "reads",
    load: { _tag: "EventStoreError", message: /not contiguous: version 2 expected, 1 found/ }
  },
  { name: "a timestamp that is NULL", corrupt: (t) => [...withoutNotNull, `${row(t)} timestamp = NULL ${where}`], expect: corrupt("its timestamp is NULL") }
])
