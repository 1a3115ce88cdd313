import { InMemoryEventStore } from "@eventuali/core"
import { EventStoreConformance } from "@eventuali/testing/vitest"

EventStoreConformance.run("InMemoryEventStore", InMemoryEventStore.layer)
