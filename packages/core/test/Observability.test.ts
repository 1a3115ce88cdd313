import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Metric, type MetricState, Option, Schedule, Schema, Stream, Tracer } from "effect"
import {
  Aggregate,
  Checkpoint,
  EventStore,
  ExpectedVersion,
  InMemoryEventStore,
  Metrics,
  Projection
} from "@eventuali/core"

class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}

/** A fresh aggregate type per test: metrics are global, labelled by type, so tests stay apart. */
const accountType = () => `Account${crypto.randomUUID().slice(0, 8)}`

const accountOf = (type: string) =>
  Aggregate.make({
    type,
    events: [Deposited],
    initialState: { balance: 0 },
    evolve: (state, event) => ({ balance: state.balance + event.amount })
  })

/** A span as a test tracer records it. */
interface Recorded {
  readonly name: string
  readonly parent: Option.Option<Tracer.AnySpan>
  readonly attributes: Map<string, unknown>
  exit: Exit.Exit<unknown, unknown> | undefined
}

/** A tracer that keeps every span it starts. */
const recordingTracer = () => {
  const spans: Array<Recorded> = []
  const tracer = Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const recorded: Recorded = { name, parent, attributes: new Map(), exit: undefined }
      spans.push(recorded)
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: crypto.randomUUID(),
        traceId: "test",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes: recorded.attributes,
        links,
        sampled: true,
        kind,
        end: (_endTime, exit) => {
          recorded.exit = exit
        },
        attribute: (key, value) => {
          recorded.attributes.set(key, value)
        },
        event: () => {},
        addLinks: () => {}
      }
      return span
    },
    context: (f) => f()
  })
  const named = (name: string) => spans.filter((span) => span.name === name)
  return { tracer, spans, named }
}

/** The name of a recorded span's parent (an external parent's id). */
const parentName = (span: Recorded) => Option.map(span.parent, (parent) => parent._tag === "Span" ? parent.name : parent.spanId)

/** Appends one `Deposited` event to `acc-1` of `type`. */
const depositOne = (store: EventStore.Service, type: string) =>
  store.append(type, "acc-1", [{ eventType: "Deposited", data: { amount: 1 } }])

const counterOf = (metric: Metric.Metric.Counter<number>, type: string) =>
  Effect.map(Metric.value(Metric.tagged(metric, Metrics.aggregateTypeLabel, type)), (state) => state.count)

const histogramOf = (metric: typeof Metrics.loadDuration, type: string): Effect.Effect<MetricState.MetricState.Histogram> =>
  Metric.value(Metric.tagged(metric, Metrics.aggregateTypeLabel, type))

describe("Observability", () => {
  describe("spans", () => {
    it.effect("writes run in spans with the aggregate type and id, the event count and the last position", () =>
      Effect.gen(function*() {
        const { tracer, named } = recordingTracer()
        const type = accountType()
        const store = yield* EventStore.EventStore
        const root = Aggregate.applyAll(Aggregate.empty(accountOf(type), "acc-1"), [
          new Deposited({ amount: 1 }),
          new Deposited({ amount: 2 })
        ])
        yield* store.save(root).pipe(Effect.withTracer(tracer))
        const appended = yield* store.append(type, "acc-1", [{ eventType: "Deposited", data: { amount: 3 } }], {
          expectedVersion: ExpectedVersion.exact(2)
        }).pipe(Effect.withTracer(tracer))

        const [save] = named("EventStore.save")
        expect(save?.attributes.get("eventuali.aggregate.type")).toBe(type)
        expect(save?.attributes.get("eventuali.aggregate.id")).toBe("acc-1")
        expect(save?.attributes.get("eventuali.event.count")).toBe(2)
        expect(typeof save?.attributes.get("eventuali.position")).toBe("bigint")
        expect(save?.exit !== undefined && Exit.isSuccess(save.exit)).toBe(true)

        const [append] = named("EventStore.append")
        expect(append?.attributes.get("eventuali.aggregate.type")).toBe(type)
        expect(append?.attributes.get("eventuali.event.count")).toBe(1)
        expect(append?.attributes.get("eventuali.position")).toBe(appended.events[0]!.position)
      }).pipe(Effect.provide(InMemoryEventStore.layer)))

    it.effect("a conflicting save ends its span with the OptimisticConcurrencyError", () =>
      Effect.gen(function*() {
        const { tracer, named } = recordingTracer()
        const Account = accountOf(accountType())
        const store = yield* EventStore.EventStore
        const first = Aggregate.apply(Aggregate.empty(Account, "acc-1"), new Deposited({ amount: 1 }))
        yield* store.save(first)
        const error = yield* store.save(first).pipe(Effect.withTracer(tracer), Effect.flip)
        expect(error._tag).toBe("OptimisticConcurrencyError")
        const [save] = named("EventStore.save")
        expect(save?.exit !== undefined && Exit.isFailure(save.exit)).toBe(true)
      }).pipe(Effect.provide(InMemoryEventStore.layer)))

    it.effect("reads run in spans with what they read and how many events they found", () =>
      Effect.gen(function*() {
        const { tracer, named } = recordingTracer()
        const type = accountType()
        const Account = accountOf(type)
        const store = yield* EventStore.EventStore
        const saved = yield* store.save(
          Aggregate.applyAll(Aggregate.empty(Account, "acc-1"), [new Deposited({ amount: 1 }), new Deposited({ amount: 2 })])
        )
        const [firstEvent] = yield* store.loadEvents("acc-1")
        yield* Effect.gen(function*() {
          yield* store.load(Account, "acc-1")
          yield* store.loadOrFail(Account, "acc-1")
          yield* store.loadEvents("acc-1", 1)
          yield* store.loadEventsByType(type, firstEvent!.position)
          yield* store.readEvents({ aggregateTypes: [type], eventTypes: ["Deposited"], limit: 10 })
          yield* store.getAggregateVersion("acc-1")
          yield* store.currentCheckpoint
          yield* Stream.runDrain(store.streamEventsByType(type, { batchSize: 1 }))
          yield* Stream.runDrain(store.streamAll())
          yield* Stream.runDrain(store.subscribe({ aggregateTypes: [type] }).pipe(Stream.take(2)))
        }).pipe(Effect.withTracer(tracer))
        expect(saved.version).toBe(2)

        const loads = named("EventStore.load")
        expect(loads).toHaveLength(2) // loadOrFail is a load
        expect(loads[0]?.attributes.get("eventuali.aggregate.type")).toBe(type)
        expect(loads[0]?.attributes.get("eventuali.aggregate.id")).toBe("acc-1")

        const [loadEvents] = named("EventStore.loadEvents")
        expect(loadEvents?.attributes.get("eventuali.aggregate.id")).toBe("acc-1")
        expect(loadEvents?.attributes.get("eventuali.event.count")).toBe(1)

        const [byType] = named("EventStore.loadEventsByType")
        expect(byType?.attributes.get("eventuali.aggregate.type")).toBe(type)
        expect(byType?.attributes.get("eventuali.position.from")).toBe(firstEvent!.position)
        expect(byType?.attributes.get("eventuali.event.count")).toBe(1)

        const [read] = named("EventStore.readEvents")
        expect(read?.attributes.get("eventuali.aggregate.type")).toBe(type)
        expect(read?.attributes.get("eventuali.event.type")).toBe("Deposited")
        expect(read?.attributes.get("eventuali.event.count")).toBe(2)

        expect(named("EventStore.getAggregateVersion")[0]?.attributes.get("eventuali.aggregate.id")).toBe("acc-1")
        expect(named("EventStore.currentCheckpoint")).toHaveLength(1)

        // One span per page: two pages of one event, then the empty page that ends the stream.
        const pages = named("EventStore.streamEventsByType.page")
        expect(pages.map((page) => page.attributes.get("eventuali.event.count"))).toEqual([1, 1, 0])
        expect(pages[1]?.attributes.get("eventuali.position.from")).toBe(firstEvent!.position)
        expect(named("EventStore.streamAll.page").length).toBeGreaterThan(0)

        const [subscribePage] = named("EventStore.subscribe.page")
        expect(subscribePage?.attributes.get("eventuali.aggregate.type")).toBe(type)
        expect(subscribePage?.attributes.get("eventuali.event.count")).toBe(2)
      }).pipe(Effect.provide(InMemoryEventStore.layer)))

    it.scoped("each projection batch runs in a span with the projection, the positions and the event count", () =>
      Effect.gen(function*() {
        const { tracer, named } = recordingTracer()
        const type = accountType()
        const store = yield* EventStore.EventStore
        yield* store.save(
          Aggregate.applyAll(Aggregate.empty(accountOf(type), "acc-1"), [new Deposited({ amount: 1 }), new Deposited({ amount: 2 })])
        )
        const head = yield* Effect.flatMap(store.currentCheckpoint, Checkpoint.toPosition)
        const running = yield* Projection.run(Projection.make({ name: `balances-${type}`, aggregateTypes: [type], handle: () => Effect.void })).pipe(
          Effect.withTracer(tracer)
        )
        yield* running.whenCaughtUp
        const [batch] = named("Projection.batch")
        expect(batch?.attributes.get("eventuali.projection")).toBe(`balances-${type}`)
        expect(batch?.attributes.get("eventuali.event.count")).toBe(2)
        expect(batch?.attributes.get("eventuali.position.from")).toBe(0n)
        expect(batch?.attributes.get("eventuali.position")).toBe(head)
        // The batch's reads are its children.
        const read = named("EventStore.readEvents")[0]
        expect(parentName(read!)).toEqual(Option.some("Projection.batch"))
      }).pipe(Effect.provide(InMemoryEventStore.layer)))
    it.effect("with no tracer installed the store makes no spans, and leaves the caller's span alone", () =>
      Effect.gen(function*() {
        const type = accountType()
        const store = yield* EventStore.EventStore
        // Effect's built-in tracer: its spans reach no one, so the store skips making them.
        const afterwards = yield* Effect.gen(function*() {
          yield* depositOne(store, type)
          yield* store.loadEvents("acc-1")
          return yield* Effect.currentSpan // still the caller's: the store's spans never existed
        }).pipe(Effect.withSpan("request"))
        expect(afterwards.name).toBe("request")
        expect([...afterwards.attributes.keys()]).toEqual([]) // no "eventuali.position", no "eventuali.event.count"
      }).pipe(Effect.provide(InMemoryEventStore.layer)))

    it.effect("with tracing turned off (Effect.withTracerEnabled(false)) an installed tracer sees nothing", () =>
      Effect.gen(function*() {
        const { tracer, spans } = recordingTracer()
        const store = yield* EventStore.EventStore
        yield* depositOne(store, accountType()).pipe(
          Effect.withTracerEnabled(false),
          Effect.withTracer(tracer)
        )
        expect(spans).toEqual([])
      }).pipe(Effect.provide(InMemoryEventStore.layer)))

    it.effect("an installed tracer sees the store's spans as children of the caller's", () =>
      Effect.gen(function*() {
        const { tracer, named } = recordingTracer()
        const store = yield* EventStore.EventStore
        yield* depositOne(store, accountType()).pipe(
          Effect.withSpan("request"),
          Effect.withTracer(tracer)
        )
        const [append] = named("EventStore.append")
        expect(parentName(append!)).toEqual(Option.some("request"))
        expect(named("request")[0]?.attributes.has("eventuali.position")).toBe(false)
      }).pipe(Effect.provide(InMemoryEventStore.layer)))
  })

  describe("metrics", () => {
    it.effect("count events appended, saves and conflicts, and time loads and saves, by aggregate type", () =>
      Effect.gen(function*() {
        const type = accountType()
        const Account = accountOf(type)
        const store = yield* EventStore.EventStore
        let root = Aggregate.applyAll(Aggregate.empty(Account, "acc-1"), [new Deposited({ amount: 1 }), new Deposited({ amount: 2 })])
        root = yield* store.save(root)
        const stale = root
        root = yield* store.save(Aggregate.apply(root, new Deposited({ amount: 3 })))
        yield* store.save(Aggregate.apply(stale, new Deposited({ amount: 4 }))).pipe(Effect.flip)
        yield* store.append(type, "acc-2", [{ eventType: "Deposited", data: { amount: 5 } }])
        yield* store.append(type, "acc-2", [], { expectedVersion: ExpectedVersion.noStream }).pipe(Effect.flip)
        yield* store.load(Account, "acc-1")
        yield* store.load(Account, "nobody")

        expect(yield* counterOf(Metrics.eventsAppended, type)).toBe(4)
        expect(yield* counterOf(Metrics.saves, type)).toBe(3)
        expect(yield* counterOf(Metrics.conflicts, type)).toBe(2)
        expect((yield* histogramOf(Metrics.loadDuration, type)).count).toBe(2)
        expect((yield* histogramOf(Metrics.saveDuration, type)).count).toBe(5)
      }).pipe(Effect.provide(InMemoryEventStore.layer)))

    it.effect("an idempotent retry writes nothing and counts nothing", () =>
      Effect.gen(function*() {
        const type = accountType()
        const store = yield* EventStore.EventStore
        const events = [{ eventId: crypto.randomUUID(), eventType: "Deposited", data: { amount: 1 } }]
        yield* store.append(type, "acc-1", events, { expectedVersion: ExpectedVersion.noStream })
        yield* store.append(type, "acc-1", events, { expectedVersion: ExpectedVersion.noStream })
        expect(yield* counterOf(Metrics.eventsAppended, type)).toBe(1)
        expect(yield* counterOf(Metrics.saves, type)).toBe(1)
      }).pipe(Effect.provide(InMemoryEventStore.layer)))

    it.effect("carry the fiber's own metric labels too", () =>
      Effect.gen(function*() {
        const type = accountType()
        const store = yield* EventStore.EventStore
        yield* depositOne(store, type).pipe(Effect.tagMetrics("service", "billing"))
        const tagged = Metrics.saves.pipe(Metric.tagged(Metrics.aggregateTypeLabel, type), Metric.tagged("service", "billing"))
        expect((yield* Metric.value(tagged)).count).toBe(1)
      }).pipe(Effect.provide(InMemoryEventStore.layer)))

    it.effect("are in the snapshot of all metrics", () =>
      Effect.gen(function*() {
        const type = accountType()
        const store = yield* EventStore.EventStore
        yield* depositOne(store, type)
        const names = (yield* Metric.snapshot).filter((pair) =>
          pair.metricKey.tags.some((tag) => tag.key === Metrics.aggregateTypeLabel && tag.value === type)
        ).map((pair) => pair.metricKey.name)
        expect(new Set(names)).toEqual(new Set(["eventuali.events.appended", "eventuali.saves", "eventuali.save.duration"]))
      }).pipe(Effect.provide(InMemoryEventStore.layer)))

    it.scoped("a projection's handled and parked events are counted by the time whenCaughtUp returns", () =>
      Effect.gen(function*() {
        const type = accountType()
        const name = `balances-${type}`
        const store = yield* EventStore.EventStore
        yield* store.save(
          Aggregate.applyAll(Aggregate.empty(accountOf(type), "acc-1"), [
            new Deposited({ amount: 1 }),
            new Deposited({ amount: -1 }),
            new Deposited({ amount: 2 })
          ])
        )
        const running = yield* Projection.run(Projection.make({
          name,
          aggregateTypes: [type],
          retry: Schedule.recurs(0),
          onFailure: "park",
          handle: (event) => (event.data as { amount: number }).amount < 0 ? Effect.fail("negative") : Effect.void
        }))
        yield* running.whenCaughtUp
        const counted = (metric: Metric.Metric.Counter<number>) =>
          Effect.map(
            Metric.value(metric.pipe(Metric.tagged(Metrics.projectionLabel, name), Metric.tagged(Metrics.partitionLabel, "0"))),
            (state) => state.count
          )
        expect(yield* counted(Metrics.projectionEventsHandled)).toBe(2)
        expect(yield* counted(Metrics.projectionEventsParked)).toBe(1)
      }).pipe(Effect.provide(InMemoryEventStore.layer)))

    it.effect("are not updated when Metrics.Enabled is false", () =>
      Effect.gen(function*() {
        const type = accountType()
        const Account = accountOf(type)
        const store = yield* EventStore.EventStore
        yield* Effect.gen(function*() {
          const root = yield* store.save(Aggregate.apply(Aggregate.empty(Account, "acc-1"), new Deposited({ amount: 1 })))
          yield* store.load(Account, "acc-1")
          yield* store.save(Aggregate.apply(Aggregate.empty(Account, "acc-1"), new Deposited({ amount: 1 }))).pipe(Effect.flip)
          expect(root.version).toBe(1)
        }).pipe(Effect.provideService(Metrics.Enabled, false))
        expect(yield* counterOf(Metrics.eventsAppended, type)).toBe(0)
        expect(yield* counterOf(Metrics.saves, type)).toBe(0)
        expect(yield* counterOf(Metrics.conflicts, type)).toBe(0)
        expect((yield* histogramOf(Metrics.loadDuration, type)).count).toBe(0)
      }).pipe(Effect.provide(InMemoryEventStore.layer)))
  })
})
