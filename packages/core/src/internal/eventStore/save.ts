/**
 * `EventStore.save`: an aggregate's uncommitted events encoded with their schemas, checked, and
 * appended at the version the aggregate was loaded at, with a snapshot when the policy asks for
 * one. The whole append request is prepared in one synchronous step ({@link appendRequestOf}):
 * this is the path every save takes (see docs/performance.md).
 */
import { Clock, Effect, Either } from "effect"
import * as Aggregate from "../../Aggregate.js"
import * as Event from "../../Event.js"
import { EventStoreError, type SerializationError } from "../../Errors.js"
import type { AppendRequest, EncodedEvent } from "../../EventStorage.js"
import type { SaveOptions, Service } from "../../EventStore.js"
import * as ExpectedVersion from "../../ExpectedVersion.js"
import * as Metrics from "../../Metrics.js"
import { encodeEvent } from "../codec.js"
import { eventSchemaOf } from "../eventSchemas.js"
import * as Observability from "../observability.js"
import { hasPersonalData, isSealable, planOf, planSeal, sealWithKeyStore, sealWithRemembered } from "../privacy.js"
import * as Validate from "../validate.js"
import * as Versions from "../versions.js"
import { appendEncoded, type Writer } from "./append.js"
import { snapshotToWrite } from "./snapshots.js"

export const save = (writer: Writer): Service["save"] => (root, options) =>
  Effect.suspend(() => {
    if (root.uncommittedEvents.length === 0) return Effect.succeed(root)
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const request = appendRequestOf(root, options, new Date(now))
      if (Either.isLeft(request)) return Effect.fail(request.left)
      const committed = Aggregate.markCommitted(root)
      if (!needsSealing(root.definition)) return Effect.as(appendEncoded(writer, request.right), committed)
      const plan = planSeal(writer.privacy, root.definition, request.right, (event) => eventSchemaOf(root.definition, event.eventType))
      if (Either.isLeft(plan)) return Effect.fail(plan.left)
      if (plan.right._tag === "Unchanged") return Effect.as(appendEncoded(writer, plan.right.request), committed)
      // The subjects' current keys are usually remembered: then sealing is one synchronous step.
      const sealed = sealWithRemembered(plan.right, now)
      return sealed !== undefined
        ? Effect.as(appendEncoded(writer, sealed), committed)
        : Effect.as(Effect.flatMap(sealWithKeyStore(plan.right), (ready) => appendEncoded(writer, ready)), committed)
    }).pipe(
      Observability.observe(Metrics.saveDuration, root.type),
      Observability.span("EventStore.save", {
        "eventuali.aggregate.type": root.type,
        "eventuali.aggregate.id": root.id,
        "eventuali.event.count": root.uncommittedEvents.length
      })
    )
  })

/** Whether a save of the aggregate may have personal data to seal (in its events or its snapshot). */
const needsSealing = (definition: Aggregate.Definition<any, any>): boolean => {
  if (hasPersonalData(definition)) return true
  if (definition.snapshot === undefined) return false
  const plan = planOf(definition.snapshot.schema)
  return Either.isLeft(plan) || plan.right !== undefined
}

/**
 * Expectations of the versions most saves are made at, made once: they are immutable values, so
 * saves share them. Measured hot path: constructing a `Schema.TaggedClass` instance (even without
 * validation) took about 4 µs here, a tenth of the client CPU of a one-event PostgreSQL save.
 */
const sharedExact: Array<ExpectedVersion.Exact> = []
const SHARED_EXACT_BELOW = 1024

/** The expectation of a save of an aggregate loaded at `version` (computed, so valid: not validated again). */
const exactAt = (version: number): ExpectedVersion.Exact => {
  if (!(Number.isInteger(version) && version >= 0 && version < SHARED_EXACT_BELOW)) return new ExpectedVersion.Exact({ version }, true)
  return sharedExact[version] ??= new ExpectedVersion.Exact({ version }, true)
}

/** What a save appends: its uncommitted events encoded, checked, with ids and metadata. */
export const appendRequestOf = <State, Ev extends { readonly _tag: string }>(
  root: Aggregate.Root<State, Ev>,
  options: SaveOptions | undefined,
  timestamp: Date
): Either.Either<AppendRequest, EventStoreError | SerializationError> => {
  const pending = root.uncommittedEvents
  const invalidType = Validate.name("aggregate type", root.type)
  if (Either.isLeft(invalidType)) return Either.left(invalidType.left)
  const invalidId = Validate.name("aggregate id", root.id)
  if (Either.isLeft(invalidId)) return Either.left(invalidId.left)
  const eventIds = options?.eventIds
  if (eventIds !== undefined && eventIds.length !== pending.length) {
    return Either.left(new EventStoreError({ message: `save: ${eventIds.length} event ids given for ${pending.length} uncommitted events` }))
  }
  const metadataOf = Validate.metadataOf(root.type, options)
  if (Either.isLeft(metadataOf)) return Either.left(metadataOf.left)
  const { metadata, metadataJson } = metadataOf.right
  const encoded: Array<EncodedEvent> = new Array(pending.length)
  for (let i = 0; i < pending.length; i++) {
    const event = pending[i]!
    const reserved = Validate.notReserved(event._tag)
    if (Either.isLeft(reserved)) return Either.left(reserved.left)
    // Its own schema (the aggregate's union would first look for it among the others).
    const member = eventSchemaOf(root.definition, event._tag)
    // A payload with personal data is serialised once, sealed (`planSeal`), not also as it is here.
    const payload = encodeEvent(member ?? root.definition.schema, event, member === undefined || !isSealable(member))
    if (Either.isLeft(payload)) return Either.left(payload.left)
    encoded[i] = {
      eventId: eventIds?.[i] ?? Event.makeId(),
      eventType: event._tag,
      eventVersion: member === undefined ? 1 : Versions.versionsOf(member).current,
      timestamp,
      metadata,
      data: payload.right.data,
      dataJson: payload.right.json,
      metadataJson
    }
  }
  // Ids the store made are valid and distinct; ids given must be checked.
  if (eventIds !== undefined) {
    const invalidIds = Validate.eventIds(encoded)
    if (Either.isLeft(invalidIds)) return Either.left(invalidIds.left)
  }
  return Either.map(snapshotToWrite(root), (snapshot): AppendRequest => ({
    aggregateId: root.id,
    aggregateType: root.type,
    expectedVersion: exactAt(Aggregate.committedVersion(root)),
    events: encoded,
    snapshot
  }))
}
