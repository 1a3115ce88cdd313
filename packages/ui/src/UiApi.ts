/**
 * The HTTP API behind Eventuali UI, as an `@effect/platform` `HttpApi`: what the browser calls,
 * with the schemas that validate every input (a bad filter, a huge limit or a crafted id is a
 * 400 naming the problem, before any query runs). Its OpenAPI document is served at
 * `openapi.json` next to the UI; `HttpApiClient.make(UiApi.Api)` derives a typed client.
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import { Schema } from "effect"

/** The longest id, type or name the API takes: longer ones are refused, not searched for. */
const MAX_NAME_LENGTH = 200

const name = (what: string) =>
  Schema.String.pipe(
    Schema.minLength(1, { message: () => `${what} must not be empty` }),
    Schema.maxLength(MAX_NAME_LENGTH, { message: () => `${what} must be at most ${MAX_NAME_LENGTH} characters` })
  )

/**
 * A position in the log, in a URL: up to 20 digits (positions are 64-bit, PostgreSQL's exceed
 * 2^53, so they travel as text).
 *
 * @since 0.1.0
 * @category schemas
 */
export const PositionParam = Schema.compose(
  Schema.String.pipe(Schema.pattern(/^\d{1,20}$/, { message: () => "a position is a whole number of at most 20 digits" })),
  Schema.BigInt
)

/** A whole number from `min` to `max`, from a URL. */
const wholeNumber = (what: string, min: number, max: number) =>
  Schema.compose(
    Schema.String.pipe(Schema.pattern(/^\d{1,9}$/, { message: () => `${what} must be a whole number` })),
    Schema.NumberFromString
  ).pipe(Schema.filter((value) => value >= min && value <= max || `${what} must be from ${min} to ${max}`))

/** An instant, from an ISO 8601 date-time in a URL. */
const Instant = Schema.compose(
  Schema.String.pipe(
    Schema.maxLength(40, { message: () => "a time is an ISO 8601 date-time such as 2026-01-31T12:00:00Z" }),
    Schema.filter((text) => !Number.isNaN(Date.parse(text)) || "a time is an ISO 8601 date-time such as 2026-01-31T12:00:00Z")
  ),
  Schema.Date
)

/**
 * The most events one page of the log or of an aggregate holds.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_PAGE = 500

/**
 * An event as the UI shows it. The payload and metadata are the stored JSON, as stored.
 *
 * @since 0.1.0
 * @category schemas
 */
export class EventView extends Schema.Class<EventView>("EventView")({
  position: Schema.BigInt,
  eventId: Schema.String,
  eventType: Schema.String,
  eventVersion: Schema.Number,
  aggregateId: Schema.String,
  aggregateType: Schema.String,
  aggregateVersion: Schema.Number,
  timestamp: Schema.Date,
  metadata: Schema.Unknown,
  data: Schema.Unknown
}) {}

/**
 * A projection's stored checkpoint and how far behind the head of the log it is.
 *
 * @since 0.1.0
 * @category schemas
 */
export class ProjectionView extends Schema.Class<ProjectionView>("ProjectionView")({
  name: Schema.String,
  position: Schema.BigInt,
  updatedAt: Schema.Date,
  /** Events committed after the checkpoint, counted up to `lagLimit`. */
  lag: Schema.Number,
  /** True when there are more than `lag` events after the checkpoint (counting stopped there). */
  lagAtLeast: Schema.Boolean
}) {}

/**
 * What a rebuild did: asked the running instances for a rebuild without downtime (`name` is the
 * build they build, from position 0), or, for a projection that cannot be rebuilt so, reset its
 * checkpoints in place (`inPlace`).
 *
 * @since 0.2.0
 * @category schemas
 */
export class RebuildView extends ProjectionView.extend<RebuildView>("RebuildView")({
  inPlace: Schema.Boolean,
  /** A rebuild without downtime was in progress already: `name` is that one. */
  alreadyRequested: Schema.Boolean
}) {}

/**
 * Which build of a versioned or rebuildable projection a status is of (`Projection.BuildStatus`).
 *
 * @since 0.2.0
 * @category schemas
 */
export const BuildView = Schema.Struct({
  projection: Schema.String,
  version: Schema.Number,
  generation: Schema.Number,
  role: Schema.Literal("serving", "building", "replaced"),
  rebuilding: Schema.NullOr(Schema.String)
})

/**
 * An event a projection's handler could not apply and set aside (`onFailure: "park"`).
 *
 * @since 0.1.0
 * @category schemas
 */
export class ParkedView extends Schema.Class<ParkedView>("ParkedView")({
  name: Schema.String,
  partition: Schema.Number,
  position: Schema.BigInt,
  eventId: Schema.String,
  errorTag: Schema.String,
  errorMessage: Schema.String,
  attempts: Schema.Number,
  parkedAt: Schema.Date,
  /** Asked for: the instance holding the partition retries it at its next status interval. */
  retryRequested: Schema.Boolean
}) {}

/**
 * A registered projection's status: per partition its holder, checkpoint, events handled, lag
 * (every event after the checkpoint, whatever the filters, counted up to 10,000; and how long
 * ago the oldest of them was stored) and parked events, and the parked events themselves.
 *
 * @since 0.1.0
 * @category schemas
 */
export class ProjectionStatusView extends Schema.Class<ProjectionStatusView>("ProjectionStatusView")({
  name: Schema.String,
  partitions: Schema.Number,
  aggregateTypes: Schema.Array(Schema.String),
  eventTypes: Schema.Array(Schema.String),
  head: Schema.BigInt,
  lagCapped: Schema.Boolean,
  partitionStatus: Schema.Array(Schema.Struct({
    partition: Schema.Number,
    holder: Schema.OptionFromNullOr(Schema.String),
    position: Schema.BigInt,
    handled: Schema.Number,
    lagEvents: Schema.Number,
    lagMillis: Schema.Number,
    parked: Schema.Number
  })),
  parked: Schema.Array(ParkedView),
  /** Which build this is, for a versioned or rebuildable projection. @since 0.2.0 */
  build: Schema.NullOr(BuildView),
  /** Whether its rebuild is without downtime (its code's `activate` takes the build). @since 0.2.0 */
  rebuildable: Schema.Boolean
}) {}

const Count = Schema.Struct({ name: Schema.String, events: Schema.Number })

/**
 * The Overview page: counts (maintained by the server from one scan and the new events since,
 * or estimated while that first scan runs), events per minute over the last hour, the backend,
 * size and schema version, and the projections.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Overview extends Schema.Class<Overview>("Overview")({
  backend: Schema.Literal("sqlite", "postgres"),
  schemaVersion: Schema.Number,
  latestSchemaVersion: Schema.Number,
  sizeBytes: Schema.Number,
  /** "exact" once the first count finished; "estimate" before (the table's statistics). */
  counts: Schema.Literal("exact", "estimate"),
  events: Schema.Number,
  aggregates: Schema.Number,
  head: Schema.BigInt,
  aggregateTypes: Schema.Array(Schema.Struct({ name: Schema.String, events: Schema.Number, aggregates: Schema.Number })),
  eventTypes: Schema.Array(Count),
  /** Sixty one-minute buckets ending with the current minute, oldest first. */
  perMinute: Schema.Array(Schema.Struct({ minute: Schema.Date, events: Schema.Number })),
  projections: Schema.Array(ProjectionView),
  /** Whether this UI was started with writes allowed (rebuild, retry, discard). */
  allowWrites: Schema.Boolean,
  /** Whether the application mounted the UI with `Aggregate` definitions, by type. */
  foldableTypes: Schema.Array(Schema.String)
}) {}

/**
 * A page of the log, newest first, and the cursors to the pages either side.
 *
 * @since 0.1.0
 * @category schemas
 */
export class LogPage extends Schema.Class<LogPage>("LogPage")({
  events: Schema.Array(EventView),
  /** `after` for the page of newer events, when there are any. */
  newer: Schema.OptionFromNullOr(Schema.BigInt),
  /** `before` for the page of older events, when there may be any. */
  older: Schema.OptionFromNullOr(Schema.BigInt),
  /**
   * A correlation id search reads a window of the log at a time (metadata has no index): the
   * position it read down to, when it stopped before the beginning.
   */
  scannedDownTo: Schema.OptionFromNullOr(Schema.BigInt)
}) {}

/**
 * One aggregate's events by version.
 *
 * @since 0.1.0
 * @category schemas
 */
export class AggregateView extends Schema.Class<AggregateView>("AggregateView")({
  aggregateId: Schema.String,
  aggregateType: Schema.String,
  version: Schema.Number,
  events: Schema.Array(EventView),
  /** Whether the UI can show its state (the application mounted it with the type's `Aggregate`). */
  foldable: Schema.Boolean
}) {}

/**
 * An aggregate's state after `version` and after the version before, encoded as JSON.
 *
 * @since 0.1.0
 * @category schemas
 */
export class AggregateState extends Schema.Class<AggregateState>("AggregateState")({
  version: Schema.Number,
  state: Schema.Unknown,
  previous: Schema.Unknown
}) {}

/**
 * An event without its payload, as a node of the causation graph.
 *
 * @since 0.1.0
 * @category schemas
 */
export class CausationNode extends Schema.Class<CausationNode>("CausationNode")({
  position: Schema.BigInt,
  eventId: Schema.String,
  eventType: Schema.String,
  aggregateId: Schema.String,
  aggregateType: Schema.String,
  aggregateVersion: Schema.Number,
  timestamp: Schema.Date,
  correlationId: Schema.OptionFromNullOr(Schema.String),
  causationId: Schema.OptionFromNullOr(Schema.String)
}) {}

/**
 * The events linked to one event by causation and correlation ids: its chain of causes up to
 * the first, and what followed from that first event in the same conversation.
 *
 * @since 0.1.0
 * @category schemas
 */
export class Causation extends Schema.Class<Causation>("Causation")({
  eventId: Schema.String,
  /** From the first cause down to the event. */
  chain: Schema.Array(Schema.String),
  nodes: Schema.Array(CausationNode),
  /** True when the graph was cut at the node limit or the scan window. */
  truncated: Schema.Boolean
}) {}

/**
 * Nothing of that name or id.
 *
 * @since 0.1.0
 * @category errors
 */
export class UiNotFound extends Schema.TaggedError<UiNotFound>()("UiNotFound", { message: Schema.String }, HttpApiSchema.annotations({ status: 404 })) {}

/**
 * A write refused: the UI was started read-only (without `--allow-writes` / `allowWrites`).
 *
 * @since 0.1.0
 * @category errors
 */
export class UiReadOnly extends Schema.TaggedError<UiReadOnly>()("UiReadOnly", { message: Schema.String }, HttpApiSchema.annotations({ status: 403 })) {}

/**
 * The store failed (the message says how; never a connection string).
 *
 * @since 0.1.0
 * @category errors
 */
export class UiStoreFailure extends Schema.TaggedError<UiStoreFailure>()("UiStoreFailure", { message: Schema.String }, HttpApiSchema.annotations({ status: 500 })) {}

/**
 * The filters of the log. At most one of `before` and `after` (both absent: the newest page).
 *
 * @since 0.1.0
 * @category schemas
 */
export const LogQuery = Schema.Struct({
  before: Schema.optional(PositionParam),
  after: Schema.optional(PositionParam),
  limit: Schema.optional(wholeNumber("limit", 1, MAX_PAGE)),
  aggregateType: Schema.optional(name("aggregateType")),
  eventType: Schema.optional(name("eventType")),
  since: Schema.optional(Instant),
  until: Schema.optional(Instant),
  aggregateId: Schema.optional(name("aggregateId")),
  eventId: Schema.optional(name("eventId")),
  correlationId: Schema.optional(name("correlationId"))
}).pipe(Schema.filter((query) =>
  query.before !== undefined && query.after !== undefined ? "give before or after, not both" : true
))

/**
 * The endpoints, under `api/`. Ids and names travel as query parameters, not path segments:
 * any text is a valid id (slashes included), and a router refuses long path segments as
 * "not found" before the schema could say what is wrong.
 *
 * @since 0.1.0
 * @category api
 */
export class Group extends HttpApiGroup.make("ui")
  .add(HttpApiEndpoint.get("overview", "/api/overview").addSuccess(Overview))
  .add(HttpApiEndpoint.get("log", "/api/events").setUrlParams(LogQuery).addSuccess(LogPage))
  .add(
    HttpApiEndpoint.get("aggregate", "/api/aggregate")
      .setUrlParams(Schema.Struct({
        aggregateId: name("aggregateId"),
        fromVersion: Schema.optional(wholeNumber("fromVersion", 0, 999_999_999)),
        limit: Schema.optional(wholeNumber("limit", 1, MAX_PAGE))
      }))
      .addSuccess(AggregateView)
      .addError(UiNotFound)
  )
  .add(
    HttpApiEndpoint.get("aggregateState", "/api/aggregate/state")
      .setUrlParams(Schema.Struct({ aggregateId: name("aggregateId"), version: wholeNumber("version", 1, 999_999_999) }))
      .addSuccess(AggregateState)
      .addError(UiNotFound)
  )
  .add(
    HttpApiEndpoint.get("causation", "/api/causation")
      .setUrlParams(Schema.Struct({ eventId: name("eventId") }))
      .addSuccess(Causation)
      .addError(UiNotFound)
  )
  .add(
    HttpApiEndpoint.get("live", "/api/live")
      .setUrlParams(Schema.Struct({ aggregateType: Schema.optional(name("aggregateType")), eventType: Schema.optional(name("eventType")) }))
      .addSuccess(HttpApiSchema.Text({ contentType: "text/event-stream" }))
  )
  .add(HttpApiEndpoint.get("projections", "/api/projections").addSuccess(Schema.Array(ProjectionView)))
  .add(HttpApiEndpoint.get("projectionStatus", "/api/projections/status").addSuccess(Schema.Array(ProjectionStatusView)))
  .add(
    HttpApiEndpoint.post("retryParked", "/api/projections/parked/retry")
      .setUrlParams(Schema.Struct({ name: name("name"), position: Schema.optional(PositionParam) }))
      .addSuccess(Schema.Array(ParkedView))
      .addError(UiNotFound)
      .addError(UiReadOnly)
  )
  .add(
    HttpApiEndpoint.post("discardParked", "/api/projections/parked/discard")
      .setUrlParams(Schema.Struct({ name: name("name"), position: PositionParam }))
      .addSuccess(ParkedView)
      .addError(UiNotFound)
      .addError(UiReadOnly)
  )
  .add(
    HttpApiEndpoint.post("rebuild", "/api/projections/rebuild")
      .setUrlParams(Schema.Struct({ name: name("name") }))
      .addSuccess(RebuildView)
      .addError(UiNotFound)
      .addError(UiReadOnly)
  )
  .addError(UiStoreFailure)
{}

/**
 * The API of Eventuali UI.
 *
 * @since 0.1.0
 * @category api
 */
export class Api extends HttpApi.make("eventuali-ui").add(Group).annotate(OpenApi.Title, "Eventuali UI") {}
