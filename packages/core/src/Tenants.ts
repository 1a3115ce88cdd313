/**
 * Tenants: one application serving many customers whose events must never mix. `Tenants` gives
 * the `EventStore` and `ProjectionStore` of one tenant, opened on first use, shared by every
 * concurrent user of that tenant and closed when it has been idle for a while. Code written
 * against `EventStore` runs unchanged for a tenant under {@link provide} (or {@link layer}, a
 * layer per request).
 *
 * A backend decides where a tenant's events live (PostgreSQL: a schema per tenant, on one of
 * several servers — `PgTenants`); this module holds what every backend shares: the tenant id's
 * rules, the cache of open stores and the accessors.
 *
 * @since 0.1.0
 */
import { Context, Duration, Effect, Either, Layer, Schema, type Scope } from "effect"
import { DatabaseError, EventStoreError } from "./Errors.js"
import * as EventStore from "./EventStore.js"
import * as InMemoryEventStore from "./InMemoryEventStore.js"
import * as TenantCache from "./internal/tenantCache.js"
import * as ProjectionStore from "./ProjectionStore.js"

/**
 * The tenant a piece of code runs for, in the context {@link provide} builds.
 *
 * @since 0.1.0
 * @category tags
 */
export class Tenant extends Context.Tag("eventuali/Tenant")<Tenant, { readonly id: string }>() {}

/**
 * A tenant that was never created (see {@link Service.create}), or whose id is not valid.
 * Its message names the id (quoted), never anything of another tenant.
 *
 * @since 0.1.0
 * @category errors
 */
export class TenantNotFoundError extends Schema.TaggedError<TenantNotFoundError>()("TenantNotFoundError", {
  tenantId: Schema.String,
  message: Schema.String
}) {}

/**
 * What opening a tenant can fail with: an invalid id (`EventStoreError`), an unknown tenant, the
 * database.
 *
 * @since 0.1.0
 * @category errors
 */
export type TenantError = EventStoreError | TenantNotFoundError | DatabaseError

/**
 * What {@link provide} and {@link layer} put in the context of a tenant's code.
 *
 * @since 0.1.0
 * @category models
 */
export type Services = EventStore.EventStore | ProjectionStore.ProjectionStore | Tenant

/**
 * The tenants of a deployment. `R` is what a backend adds to a tenant's context (PostgreSQL: the
 * tenant's `SqlClient`, for read models).
 *
 * @since 0.1.0
 * @category models
 */
export interface Service<R = never> {
  /**
   * The services of one tenant, for as long as the scope lives: opened on first use, shared with
   * every other user of the tenant, closed after the idle time once no scope holds it.
   */
  readonly context: (tenantId: string) => Effect.Effect<Context.Context<Services | R>, TenantError, Scope.Scope>
  /** Runs `f` with the services of one tenant, holding the tenant open meanwhile (what {@link provide} uses). */
  readonly use: <A, E, R2>(
    tenantId: string,
    f: (context: Context.Context<Services | R>) => Effect.Effect<A, E, R2>
  ) => Effect.Effect<A, E | TenantError, R2>
  /**
   * Creates a tenant (its storage, and its place on a server where there are several); creating
   * one that exists does nothing. A tenant must be created before {@link context} opens it, so a
   * crafted id in a request cannot make a backend create storage.
   */
  readonly create: (tenantId: string) => Effect.Effect<void, EventStoreError | DatabaseError>
  /** Every created tenant, sorted. */
  readonly list: Effect.Effect<ReadonlyArray<string>, DatabaseError>
  /**
   * Forgets the open store of a tenant: the next {@link context} opens it again (e.g. after the
   * tenant moved); users holding it keep it until their scopes close.
   */
  readonly evict: (tenantId: string) => Effect.Effect<void>
}

/**
 * The service tag.
 *
 * @since 0.1.0
 * @category tags
 */
export class Tenants extends Context.Tag("eventuali/Tenants")<Tenants, Service>() {}

/** A tenant id's form: short enough for any backend's names, one spelling per tenant. */
const TENANT_ID = /^[a-z0-9][a-z0-9_]{0,47}$/

/**
 * The longest tenant id (48 characters): with a prefix of up to 15 characters it is still a
 * PostgreSQL identifier (63 bytes).
 *
 * @since 0.1.0
 * @category validation
 */
export const maxIdLength = 48

/**
 * Checks a tenant id: 1 to 48 characters, lowercase ASCII letters, digits and `_`, starting with
 * a letter or digit. Everything else is refused rather than transformed, so two different ids
 * can never name the same storage (`Acme` and `acme`, `a-b` and `a_b`), and an id is always safe
 * inside a database name.
 *
 * @since 0.1.0
 * @category validation
 */
export const validateId = (tenantId: unknown): Either.Either<string, EventStoreError> =>
  typeof tenantId === "string" && TENANT_ID.test(tenantId)
    ? Either.right(tenantId)
    : Either.left(
      new EventStoreError({
        message: `Invalid tenant id ${
          typeof tenantId === "string" ? JSON.stringify(tenantId.slice(0, 100)) : typeof tenantId
        }: use 1 to ${maxIdLength} lowercase letters, digits and _, starting with a letter or digit`
      })
    )

/**
 * How a backend's tenants are opened and closed.
 *
 * - `open`: the services of one (validated, existing) tenant, living as long as the scope.
 * - `create`, `list`: see {@link Service}.
 * - `idleTimeToLive`: how long an open tenant nobody uses stays open (default 5 minutes).
 *
 * @since 0.1.0
 * @category models
 */
export interface Backend<R> {
  readonly open: (
    tenantId: string
  ) => Effect.Effect<Context.Context<EventStore.EventStore | ProjectionStore.ProjectionStore | R>, TenantError, Scope.Scope>
  readonly create: (tenantId: string) => Effect.Effect<void, DatabaseError>
  readonly list: Effect.Effect<ReadonlyArray<string>, DatabaseError>
  readonly idleTimeToLive?: Duration.DurationInput | undefined
}

/**
 * The tenants of a backend: ids checked, each tenant opened once and shared while in use, closed
 * when idle, all closed with the scope.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <R>(backend: Backend<R>): Effect.Effect<Service<R>, never, Scope.Scope> =>
  Effect.map(
    TenantCache.make(
      (tenantId) => Effect.map(backend.open(tenantId), (context) => Context.add(context, Tenant, { id: tenantId })),
      Duration.decode(backend.idleTimeToLive ?? Duration.minutes(5))
    ),
    (open): Service<R> => ({
      context: (tenantId) => Effect.flatMap(validateId(tenantId), open.get),
      use: (tenantId, f) => {
        // Every request's path: the id checked without an Effect around the answer.
        const valid = validateId(tenantId)
        return Either.isLeft(valid) ? Effect.fail(valid.left) : open.use(valid.right, f)
      },
      create: (tenantId) => Effect.flatMap(validateId(tenantId), backend.create),
      list: backend.list,
      evict: open.evict
    })
  )

/**
 * Tenants in memory, each with its own empty in-memory store, kept until the scope closes: for
 * tests and examples.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service, never, Scope.Scope> = Effect.gen(function*() {
  const created = new Set<string>()
  return yield* make({
    open: (tenantId) =>
      created.has(tenantId)
        ? Effect.map(
          Effect.all([InMemoryEventStore.make, ProjectionStore.makeMemory]),
          ([store, projections]) =>
            Context.make(EventStore.EventStore, store).pipe(Context.add(ProjectionStore.ProjectionStore, projections))
        )
        : Effect.fail(notFound(tenantId)),
    create: (tenantId) => Effect.sync(() => void created.add(tenantId)),
    list: Effect.sync(() => Array.from(created).sort()),
    // An in-memory tenant's events live only while it is open.
    idleTimeToLive: Duration.infinity
  })
})

/**
 * {@link makeMemory} as a layer.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<Tenants> = Layer.scoped(Tenants, makeMemory)

/**
 * The error for a tenant that was never created.
 *
 * @since 0.1.0
 * @category errors
 */
export const notFound = (tenantId: string): TenantNotFoundError =>
  new TenantNotFoundError({ tenantId, message: `No tenant ${JSON.stringify(tenantId)}` })

/**
 * The tenant's event store, for as long as the scope lives.
 *
 * @since 0.1.0
 * @category accessors
 */
export const store = (tenantId: string): Effect.Effect<EventStore.Service, TenantError, Tenants | Scope.Scope> =>
  Effect.flatMap(Tenants, (tenants) => Effect.map(tenants.context(tenantId), Context.get(EventStore.EventStore)))

/**
 * Runs `self` as the tenant: `EventStore`, `ProjectionStore` and {@link Tenant} are the tenant's.
 *
 * @since 0.1.0
 * @category combinators
 */
export const provide = (tenantId: string) =>
<A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | TenantError, Exclude<R, Services> | Tenants> =>
  Effect.flatMap(Tenants, (tenants) => tenants.use(tenantId, (context) => Effect.provide(self, context)))

/**
 * The tenant's services as a layer: e.g. built per request from the request's tenant.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (tenantId: string): Layer.Layer<Services, TenantError, Tenants> =>
  Layer.scopedContext(Effect.flatMap(Tenants, (tenants) => tenants.context(tenantId)))
