// A PostgreSQL wire proxy that answers repeated reads from a cache, so that a benchmark measures
// the client's work without the server's (docs/performance.md, "PostgreSQL loads"):
//
//   node packages/benchmarks/scripts/cache-proxy.mjs 5433 5432 &
//   EVENTUALI_PG_URL=postgresql://postgres:postgres@127.0.0.1:5433/bench npx -y pnpm@10 bench -- --only peers-postgres
//
// Everything is forwarded to the server on the second port, except a batch of extended-protocol
// messages (up to Sync) already answered once with rows and without an error: the recorded answer
// is sent again, on the next turn of the proxy's event loop. Saves never repeat (new event ids),
// so they reach the server; the loads of (c) repeat after their first round. A batch that
// prepares a named statement always reaches the server (the connection must keep it).
// A development tool only: it answers reads from the past, whatever was written since.
import * as Net from "node:net"

const [listenPort, serverPort] = [Number(process.argv[2] ?? 5433), Number(process.argv[3] ?? 5432)]
const cache = new Map()

/** Splits complete messages (type byte, 32-bit length) off `buffer`; returns them and the rest. */
const messages = (buffer) => {
  const complete = []
  while (buffer.length >= 5) {
    const length = buffer.readInt32BE(1)
    if (buffer.length < 1 + length) break
    complete.push(buffer.subarray(0, 1 + length))
    buffer = buffer.subarray(1 + length)
  }
  return { complete, rest: buffer }
}

const READY = 0x5a // ReadyForQuery
const DATA_ROW = 0x44
const ERROR = 0x45
const NOTIFICATION = 0x41
const PARSE = 0x50
const SYNC = 0x53

Net.createServer((client) => {
  const server = Net.connect(serverPort, "127.0.0.1")
  let started = false // after the server's first ReadyForQuery: start-up and authentication pass through
  let fromClient = Buffer.alloc(0)
  let fromServer = Buffer.alloc(0)
  let batch = []
  let recording = undefined
  let answer = []
  client.on("data", (data) => {
    if (!started) return void server.write(data)
    const split = messages(Buffer.concat([fromClient, data]))
    fromClient = split.rest
    for (const message of split.complete) {
      if (!"PBDES".includes(String.fromCharCode(message[0]))) {
        server.write(message)
        continue
      }
      batch.push(message)
      if (message[0] !== SYNC) continue
      const namedParse = batch.some((m) => m[0] === PARSE && m[5] !== 0)
      const bytes = Buffer.concat(batch)
      batch = []
      const key = bytes.toString("latin1")
      const cached = namedParse ? undefined : cache.get(key)
      if (cached !== undefined) {
        setImmediate(() => client.write(cached))
      } else {
        recording = namedParse ? undefined : key
        answer = []
        server.write(bytes)
      }
    }
  })
  server.on("data", (data) => {
    client.write(data)
    if (!started) {
      const split = messages(Buffer.concat([fromServer, data]))
      fromServer = split.rest
      if (split.complete.some((m) => m[0] === READY)) {
        started = true
        fromServer = Buffer.alloc(0)
      }
      return
    }
    if (recording === undefined) return
    const split = messages(Buffer.concat([fromServer, data]))
    fromServer = split.rest
    for (const message of split.complete) {
      answer.push(message)
      if (message[0] !== READY) continue
      const types = new Set(answer.map((m) => m[0]))
      if (types.has(DATA_ROW) && !types.has(ERROR) && !types.has(NOTIFICATION)) cache.set(recording, Buffer.concat(answer))
      recording = undefined
      answer = []
    }
  })
  client.on("error", () => server.destroy())
  server.on("error", () => client.destroy())
  client.on("close", () => server.destroy())
  server.on("close", () => client.destroy())
}).listen(listenPort, "127.0.0.1", () => process.stderr.write(`cache proxy on ${listenPort}, server on ${serverPort}\n`))
