import { InMemoryEventStore } from "@eventuali/core"
import * as NodeCipher from "@eventuali/core/NodeCipher"
import { PrivacyConformance } from "@eventuali/testing/vitest"

PrivacyConformance.run("InMemoryEventStore", InMemoryEventStore.layerWithPrivacy(NodeCipher.aes256gcm))
