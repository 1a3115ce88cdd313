/**
 * The handlers of the UI's API: each page's data, read from the store with the queries of
 * `queries.ts`, and the one write (rebuild), refused unless writes are allowed.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Checkpoint from "@eventuali/core/Checkpoint"
import { EventStore } from "@eventuali/core/EventStore"
import * as Projection from "@eventuali/core/Projection"
import { type ParkedEvent, ProjectionStore } from "@eventuali/core/ProjectionStore"
import { Deferred, Effect, Option, Schema, Scope, Stream } from "effect"
import * as UiApi from "../UiApi.js"
import * as Causation from "./causation.js"
import * as Counts from "./counts.js"
import * as Queries from "./queries.js"
import * as States from "./states.js"

export interface Settings {
  readonly allowWrites: boolean
  readonly schema: string | undefined
  readonly aggregates: ReadonlyArray<States.AnyDefinition>
}

/** A projection's lag is counted up to this many events. */
const LAG_LIMIT = 10_000
/** A correlation id search reads this many events per page. */
const SEARCH_WINDOW = 20_000
/** The most versions folded to show a state. */
const MAX_FOLD = 100_000
const DEFAULT_PAGE = 50

const storeFailure = (error: { readonly message: string }) => new UiApi.UiStoreFailure({ message: error.message })

const viewOf = (event: Omit<Queries.Event, "metadata"> & { readonly metadata: unknown }) =>
  new UiApi.EventView({
    position: event.position,
    eventId: event.eventId,
    eventType: event.eventType,
    eventVersion: event.eventVersion,
    aggregateId: event.aggregateId,
    aggregateType: event.aggregateType,
    aggregateVersion: event.aggregateVersion,
    timestamp: event.timestamp,
    metadata: event.metadata,
    data: event.data
  })

export const layer = (settings: Settings) =>
  HttpApiBuilder.group(UiApi.Api, "ui", (handlers) =>
    Effect.gen(function*() {
      const store = yield* EventStore
      const projectionStore = yield* ProjectionStore
      const sql = Queries.make(yield* SqlClient.SqlClient, settings.schema)
      const scope = yield* Scope.Scope
      const counts = yield* Counts.make(sql, scope)
      // Completed when the UI closes: ends the live tails, so the server can stop.
      const closed = yield* Deferred.make<void>()
      yield* Scope.addFinalizer(scope, Deferred.succeed(closed, undefined))
      const definitions = new Map(settings.aggregates.map((definition) => [definition.type, definition] as const))

      /** The head of the log: every event at or below it is committed and visible. */
      const head = Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition).pipe(Effect.mapError(storeFailure))

      const projections = Effect.gen(function*() {
        const top = yield* head
        const checkpoints = yield* projectionStore.list
        return yield* Effect.forEach(checkpoints, (checkpoint) =>
          Effect.map(Queries.eventsAfter(sql, checkpoint.position, top, LAG_LIMIT + 1), (lag) =>
            new UiApi.ProjectionView({
              name: checkpoint.name,
              position: checkpoint.position,
              updatedAt: checkpoint.updatedAt,
              lag: Math.min(lag, LAG_LIMIT),
              lagAtLeast: lag > LAG_LIMIT
            })))
      }).pipe(Effect.mapError(storeFailure))

      const overview = Effect.gen(function*() {
        const top = yield* head
        const [snapshot, schemaVersion, sizeBytes, projectionViews] = yield* Effect.all([
          counts.read(top),
          Queries.schemaVersion(sql),
          Queries.sizeBytes(sql),
          projections
        ])
        return new UiApi.Overview({
          backend: sql.dialect,
          schemaVersion,
          latestSchemaVersion: Queries.latestSchemaVersion,
          sizeBytes,
          counts: snapshot.exact ? "exact" : "estimate",
          events: snapshot.events,
          aggregates: snapshot.aggregates,
          head: top,
          aggregateTypes: snapshot.aggregateTypes,
          eventTypes: snapshot.eventTypes,
          perMinute: snapshot.perMinute,
          projections: projectionViews,
          allowWrites: settings.allowWrites,
          foldableTypes: [...definitions.keys()]
        })
      }).pipe(Effect.mapError(storeFailure))

      const log = (query: typeof UiApi.LogQuery.Type) =>
        Effect.gen(function*() {
          const top = yield* head
          const limit = query.limit ?? DEFAULT_PAGE
          if (query.correlationId !== undefined) {
            const before = query.before ?? top + 1n
            const found = yield* Queries.correlated(sql, query.correlationId, before, SEARCH_WINDOW, limit)
            return new UiApi.LogPage({
              events: found.events.map(viewOf),
              newer: Option.none(),
              older: Option.fromNullable(found.scannedDownTo),
              scannedDownTo: Option.fromNullable(found.scannedDownTo)
            })
          }
          // A time range narrows the positions first (the table has no index on time).
          const after = query.since === undefined ? 0n : yield* Queries.positionBeforeTime(sql, query.since, top)
          const upTo = query.until === undefined ? top : yield* Queries.positionBeforeTime(sql, query.until, top)
          const filter = {
            aggregateType: query.aggregateType,
            eventType: query.eventType,
            since: query.since,
            until: query.until,
            aggregateId: query.aggregateId,
            eventId: query.eventId
          }
          // One more than asked, to know whether there is a page beyond.
          const newer = query.after !== undefined
          const range = newer
            ? { after: query.after! > after ? query.after! : after, before: upTo + 1n }
            : { after, before: query.before !== undefined && query.before <= upTo ? query.before : upTo + 1n }
          const rows = yield* Queries.logPage(sql, filter, range, newer ? "newer" : "older", limit + 1)
          const more = rows.length > limit
          const page = rows.slice(0, limit)
          const events = newer ? page.reverse() : page
          const newest = events[0]?.position
          const oldest = events[events.length - 1]?.position
          return new UiApi.LogPage({
            events: events.map(viewOf),
            newer: newest === undefined
              ? Option.fromNullable(query.before === undefined ? undefined : query.before - 1n)
              : (newer ? more : query.before !== undefined) ? Option.some(newest) : Option.none(),
            older: oldest === undefined
              ? Option.fromNullable(query.after === undefined ? undefined : query.after + 1n)
              : (newer ? true : more) ? Option.some(oldest) : Option.none(),
            scannedDownTo: Option.none()
          })
        }).pipe(Effect.mapError(storeFailure))

      const aggregate = (aggregateId: string, fromVersion: number, limit: number) =>
        Effect.gen(function*() {
          const found = yield* Queries.streamHead(sql, aggregateId).pipe(Effect.mapError(storeFailure))
          if (found === undefined) return yield* new UiApi.UiNotFound({ message: `No aggregate with id ${JSON.stringify(aggregateId)}` })
          const events = yield* Queries.streamEvents(sql, aggregateId, fromVersion, limit).pipe(Effect.mapError(storeFailure))
          return new UiApi.AggregateView({
            aggregateId,
            aggregateType: found.aggregateType,
            version: found.version,
            events: events.map(viewOf),
            foldable: definitions.has(found.aggregateType)
          })
        })

      const aggregateState = (aggregateId: string, version: number) =>
        Effect.gen(function*() {
          const found = yield* Queries.streamHead(sql, aggregateId).pipe(Effect.mapError(storeFailure))
          if (found === undefined) return yield* new UiApi.UiNotFound({ message: `No aggregate with id ${JSON.stringify(aggregateId)}` })
          const definition = definitions.get(found.aggregateType)
          if (definition === undefined) {
            return yield* new UiApi.UiNotFound({
              message: `The UI was not mounted with the Aggregate definition of ${JSON.stringify(found.aggregateType)}, so it cannot show its state`
            })
          }
          if (version > found.version) {
            return yield* new UiApi.UiNotFound({ message: `${JSON.stringify(aggregateId)} has ${found.version} versions, not ${version}` })
          }
          if (version > MAX_FOLD) return yield* new UiApi.UiNotFound({ message: `The UI folds at most ${MAX_FOLD} versions` })
          const events = yield* Queries.streamEvents(sql, aggregateId, 0, version).pipe(Effect.mapError(storeFailure))
          const states = yield* States.statesAt(definition, aggregateId, events).pipe(Effect.mapError(storeFailure))
          return new UiApi.AggregateState({ version, ...states })
        })

      const causation = (eventId: string) =>
        Effect.gen(function*() {
          const graph = yield* Causation.graphOf(sql, eventId).pipe(Effect.mapError(storeFailure))
          if (graph === undefined) return yield* new UiApi.UiNotFound({ message: `No event with id ${JSON.stringify(eventId)}` })
          return new UiApi.Causation({
            eventId,
            chain: graph.chain.map((link) => link.eventId),
            nodes: graph.nodes.map((link) =>
              new UiApi.CausationNode({
                position: link.position,
                eventId: link.eventId,
                eventType: link.eventType,
                aggregateId: link.aggregateId,
                aggregateType: link.aggregateType,
                aggregateVersion: link.aggregateVersion,
                timestamp: link.timestamp,
                correlationId: Option.fromNullable(Causation.correlationIdOf(link)),
                causationId: Option.fromNullable(Causation.causationIdOf(link))
              })
            ),
            truncated: graph.truncated
          })
        })

      const encodeEvent = Schema.encodeSync(Schema.parseJson(UiApi.EventView))
      const live = (filter: { readonly aggregateType?: string | undefined; readonly eventType?: string | undefined }) => {
        const events = store.subscribe({
          from: "end",
          aggregateTypes: filter.aggregateType === undefined ? undefined : [filter.aggregateType],
          eventTypes: filter.eventType === undefined ? undefined : [filter.eventType]
        }).pipe(
          Stream.map((event) => `id: ${event.position}\ndata: ${encodeEvent(viewOf(event))}\n\n`),
          Stream.catchAll((error) => Stream.make(`event: failure\ndata: ${JSON.stringify({ message: error.message })}\n\n`))
        )
        // A comment at once (the browser sees the stream open) and every 15 s (proxies keep it open).
        const keepAlive = Stream.tick("15 seconds").pipe(Stream.as(": keep-alive\n\n"))
        const body = Stream.merge(events, keepAlive, { haltStrategy: "left" }).pipe(
          Stream.interruptWhen(Deferred.await(closed)),
          Stream.encodeText
        )
        return Effect.succeed(HttpServerResponse.stream(body, {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-store" }
        }))
      }

      const readOnly = (what: string) =>
        new UiApi.UiReadOnly({ message: `The UI is read-only: start it with --allow-writes (allowWrites: true) to ${what}` })

      const parkedView = (event: ParkedEvent) => new UiApi.ParkedView(event)

      /**
       * Each registered projection's status, from what the projection store keeps (holders,
       * checkpoints, handled ranges, parked events) and one capped count per partition.
       * `Projection.status` counts each partition's own matching events, reading up to 100,000
       * of them (seconds on a projection far behind); the page counts every event after the
       * checkpoint instead, up to 10,000, as the checkpoint list and the CLI do.
       */
      const projectionStatus = Effect.gen(function*() {
        const top = yield* head
        const registered = yield* projectionStore.projections
        return yield* Effect.forEach(registered, (info) =>
          Effect.gen(function*() {
            const leases = yield* projectionStore.leases(info.name)
            const parked = yield* projectionStore.parked(info.name)
            const partitionStatus = yield* Effect.forEach(Array.from({ length: info.partitions }, (_, partition) => partition), (partition) =>
              Effect.gen(function*() {
                const key = info.partitions === 1 ? info.name : `${info.name}#${partition}`
                const position = Option.match(yield* projectionStore.get(key), { onNone: () => 0n, onSome: (checkpoint) => checkpoint.position })
                const ranges = yield* projectionStore.ranges(key)
                const lag = yield* Queries.eventsAfter(sql, position, top, LAG_LIMIT + 1)
                const oldest = lag === 0 ? undefined : yield* Queries.firstTimeAfter(sql, position, top)
                return {
                  capped: lag > LAG_LIMIT,
                  partition,
                  holder: Option.fromNullable(leases.find((lease) => lease.partition === partition)?.owner),
                  position,
                  handled: ranges.reduce((sum, range) => sum + range.handled, 0),
                  lagEvents: Math.min(lag, LAG_LIMIT),
                  lagMillis: oldest === undefined ? 0 : Math.max(0, Date.now() - oldest.getTime()),
                  parked: parked.filter((event) => event.partition === partition).length
                }
              }))
            return new UiApi.ProjectionStatusView({
              name: info.name,
              partitions: info.partitions,
              aggregateTypes: info.aggregateTypes,
              eventTypes: info.eventTypes,
              head: top,
              lagCapped: partitionStatus.some((partition) => partition.capped),
              partitionStatus: partitionStatus.map(({ capped: _, ...partition }) => partition),
              parked: parked.map(parkedView),
              build: yield* Effect.map(
                Projection.buildStatus(info.name).pipe(Effect.provideService(ProjectionStore, projectionStore)),
                (build) => build === undefined ? null : { ...build, rebuilding: build.rebuilding ?? null }
              ),
              rebuildable: info.rebuildable === true
            })
          }))
      }).pipe(Effect.mapError(storeFailure))

      /** A `ProjectionError` (unknown projection, position not parked) is the caller's 404. */
      const parkedFailure = (error: { readonly _tag: string; readonly message: string }) =>
        error._tag === "ProjectionError" ? new UiApi.UiNotFound({ message: error.message }) : storeFailure(error)

      const retryParked = (name: string, position: bigint | undefined) =>
        settings.allowWrites
          ? Projection.requestRetry(name, { position }).pipe(
            Effect.tap((events) => Effect.logInfo(`Eventuali UI: retry asked for ${events.length} parked events of ${JSON.stringify(name)}`)),
            Effect.map((events) => events.map((event) => parkedView({ ...event, retryRequested: true }))),
            Effect.provideService(ProjectionStore, projectionStore),
            Effect.mapError(parkedFailure)
          )
          : Effect.fail(readOnly("retry parked events"))

      const discardParked = (name: string, position: bigint) =>
        settings.allowWrites
          ? Projection.discardParked(name, position).pipe(
            Effect.tap(() => Effect.logInfo(`Eventuali UI: parked event at ${position} of ${JSON.stringify(name)} discarded`)),
            Effect.map(parkedView),
            Effect.provideService(ProjectionStore, projectionStore),
            Effect.mapError(parkedFailure)
          )
          : Effect.fail(readOnly("discard parked events"))

      /** The checkpoints of a projection: one per partition when it is registered with several. */
      const checkpointsOf = (name: string) =>
        Effect.map(projectionStore.projections, (registered) => {
          const info = registered.find((projection) => projection.name === name)
          return info === undefined || info.partitions === 1
            ? [name]
            : Array.from({ length: info.partitions }, (_, partition) => `${name}#${partition}`)
        })

      /**
       * A rebuildable projection is rebuilt without downtime, as `eventuali projections rebuild`
       * does; any other in place (the UI's confirmation says which).
       */
      const rebuild = (name: string) =>
        Effect.gen(function*() {
          if (!settings.allowWrites) return yield* readOnly("rebuild projections")
          const request = yield* Projection.requestRebuild(name).pipe(
            Effect.provideService(ProjectionStore, projectionStore),
            Effect.map(Option.some),
            Effect.catchTag("ProjectionError", () => Effect.succeed(Option.none())),
            Effect.mapError(storeFailure)
          )
          if (Option.isSome(request)) {
            yield* Effect.logInfo(`Eventuali UI: rebuild without downtime of ${JSON.stringify(request.value.projection)} asked for (${request.value.name})`)
            const lag = yield* Queries.eventsAfter(sql, 0n, yield* head, LAG_LIMIT + 1).pipe(Effect.mapError(storeFailure))
            return new UiApi.RebuildView({
              name: request.value.name,
              position: 0n,
              updatedAt: new Date(),
              lag: Math.min(lag, LAG_LIMIT),
              lagAtLeast: lag > LAG_LIMIT,
              inPlace: false,
              alreadyRequested: request.value.alreadyRequested
            })
          }
          const checkpoints = yield* checkpointsOf(name).pipe(Effect.mapError(storeFailure))
          const existing = yield* Effect.forEach(checkpoints, (checkpoint) => projectionStore.get(checkpoint)).pipe(Effect.mapError(storeFailure))
          if (existing.every(Option.isNone)) return yield* new UiApi.UiNotFound({ message: `No projection named ${JSON.stringify(name)}` })
          // Under each checkpoint's lock, as the projection's own batches write: a running
          // instance replays from the start at its next batch. Its read model is the
          // application's to clear (Running.rebuild does both).
          for (const checkpoint of checkpoints) {
            yield* projectionStore.withCheckpoint(checkpoint, () => Effect.succeed([undefined, Option.some(0n)] as const)).pipe(
              Effect.mapError(storeFailure)
            )
          }
          yield* Effect.logInfo(`Eventuali UI: projection ${JSON.stringify(name)} reset to position 0`)
          const top = yield* head
          const lag = yield* Queries.eventsAfter(sql, 0n, top, LAG_LIMIT + 1).pipe(Effect.mapError(storeFailure))
          const updated = yield* projectionStore.get(checkpoints[0]!).pipe(Effect.mapError(storeFailure))
          return new UiApi.RebuildView({
            name,
            position: 0n,
            updatedAt: Option.match(updated, { onNone: () => new Date(), onSome: (checkpoint) => checkpoint.updatedAt }),
            lag: Math.min(lag, LAG_LIMIT),
            lagAtLeast: lag > LAG_LIMIT,
            inPlace: true,
            alreadyRequested: false
          })
        })

      return handlers
        .handle("overview", () => overview)
        .handle("log", ({ urlParams }) => log(urlParams))
        .handle("aggregate", ({ urlParams }) => aggregate(urlParams.aggregateId, urlParams.fromVersion ?? 0, urlParams.limit ?? UiApi.MAX_PAGE))
        .handle("aggregateState", ({ urlParams }) => aggregateState(urlParams.aggregateId, urlParams.version))
        .handle("causation", ({ urlParams }) => causation(urlParams.eventId))
        .handleRaw("live", ({ urlParams }) => live(urlParams))
        .handle("projections", () => projections)
        .handle("projectionStatus", () => projectionStatus)
        .handle("retryParked", ({ urlParams }) => retryParked(urlParams.name, urlParams.position))
        .handle("discardParked", ({ urlParams }) => discardParked(urlParams.name, urlParams.position))
        .handle("rebuild", ({ urlParams }) => rebuild(urlParams.name))
    }))
