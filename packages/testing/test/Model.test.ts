import { InMemoryEventStore } from "@eventuali/core"
import { ModelConformance } from "@eventuali/testing/vitest"

// A fresh store per program.
ModelConformance.run("InMemoryEventStore", InMemoryEventStore.layer, { numRuns: 100 })
