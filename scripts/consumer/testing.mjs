// @eventuali/testing's root loads in plain node, outside any test runner.
import { DeciderSpec, TestEventStore } from "@eventuali/testing"
console.log(`testing ${typeof DeciderSpec.make} ${typeof TestEventStore.provide}`)
