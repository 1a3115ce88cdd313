/**
 * 03 — An HTTP API over the event store, with `@effect/platform`'s `HttpApi`: commands as POST
 * endpoints (through `CommandHandler`), an aggregate's state, the log by position, a live tail
 * over Server-Sent Events, the store's typed errors as HTTP statuses, and the OpenAPI document.
 *
 *   npx tsx examples/03-http-api.ts          # serves http://127.0.0.1:3000 (PORT, HOST) until Ctrl-C
 *   npx tsx examples/03-http-api.ts --demo   # serves on a free port, calls itself, prints, exits
 *
 *   curl -X POST localhost:3000/accounts/acc-1/open -H 'content-type: application/json' -d '{"owner":"Ada"}'
 *   curl -X POST localhost:3000/accounts/acc-1/deposit -H 'content-type: application/json' -d '{"amount":100}'
 *   curl -X POST localhost:3000/accounts/acc-1/withdraw -H 'content-type: application/json' -d '{"amount":30,"expectedVersion":2}'
 *   curl localhost:3000/aggregates/BankAccount/acc-1
 *   curl 'localhost:3000/events?type=BankAccount&from=0&limit=10'
 *   curl -N 'localhost:3000/events/live?type=BankAccount'     # Server-Sent Events; resumes from Last-Event-ID
 *   open http://localhost:3000/docs                           # Swagger UI over /openapi.json
 *
 * Statuses: 201 opened, 200 done, 400 malformed request, 404 no such account (or aggregate type),
 * 409 `OptimisticConcurrencyError` (with `actualVersion`) when `expectedVersion` is stale,
 * 422 a refused command (`InsufficientFunds`, ...), 500 a store failure.
 */
import {
  HttpApi,
  HttpApiBuilder,
  HttpApiClient,
  HttpApiEndpoint,
  HttpApiGroup,
  HttpApiSchema,
  HttpApiSwagger,
  HttpClient,
  HttpServer,
  HttpServerResponse,
  OpenApi
} from "@effect/platform"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Config, Console, Deferred, Effect, Layer, Option, Redacted, Schema, Stream } from "effect"
import {
  Aggregate,
  AggregateNotFoundError,
  Checkpoint,
  CommandHandler,
  EventStore,
  ExpectedVersion,
  OptimisticConcurrencyError
} from "eventuali"
import { createServer } from "node:http"
import { type AccountCommand, BankAccount, Deposit, OpenAccount, Withdraw } from "./BankAccount.js"

// --- The API: endpoints, payloads, and the errors each may answer with --------------------------

/** A command the account refused (422): the domain error's tag and its fields. */
class CommandRefused extends Schema.TaggedError<CommandRefused>()("CommandRefused", {
  reason: Schema.String,
  detail: Schema.Record({ key: Schema.String, value: Schema.Unknown })
}, HttpApiSchema.annotations({ status: 422 })) {}

/** The store failed (500): the database is gone, a payload does not decode, ... */
class StoreFailure extends Schema.TaggedError<StoreFailure>()("StoreFailure", {
  reason: Schema.String,
  message: Schema.String
}, HttpApiSchema.annotations({ status: 500 })) {}

const AggregateView = Schema.Struct({ type: Schema.String, id: Schema.String, version: Schema.Int, state: Schema.Unknown })

/** An event in JSON: `position` is a string (a 64-bit integer), `timestamp` ISO 8601. */
const EventView = Schema.Struct({
  eventId: Schema.String,
  eventType: Schema.String,
  eventVersion: Schema.Int,
  aggregateId: Schema.String,
  aggregateType: Schema.String,
  aggregateVersion: Schema.Int,
  position: Schema.BigInt,
  timestamp: Schema.Date,
  metadata: Schema.Struct({
    correlationId: Schema.optional(Schema.String),
    causationId: Schema.optional(Schema.String),
    userId: Schema.optional(Schema.String),
    headers: Schema.Record({ key: Schema.String, value: Schema.String })
  }),
  data: Schema.Unknown
})

/** Without `expectedVersion` a command runs on the latest state; with it, only at that version. */
const expectedVersion = Schema.optional(Schema.NonNegativeInt)

const command = <const Name extends string, Fields extends Schema.Struct.Fields>(name: Name, payload: Fields) =>
  HttpApiEndpoint.post(name, `/accounts/:id/${name}`)
    .setPath(Schema.Struct({ id: Schema.NonEmptyTrimmedString }))
    .setPayload(Schema.Struct({ ...payload, expectedVersion }))
    .addError(OptimisticConcurrencyError, { status: 409 })
    .addError(AggregateNotFoundError, { status: 404 })
    .addError(CommandRefused)

const Accounts = HttpApiGroup.make("accounts")
  .add(command("open", { owner: Schema.NonEmptyTrimmedString }).addSuccess(AggregateView, { status: 201 }))
  .add(command("deposit", { amount: Schema.Number }).addSuccess(AggregateView))
  .add(command("withdraw", { amount: Schema.Number }).addSuccess(AggregateView))
  .addError(StoreFailure)

const position = Schema.NonNegativeBigInt // from a string of digits

const Log = HttpApiGroup.make("log")
  .add(
    HttpApiEndpoint.get("aggregate")`/aggregates/${HttpApiSchema.param("type", Schema.String)}/${HttpApiSchema.param("id", Schema.String)}`
      .addSuccess(AggregateView)
      .addError(AggregateNotFoundError, { status: 404 })
  )
  .add(
    HttpApiEndpoint.get("events", "/events")
      .setUrlParams(Schema.Struct({
        type: Schema.optional(Schema.String),
        from: Schema.optional(position),
        limit: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 1000)))
      }))
      // `next` is the `from` of the next page.
      .addSuccess(Schema.Struct({ events: Schema.Array(EventView), next: Schema.BigInt }))
  )
  .add(
    HttpApiEndpoint.get("live", "/events/live")
      .setUrlParams(Schema.Struct({ type: Schema.optional(Schema.String), from: Schema.optional(position) }))
      .setHeaders(Schema.Struct({ "last-event-id": Schema.optional(position) }))
      .addSuccess(HttpApiSchema.Text({ contentType: "text/event-stream" }))
  )
  .addError(StoreFailure)

export class Api extends HttpApi.make("bank").add(Accounts).add(Log).annotate(OpenApi.Title, "Eventuali bank") {}

// --- Handlers ------------------------------------------------------------------------------------

const viewOf = <State, Event extends { readonly _tag: string }>(root: Aggregate.Root<State, Event>) => ({
  type: root.type,
  id: root.id,
  version: root.version,
  state: root.state
})

/** The store's own failures are the server's problem: 500, saying which. */
const storeFailure = (error: { readonly _tag: string; readonly message: string }) =>
  new StoreFailure({ reason: error._tag, message: error.message })

/**
 * Runs a command. Without `expectedVersion`: `CommandHandler.handle` (load, decide, save; on a
 * conflict load and decide again). With it, the client says which state it decided on, so a
 * conflict is its to resolve: load, check the version, decide, save — once.
 */
const execute = (accountId: string, command: AccountCommand, expectedVersion: number | undefined) =>
  Effect.gen(function*() {
    if (expectedVersion === undefined) return (yield* CommandHandler.handle(BankAccount, accountId, command)).root
    const store = yield* EventStore
    const current = Option.getOrElse(yield* store.load(BankAccount, accountId), () => Aggregate.empty(BankAccount, accountId))
    if (current.version !== expectedVersion) {
      return yield* new OptimisticConcurrencyError({
        aggregateId: accountId,
        expectedVersion: ExpectedVersion.exact(expectedVersion),
        actualVersion: current.version
      })
    }
    return yield* store.save(Aggregate.applyAll(current, yield* BankAccount.decide(command, current.state)))
  }).pipe(
    Effect.map(viewOf),
    Effect.catchAll((error): Effect.Effect<never, OptimisticConcurrencyError | AggregateNotFoundError | StoreFailure | CommandRefused> => {
      switch (error._tag) {
        case "OptimisticConcurrencyError": // 409, with the actual version
          return Effect.fail(error)
        case "AccountNotOpen": // 404
          return Effect.fail(new AggregateNotFoundError({ aggregateType: BankAccount.type, aggregateId: accountId }))
        case "DatabaseError":
        case "EventStoreError":
        case "StreamDeletedError":
        case "StreamTruncatedError":
        case "KeyStoreError":
        case "PersonalDataErasedError":
        case "SerializationError": // 500
          return Effect.fail(storeFailure(error))
        default: { // 422: the account said no
          const { _tag, ...detail } = { ...error }
          return Effect.fail(new CommandRefused({ reason: _tag, detail }))
        }
      }
    })
  )

const AccountsLive = HttpApiBuilder.group(Api, "accounts", (handlers) =>
  handlers
    .handle("open", ({ path, payload }) => execute(path.id, new OpenAccount({ owner: payload.owner }), payload.expectedVersion))
    .handle("deposit", ({ path, payload }) => execute(path.id, new Deposit({ amount: payload.amount }), payload.expectedVersion))
    .handle("withdraw", ({ path, payload }) => execute(path.id, new Withdraw({ amount: payload.amount }), payload.expectedVersion)))

/** Completed when the server shuts down: ends the live tails, so that it can. */
class Shutdown extends Effect.Service<Shutdown>()("examples/Shutdown", {
  scoped: Effect.gen(function*() {
    const done = yield* Deferred.make<void>()
    yield* Effect.addFinalizer(() => Deferred.succeed(done, undefined))
    return { await: Deferred.await(done) }
  })
}) {}

const encodeEvent = Schema.encodeSync(Schema.parseJson(EventView))

const LogLive = HttpApiBuilder.group(Api, "log", (handlers) =>
  Effect.gen(function*() {
    const store = yield* EventStore
    const shutdown = yield* Shutdown
    return handlers
      .handle("aggregate", ({ path }) =>
        // Add your other aggregates here; an unknown type is a 404 like an unknown id.
        (path.type === BankAccount.type
          ? store.loadOrFail(BankAccount, path.id)
          : Effect.fail(new AggregateNotFoundError({ aggregateType: path.type, aggregateId: path.id }))).pipe(
            Effect.map(viewOf),
            Effect.catchTags({
              DatabaseError: (e) => Effect.fail(storeFailure(e)),
              EventStoreError: (e) => Effect.fail(storeFailure(e)),
              KeyStoreError: (e) => Effect.fail(storeFailure(e)),
              PersonalDataErasedError: (e) => Effect.fail(storeFailure(e)),
              SerializationError: (e) => Effect.fail(storeFailure(e)),
              StreamTruncatedError: (e) => Effect.fail(storeFailure(e))
            })
          ))
      .handle("events", ({ urlParams }) =>
        store.readEvents({
          aggregateTypes: urlParams.type === undefined ? undefined : [urlParams.type],
          fromPosition: urlParams.from,
          limit: urlParams.limit ?? 100
        }).pipe(
          Effect.map((events) => ({ events, next: events.at(-1)?.position ?? urlParams.from ?? 0n })),
          Effect.mapError(storeFailure)
        ))
      .handleRaw("live", ({ headers, urlParams }) => {
        // From the last event the client saw (a reconnecting EventSource sends it), else from
        // `from`, else only what commits from now on.
        const from = headers["last-event-id"] ?? urlParams.from
        const events = store.subscribe({
          from: from === undefined ? "end" : Checkpoint.fromPosition(from),
          aggregateTypes: urlParams.type === undefined ? undefined : [urlParams.type]
        }).pipe(
          Stream.map((event) => `id: ${event.position}\nevent: ${event.eventType}\ndata: ${encodeEvent(event)}\n\n`),
          Stream.catchAll((error) => Stream.make(`event: error\ndata: ${JSON.stringify(storeFailure(error))}\n\n`))
        )
        // A comment at once (the client sees the response start) and every 15 s (proxies keep it open).
        const keepAlive = Stream.tick("15 seconds").pipe(Stream.as(": keep-alive\n\n"))
        const body = Stream.merge(events, keepAlive, { haltStrategy: "left" }).pipe(
          Stream.interruptWhen(shutdown.await),
          Stream.encodeText
        )
        return Effect.succeed(HttpServerResponse.stream(body, {
          contentType: "text/event-stream",
          headers: { "cache-control": "no-cache" }
        }))
      })
  }))

// --- Wiring --------------------------------------------------------------------------------------

const url = Config.redacted("EVENTUALI_URL").pipe(Config.withDefault(Redacted.make("sqlite://.data/demo.db")))

/** The API with its docs, on any `HttpServer`, over the store from `EVENTUALI_URL`. */
export const AppLive = HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
  Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
  Layer.provide(HttpApiBuilder.api(Api)),
  Layer.provide([AccountsLive, LogLive]),
  Layer.provide(Shutdown.Default),
  Layer.provide(EventStore.layerConfig(url))
)

// "listening" is printed once the API serves: the server accepts connections as soon as it
// listens, and a request that arrived before the store was open would wait for a handler that
// `serve` had not installed yet.
const ServerLive = Layer.effectDiscard(HttpServer.addressFormattedWith((address) => Console.log(`listening on ${address}`))).pipe(
  Layer.provide(AppLive),
  Layer.provide(NodeHttpServer.layerConfig(createServer, {
    port: Config.integer("PORT").pipe(Config.withDefault(3000)),
    host: Config.string("HOST").pipe(Config.withDefault("127.0.0.1"))
  }))
)

// --- The demo: the same API, called through a client derived from its definition -----------------

const demo = Effect.gen(function*() {
  const client = yield* HttpApiClient.make(Api)
  const accountId = `acc-${crypto.randomUUID().slice(0, 8)}`
  const path = { id: accountId }

  // Where the log ends now: page through it with `next`.
  let before = 0n
  while (true) {
    const page = yield* client.log.events({ urlParams: { type: BankAccount.type, from: before, limit: 1000 } })
    before = page.next
    if (page.events.length < 1000) break
  }
  const opened = yield* client.accounts.open({ path, payload: { owner: "Ada" } })
  yield* Console.log(`POST /accounts/${accountId}/open -> version ${opened.version}`)
  const deposited = yield* client.accounts.deposit({ path, payload: { amount: 100 } })
  yield* Console.log(`deposit 100 -> ${JSON.stringify(deposited.state)} (version ${deposited.version})`)

  yield* client.accounts.withdraw({ path, payload: { amount: 500 } }).pipe(
    Effect.catchTag("CommandRefused", (refused) => Console.log(`withdraw 500 -> 422 ${refused.reason} ${JSON.stringify(refused.detail)}`))
  )
  // Two clients decided on version 2: one wins, the other gets a 409 with the actual version.
  yield* Effect.all([30, 40].map((amount) =>
    client.accounts.withdraw({ path, payload: { amount, expectedVersion: 2 } }).pipe(
      Effect.flatMap((saved) => Console.log(`withdraw ${amount} at version 2 -> version ${saved.version}`)),
      Effect.catchTag("OptimisticConcurrencyError", (conflict) =>
        Console.log(`withdraw ${amount} at version 2 -> 409, actualVersion ${conflict.actualVersion}`))
    )
  ), { concurrency: "unbounded" })
  yield* client.log.aggregate({ path: { type: "BankAccount", id: `nobody-${accountId}` } }).pipe(
    Effect.catchTag("AggregateNotFoundError", (error) => Console.log(`GET /aggregates/BankAccount/nobody-… -> 404 ${error._tag}`))
  )

  const account = yield* client.log.aggregate({ path: { type: "BankAccount", id: accountId } })
  yield* Console.log(`GET /aggregates/BankAccount/${accountId} -> version ${account.version}: ${JSON.stringify(account.state)}`)
  const { events } = yield* client.log.events({ urlParams: { type: BankAccount.type, from: before } })
  yield* Console.log(`GET /events?from=${before} -> ${events.map((event) => event.eventType).join(", ")}`)

  // The live tail, from the same position: the events so far, then it would wait for more.
  const http = yield* HttpClient.HttpClient
  const lines = yield* http.get(`/events/live?type=${BankAccount.type}&from=${before}`).pipe(
    Effect.flatMap((response) =>
      response.stream.pipe(Stream.decodeText(), Stream.splitLines, Stream.filter((line) => line.startsWith("event: ")), Stream.take(3), Stream.runCollect)
    ),
    Effect.scoped
  )
  for (const line of lines) yield* Console.log(`SSE ${line}`)
  const openApi = yield* http.get("/openapi.json").pipe(Effect.flatMap((response) => response.json))
  yield* Console.log(`GET /openapi.json -> paths ${Object.keys((openApi as { readonly paths: object }).paths).join(" ")}`)
  yield* Console.log("done")
})

const main = process.argv.includes("--demo")
  // A server on a free port, and an HttpClient whose relative URLs go to it.
  ? demo.pipe(Effect.provide(AppLive.pipe(Layer.provideMerge(NodeHttpServer.layerTest))))
  : Layer.launch(ServerLive)

NodeRuntime.runMain(main)
