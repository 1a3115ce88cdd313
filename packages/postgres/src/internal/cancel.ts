/**
 * Cancelling an interrupted statement so that the cancel can only reach that statement.
 *
 * `@effect/sql-pg` cancels the statement of an interrupted fiber by running
 * `SELECT pg_cancel_backend(PID)` through the pool's `query`, then gives the connection back to
 * the pool once that answered, or after 5 seconds if it did not. That statement needs a pooled
 * connection of its own: on a busy pool (a few connections, many fibers; 50 tenants on one
 * server's pool) it waits in the pool's queue, the 5 seconds pass, the connection goes back to the
 * pool, and the cancel, still queued, runs later and cancels whatever that connection runs then —
 * another operation, another tenant's statement (SQLSTATE 57014, "canceling statement due to user
 * request").
 *
 * Our pools (`pool.ts`, `schemaPool.ts`) answer that statement themselves: they send PostgreSQL's
 * cancel request (the protocol's `CancelRequest`: the backend's pid and the secret key it gave the
 * connection) on a socket of its own, which needs no pooled connection, no login and no free slot
 * on the server, and answer once the server has handled it (it closes the socket after signalling
 * the backend). So the cancel has reached the backend before `@effect/sql-pg` releases the
 * connection: it stops the interrupted statement, or, when that statement had already ended, finds
 * the backend idle and is ignored (PostgreSQL drops a cancel that arrives while it waits for a
 * command). It cannot land on the connection's next statement. The secret key also means it can
 * never reach another backend that later got the same pid.
 *
 * `@effect/sql-pg` also gives the connection back when the interrupted statement answers, which
 * may be before its cancel has landed (the statement was about to end): the pool then holds the
 * connection back until the cancel has landed (`StorePool.afterCancels`), so that the cancel cannot
 * reach the next statement there either (tested through a proxy that delays cancel requests).
 *
 * Only when the server does not handle the request within the connect timeout (it does not
 * answer at all) is the connection released before the cancel is known to have landed; the store's
 * operations then still run again after a stray cancel (`reconnect.ts`).
 */
import * as Net from "node:net"
import * as Tls from "node:tls"
import { Predicate } from "effect"
import type * as Pg from "pg"

/** The statement `@effect/sql-pg` cancels with (`makeCancel` in its `PgClient`). */
const cancelStatement = /^SELECT pg_cancel_backend\((\d+)\)$/

/** The backend pid a statement text cancels, when it is `@effect/sql-pg`'s cancel. */
export const cancelledPid = (text: unknown): number | undefined => {
  if (typeof text !== "string" || !text.startsWith("SELECT pg_cancel_backend(")) return undefined
  const match = cancelStatement.exec(text)
  return match === null ? undefined : Number(match[1])
}

/** What names a connection's backend in a cancel request (node-postgres keeps them from `BackendKeyData`). */
export interface BackendKey {
  readonly pid: number
  readonly secretKey: number
}

/** The backend key of a connected client, when it has one. */
export const keyOf = (client: Pg.Client): BackendKey | undefined =>
  Predicate.hasProperty(client, "processID") && typeof client.processID === "number" &&
    Predicate.hasProperty(client, "secretKey") && typeof client.secretKey === "number"
    ? { pid: client.processID, secretKey: client.secretKey }
    : undefined

/** PostgreSQL's cancel request code and SSL request code (protocol 3.0). */
const CANCEL_REQUEST_CODE = 80877102
const SSL_REQUEST_CODE = 80877103

const cancelRequest = (key: BackendKey): Buffer => {
  const request = Buffer.alloc(16)
  request.writeInt32BE(16, 0)
  request.writeInt32BE(CANCEL_REQUEST_CODE, 4)
  request.writeInt32BE(key.pid, 8)
  request.writeInt32BE(key.secretKey, 12)
  return request
}

const sslRequest = (): Buffer => {
  const request = Buffer.alloc(8)
  request.writeInt32BE(8, 0)
  request.writeInt32BE(SSL_REQUEST_CODE, 4)
  return request
}

/**
 * The TLS options of `client`'s connection, as node-postgres makes them (`upgradeToSSL`), or
 * `undefined` when it does not use TLS: a server or proxy that requires TLS may refuse a plain
 * cancel request.
 */
const tlsOptionsOf = (client: Pg.Client, socket: Net.Socket): Tls.ConnectionOptions | undefined => {
  const ssl: unknown = client.ssl
  if (ssl === false || ssl === undefined || ssl === null) return undefined
  const options: Tls.ConnectionOptions = { ...(typeof ssl === "object" ? ssl : {}), socket, host: client.host }
  return Net.isIP(client.host) === 0 ? { ...options, servername: client.host } : options
}

/**
 * Sends the cancel request for `client`'s backend — over TLS when its connection uses TLS — and
 * calls `done` once the server closed the socket (the backend is signalled), the request failed,
 * or `timeoutMillis` passed: whichever comes first, once. Never fails: cancelling is best effort.
 */
export const cancel = (client: Pg.Client, key: BackendKey, timeoutMillis: number, done: () => void): void => {
  const socket = client.host.startsWith("/")
    ? Net.connect(`${client.host}/.s.PGSQL.${client.port}`)
    : Net.connect(client.port, client.host)
  let secure: Tls.TLSSocket | undefined
  let finished = false
  const finish = () => {
    if (finished) return
    finished = true
    clearTimeout(deadline)
    secure?.destroy()
    socket.destroy()
    done()
  }
  const deadline = setTimeout(finish, timeoutMillis)
  deadline.unref()
  socket.on("error", finish)
  socket.once("close", finish)
  const tlsOptions = client.host.startsWith("/") ? undefined : tlsOptionsOf(client, socket)
  if (tlsOptions === undefined) {
    // The server sends nothing back; reading keeps the socket flowing until it closes.
    socket.once("connect", () => socket.end(cancelRequest(key)))
    socket.resume()
    return
  }
  const direct = Predicate.hasProperty(client, "sslNegotiation") && client.sslNegotiation === "direct"
  const overTls = () => {
    secure = Tls.connect(direct ? { ...tlsOptions, ALPNProtocols: ["postgresql"] } : tlsOptions)
    secure.on("error", finish)
    secure.once("close", finish)
    secure.once("secureConnect", () => secure?.end(cancelRequest(key)))
    secure.resume()
  }
  if (direct) {
    socket.once("connect", overTls)
    return
  }
  socket.once("connect", () => socket.write(sslRequest()))
  socket.once("data", (answer) => {
    // "S": TLS follows; "N": the server has no TLS, and the request goes as it is.
    if (answer[0] === 0x53) return overTls()
    socket.end(cancelRequest(key))
    socket.resume()
  })
}
