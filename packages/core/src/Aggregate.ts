/**
 * Aggregates as pure folds. A {@link Definition} names the aggregate type, lists the schemas of
 * its events and says how each event changes the state (`evolve`). A {@link Root} is an
 * immutable value: the state at a version, plus the events applied since it was loaded. A
 * {@link Decider} also says which events a command produces (`decide`), for `CommandHandler`.
 *
 * @since 0.1.0
 */
import type { Effect } from "effect"
import { Schema, SchemaAST } from "effect"
import { dual } from "effect/Function"

/**
 * A schema of an event: its decoded type carries the `_tag` that names the event type.
 *
 * @since 0.1.0
 * @category models
 */
export interface EventSchema extends Schema.Schema<any, any, never> {
  readonly Type: { readonly _tag: string }
}

/**
 * What an aggregate is: its type name, its events, its initial state and its fold.
 *
 * @since 0.1.0
 * @category models
 */
export interface Definition<State, Event extends { readonly _tag: string }> {
  readonly type: string
  readonly events: ReadonlyArray<EventSchema>
  /** The union of `events`, used to encode on save and decode on load. */
  readonly schema: Schema.Schema<Event, any>
  /** The event types (`_tag`s) of `events`, when they are literals. */
  readonly eventTypes: ReadonlySet<string>
  readonly initialState: State
  readonly evolve: (state: State, event: Event) => State
  /** When set, `save` writes snapshots and `load` starts from the newest usable one. */
  readonly snapshot?: SnapshotPolicy<State> | undefined
}

/**
 * When and how an aggregate's state is snapshotted. A save that crosses a multiple of `every`
 * events writes the state after it, in the same transaction; `load` starts from the newest
 * snapshot whose `version` is this one and folds only the events after it. Change `version`
 * whenever the state's shape or `evolve` changes: older snapshots are then ignored (and replaced
 * at the next crossing), so a snapshot can never disagree with a full replay.
 *
 * @since 0.1.0
 * @category models
 */
export interface SnapshotPolicy<State> {
  readonly every: number
  /** Encodes the state to JSON and back (dates, bigints, ... as the schema says). */
  readonly schema: Schema.Schema<State, any>
  readonly version: number
}

/**
 * A definition that also decides: given a command and the current state, `decide` returns the
 * events that record what happened (none if nothing needs to), or fails with a domain error.
 * Like `evolve` it is pure: it reads nothing but its arguments, so it can run again on a fresher
 * state when a concurrent write wins (see `CommandHandler`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Decider<State, Event extends { readonly _tag: string }, Command, DomainError>
  extends Definition<State, Event>
{
  readonly decide: (command: Command, state: State) => Effect.Effect<ReadonlyArray<Event>, DomainError>
}

/**
 * An aggregate at a version. `version` counts every event applied, committed or not; the
 * version stored is `version - uncommittedEvents.length`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Root<State, Event extends { readonly _tag: string }> {
  readonly definition: Definition<State, Event>
  readonly type: string
  readonly id: string
  readonly version: number
  readonly state: State
  readonly uncommittedEvents: ReadonlyArray<Event>
}

/** The state type of a definition. @since 0.1.0 @category type-level */
export type StateOf<D> = D extends Definition<infer S, any> ? S : never
/** The event union of a definition. @since 0.1.0 @category type-level */
export type EventOf<D> = D extends Definition<any, infer E> ? E : never
/** The root type of a definition. @since 0.1.0 @category type-level */
export type RootOf<D> = D extends Definition<infer S, infer E> ? Root<S, E> : never
/** The command type of a decider. @since 0.1.0 @category type-level */
export type CommandOf<D> = D extends Decider<any, any, infer C, any> ? C : never
/** The domain errors of a decider. @since 0.1.0 @category type-level */
export type DomainErrorOf<D> = D extends Decider<any, any, any, infer E> ? E : never

/**
 * Defines an aggregate. `evolve` must be pure: it is replayed on every load. With `decide`, the
 * aggregate is a {@link Decider}: the command type is the type of `decide`'s first parameter,
 * the domain errors are what its effect may fail with.
 *
 * @example
 * ```ts
 * import { Effect, Schema } from "effect"
 * import { Aggregate } from "eventuali"
 *
 * class Deposited extends Schema.TaggedClass<Deposited>()("Deposited", { amount: Schema.Number }) {}
 *
 * const Account = Aggregate.make({
 *   type: "Account",
 *   events: [Deposited],
 *   initialState: { balance: 0 },
 *   evolve: (state, event) => ({ balance: state.balance + event.amount }),
 *   // optional: makes it a Decider
 *   decide: (command: { readonly amount: number }, state) =>
 *     command.amount > 0 ? Effect.succeed([new Deposited({ amount: command.amount })]) : Effect.succeed([])
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export function make<
  const Events extends ReadonlyArray<EventSchema>,
  State,
  Command,
  Decision extends Effect.Effect<ReadonlyArray<NoInfer<Schema.Schema.Type<Events[number]>>>, unknown>
>(options: {
  readonly type: string
  readonly events: Events
  readonly initialState: State
  readonly evolve: (state: State, event: Schema.Schema.Type<Events[number]>) => NoInfer<State>
  readonly decide: (command: Command, state: NoInfer<State>) => Decision
  readonly snapshot?: SnapshotPolicy<NoInfer<State>> | undefined
}): Decider<State, Schema.Schema.Type<Events[number]>, Command, Effect.Effect.Error<Decision>>
export function make<const Events extends ReadonlyArray<EventSchema>, State>(options: {
  readonly type: string
  readonly events: Events
  readonly initialState: State
  readonly evolve: (state: State, event: Schema.Schema.Type<Events[number]>) => NoInfer<State>
  readonly snapshot?: SnapshotPolicy<NoInfer<State>> | undefined
}): Definition<State, Schema.Schema.Type<Events[number]>>
export function make<State, Event extends { readonly _tag: string }, Command, DomainError>(options: {
  readonly type: string
  readonly events: ReadonlyArray<EventSchema>
  readonly initialState: State
  readonly evolve: (state: State, event: Event) => State
  readonly decide?: (command: Command, state: State) => Effect.Effect<ReadonlyArray<Event>, DomainError>
  readonly snapshot?: SnapshotPolicy<State> | undefined
}): Definition<State, Event> | Decider<State, Event, Command, DomainError> {
  return {
    ...(options.decide === undefined ? {} : { decide: options.decide }),
    ...(options.snapshot === undefined ? {} : { snapshot: options.snapshot }),
    type: options.type,
    events: options.events,
    schema: Schema.Union(...options.events) as unknown as Schema.Schema<Event, any>,
    eventTypes: new Set(options.events.flatMap((schema) => {
      const tag = tagOf(schema)
      return tag === undefined ? [] : [tag]
    })),
    initialState: options.initialState,
    evolve: options.evolve
  }
}

/**
 * The aggregate before its first event: version 0, the initial state.
 *
 * @since 0.1.0
 * @category constructors
 */
export const empty = <State, Event extends { readonly _tag: string }>(
  definition: Definition<State, Event>,
  id: string
): Root<State, Event> => ({
  definition,
  type: definition.type,
  id,
  version: 0,
  state: definition.initialState,
  uncommittedEvents: []
})

/**
 * Folds committed events into a root at version `events.length` with nothing uncommitted.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEvents = <State, Event extends { readonly _tag: string }>(
  definition: Definition<State, Event>,
  id: string,
  events: Iterable<Event>
): Root<State, Event> => {
  let state = definition.initialState
  let version = 0
  for (const event of events) {
    state = definition.evolve(state, event)
    version++
  }
  return { definition, type: definition.type, id, version, state, uncommittedEvents: [] }
}

/**
 * Applies a new event: the state evolves, the version grows by one and the event joins the
 * uncommitted events that `save` will append. Returns a new root; the old one is unchanged.
 *
 * @since 0.1.0
 * @category combinators
 */
export const apply: {
  <Event extends { readonly _tag: string }>(
    event: NoInfer<Event>
  ): <State>(root: Root<State, Event>) => Root<State, Event>
  <State, Event extends { readonly _tag: string }>(root: Root<State, Event>, event: NoInfer<Event>): Root<State, Event>
} = dual(
  2,
  <State, Event extends { readonly _tag: string }>(root: Root<State, Event>, event: Event): Root<State, Event> =>
    applyAll(root, [event])
)

/**
 * Applies several new events in order (see {@link apply}).
 *
 * @since 0.1.0
 * @category combinators
 */
export const applyAll = <State, Event extends { readonly _tag: string }>(
  root: Root<State, Event>,
  events: ReadonlyArray<NoInfer<Event>>
): Root<State, Event> => {
  let state = root.state
  for (const event of events) state = root.definition.evolve(state, event)
  return {
    ...root,
    version: root.version + events.length,
    state,
    uncommittedEvents: [...root.uncommittedEvents, ...events]
  }
}

/**
 * The version the store holds for this root: `version - uncommittedEvents.length`.
 *
 * @since 0.1.0
 * @category getters
 */
export const committedVersion = (root: Root<any, any>): number => root.version - root.uncommittedEvents.length

/**
 * The root as committed: same state and version, nothing uncommitted.
 *
 * @since 0.1.0
 * @category combinators
 */
export const markCommitted = <State, Event extends { readonly _tag: string }>(
  root: Root<State, Event>
): Root<State, Event> => root.uncommittedEvents.length === 0 ? root : { ...root, uncommittedEvents: [] }

/**
 * The literal `_tag` of an event schema (`Schema.TaggedClass`, `Schema.TaggedStruct`, ...), if it
 * has one.
 *
 * @since 0.1.0
 * @category getters
 */
export const tagOf = (schema: Schema.Schema.All): string | undefined => {
  const staticTag = (schema as { readonly _tag?: unknown })._tag
  if (typeof staticTag === "string") return staticTag
  return tagOfAst(schema.ast)
}

const tagOfAst = (ast: Schema.Schema.All["ast"]): string | undefined => {
  for (const candidate of [ast, ...(ast._tag === "Transformation" ? [ast.to, ast.from] : [])]) {
    try {
      const signature = SchemaAST.getPropertySignatures(candidate).find((ps) => ps.name === "_tag")
      if (signature !== undefined && SchemaAST.isLiteral(signature.type) && typeof signature.type.literal === "string") {
        return signature.type.literal
      }
    } catch {
      // getPropertySignatures rejects ASTs that are not object-like: such a schema has no tag.
    }
  }
  return undefined
}
