import type { Schema } from "effect"
import { type EventSchema, tagOf } from "../Aggregate.js"

/** An aggregate definition, as far as its event schemas go. */
type WithEvents = { readonly events: ReadonlyArray<EventSchema> }

const byDefinition = new WeakMap<WithEvents, ReadonlyMap<string, Schema.Schema.AnyNoContext>>()

/**
 * The schema among the aggregate's events whose `_tag` is `eventType` (the first, if several
 * share it); `undefined` for a type that is none of its events'. Indexed once per definition:
 * every save and every folded event asks.
 */
export const eventSchemaOf = (definition: WithEvents, eventType: string): Schema.Schema.AnyNoContext | undefined => {
  let schemas = byDefinition.get(definition)
  if (schemas === undefined) {
    const byTag = new Map<string, Schema.Schema.AnyNoContext>()
    for (const schema of definition.events) {
      const tag = tagOf(schema)
      if (tag !== undefined && !byTag.has(tag)) byTag.set(tag, schema)
    }
    schemas = byTag
    byDefinition.set(definition, schemas)
  }
  return schemas.get(eventType)
}
