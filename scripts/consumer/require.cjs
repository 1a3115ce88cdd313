// CommonJS: Node 20.19+ loads the ES modules with require().
const { EventStore, Aggregate } = require("eventuali")
console.log(`require ${typeof EventStore.layer} ${typeof Aggregate.make}`)
