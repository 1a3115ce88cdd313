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
import { Cause, Context, Duration, Effect, Either, FiberRef, Layer, Option, Schema, type Scope } from "effect"
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
  /** Runs `f` with the services of one tenant, holding the tenant open meanwhile. */
  readonly use: <A, E, R2>(
    tenantId: string,
    f: (context: Context.Context<Services | R>) => Effect.Effect<A, E, R2>
  ) => Effect.Effect<A, E | TenantError, R2>
  /**
   * Runs `self` as the tenant, holding the tenant open meanwhile: what {@link provide} uses, the
   * same as `use(tenantId, (context) => Effect.provide(self, context))` but made for the path of
   * every request.
   */
  readonly provide: <A, E, R2>(
    tenantId: string,
    self: Effect.Effect<A, E, R2>
  ) => Effect.Effect<A, E | TenantError, Exclude<R2, Services | R>>
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
 * - `reopenAfter`: a failure of a tenant's code after which the tenant's open services are
 *   forgotten, so that the next use opens them again (PostgreSQL: a write refused because the
 *   tenant moved to another server). Default: none.
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
  readonly reopenAfter?: ((error: unknown) => boolean) | undefined
}

/**
 * An open tenant: its services, and the last context they were provided into, merged with them.
 * Requests from one runtime share their parent context, so the merge is made once, not per
 * request (and the new context's hash, which setting it computes, once). The last parent stays
 * referenced until a request from another one, or until the tenant closes.
 */
class OpenTenant<R> {
  private parent: Context.Context<never> | undefined = undefined
  private merged: Context.Context<never> | undefined = undefined
  constructor(readonly context: Context.Context<Services | R>) {}

  /** `parent` with the tenant's services added. */
  within<P>(parent: Context.Context<P>): Context.Context<P | Services | R> {
    if (this.parent !== parent || this.merged === undefined) {
      const merged = Context.merge(parent, this.context)
      this.parent = parent
      this.merged = merged
      return merged
    }
    // The merge of this very `parent` object (contexts are immutable), made by the branch above.
    return this.merged as Context.Context<P | Services | R>
  }
}

/**
 * `self`, typed as running with `context`'s services already in its context: {@link make}'s
 * `provide` sets them on the fiber itself.
 */
const runsWith = <A, E, R, S>(self: Effect.Effect<A, E, R>, _context: Context.Context<S>) => self as Effect.Effect<A, E, Exclude<R, S>>

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
      (tenantId) =>
        Effect.map(backend.open(tenantId), (context) => new OpenTenant<R>(Context.add(context, Tenant, { id: tenantId }))),
      Duration.decode(backend.idleTimeToLive ?? Duration.minutes(5))
    ),
    (open): Service<R> => {
      const reopenAfter = backend.reopenAfter
      /**
       * After a request, at once: the tenant given back, and forgotten after a failure that asks
       * for it. The effect closes what must be closed.
       */
      const leave = (tenantId: string, entry: TenantCache.Entry<OpenTenant<R>, TenantError>, cause: Cause.Cause<unknown> | undefined) => {
        const released = open.unsafeRelease(entry)
        if (cause === undefined || reopenAfter === undefined) return released
        const failure = Cause.failureOption(cause)
        return Option.isSome(failure) && reopenAfter(failure.value) ? Effect.zipRight(released, open.evict(tenantId)) : released
      }
      /** A request for a tenant that is not open (or not valid): checked, opened, held while `f` runs. */
      const opening = <A, E, R2>(tenantId: string, f: (tenant: OpenTenant<R>) => Effect.Effect<A, E, R2>) => {
        const valid = validateId(tenantId)
        if (Either.isLeft(valid)) return Effect.fail(valid.left)
        const used = open.use(valid.right, f)
        return reopenAfter === undefined
          ? used
          : Effect.tapError(used, (error) => reopenAfter(error) ? open.evict(valid.right) : Effect.void)
      }
      return {
        context: (tenantId) => Effect.map(Effect.flatMap(validateId(tenantId), open.get), (tenant) => tenant.context),
        // Every request's path, measured (docs/performance.md, "Tenancy"): an open tenant is a
        // map lookup (only ids that were checked are in the map, so it is not checked again).
        use: (tenantId, f) =>
          Effect.uninterruptibleMask((restore) => {
            const held = open.unsafeHold(tenantId)
            if (held === undefined) return restore(opening(tenantId, (tenant) => f(tenant.context)))
            const [entry, tenant] = held
            return Effect.matchCauseEffect(restore(Effect.suspend(() => f(tenant.context))), {
              onFailure: (cause) => Effect.zipRight(leave(tenantId, entry, cause), Effect.failCause(cause)),
              onSuccess: (value) => Effect.as(leave(tenantId, entry, undefined), value)
            })
          }),
        // As `use` with `Effect.provide`, in one uninterruptible region instead of three, and with
        // the merged context reused (`OpenTenant.within`): most of what tenancy cost a load.
        provide: <A, E, R2>(tenantId: string, self: Effect.Effect<A, E, R2>) =>
          Effect.uninterruptibleMask((restore) =>
            Effect.withFiberRuntime<A, E | TenantError, Exclude<R2, Services | R>>((fiber) => {
              const held = open.unsafeHold(tenantId)
              if (held === undefined) return restore(opening(tenantId, (tenant) => Effect.provide(self, tenant.context)))
              const [entry, tenant] = held
              const parent = fiber.currentContext
              const restoreParent = FiberRef.set(FiberRef.currentContext, parent)
              return Effect.zipRight(
                FiberRef.set(FiberRef.currentContext, tenant.within(parent)),
                Effect.matchCauseEffect(restore(runsWith(self, tenant.context)), {
                  onFailure: (cause) => Effect.zipRight(Effect.zipRight(restoreParent, leave(tenantId, entry, cause)), Effect.failCause(cause)),
                  onSuccess: (value) => Effect.as(Effect.zipRight(restoreParent, leave(tenantId, entry, undefined)), value)
                })
              )
            })
          ),
        create: (tenantId) => Effect.flatMap(validateId(tenantId), backend.create),
        list: backend.list,
        evict: open.evict
      }
    }
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
  Effect.flatMap(Tenants, (tenants) => tenants.provide(tenantId, self))

/**
 * The tenant's services as a layer: e.g. built per request from the request's tenant.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (tenantId: string): Layer.Layer<Services, TenantError, Tenants> =>
  Layer.scopedContext(Effect.flatMap(Tenants, (tenants) => tenants.context(tenantId)))
