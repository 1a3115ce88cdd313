import { InMemoryEventStore } from "@eventuali/core"
import { EventStoreConformance } from "@eventuali/testing"

EventStoreConformance.run("InMemoryEventStore", InMemoryEventStore.layer)
