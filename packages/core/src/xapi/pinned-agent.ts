// The HTTPS agent of pool connections. A new connection is handed to HTTP only after the TLS handshake
// and the check of the peer's certificate against its pin, so no byte of a request (a password, a
// session id) reaches a host that was not verified. Until then HTTP knows nothing of the socket: its
// request timeout and signal would only start once the socket is its own, so a host that accepts
// connections and never answers would hold the request. This agent enforces both itself, from the
// first TCP packet: the connect timeout (the request's `timeout` if shorter) and the request's end.
import type { ClientRequest } from 'node:http'
import { Agent as HttpsAgent, type RequestOptions } from 'node:https'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { AbortedError } from '../shared/index.js'
import { retireWhenIdle } from './keep-alive.js'
import { PoolCertificateError, peerCertificate } from './pool-certificate.js'
import { XapiConnectTimeoutError, type ConnectPhase } from './xapi-error.js'

/** The fingerprint a host must present (undefined: none is trusted). */
export type PinLookup = (host: string) => string | undefined

type SocketCallback = (error: Error | null, stream: Duplex) => void
type CreateSocket = (req: ClientRequest, options: RequestOptions, callback: SocketCallback) => void

/** How the connection learns of its request: a key that survives the agent's copies of the options. */
const REQUEST = Symbol('request')

/**
 * How often a connection in progress looks whether its request was given up: a request destroyed
 * before it has a socket (its signal fired) emits nothing until the agent hands one over.
 */
const GIVEN_UP_POLL_MS = 20

export class PinnedAgent extends HttpsAgent {
  constructor(
    readonly expected: PinLookup,
    keepAlive: boolean,
    readonly connectTimeoutMs: number,
  ) {
    // No TLS session resumption: every connection shows its certificate and has it checked.
    super({ keepAlive, maxCachedSessions: 0, rejectUnauthorized: false })
  }

  /**
   * Node's agents create each socket for one request through this method (not in the typings, but the
   * hook agent libraries override); the request goes along so that the connection can watch it.
   */
  createSocket(req: ClientRequest, options: RequestOptions, callback: SocketCallback): void {
    const create = (HttpsAgent.prototype as unknown as { createSocket: CreateSocket }).createSocket
    create.call(this, req, { ...options, [REQUEST]: req } as RequestOptions, callback)
  }

  /** A pooled connection is retired before the server would close it (keep-alive.ts). */
  override keepSocketAlive(socket: Duplex): boolean {
    super.keepSocketAlive(socket)
    return retireWhenIdle(socket)
  }

  /** The socket goes to HTTP (through the callback) only after the handshake and the pin check. */
  override createConnection(options: RequestOptions, callback?: SocketCallback): Duplex | null | undefined {
    const host = String(options.host ?? options.hostname ?? 'localhost')
    const port = Number(options.port ?? 443)
    const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
    const req = (options as { [REQUEST]?: ClientRequest })[REQUEST]
    const timeoutMs = Math.min(this.connectTimeoutMs, options.timeout ?? Infinity)
    const socket = tlsConnect({ ...(options as ConnectionOptions), rejectUnauthorized: false })
    let phase: ConnectPhase = 'tcp-connect'
    socket.once('connect', () => (phase = 'tls-handshake'))
    // Plain timers, not socket.setTimeout: HTTP sets its own socket timeout once the socket is its.
    const deadline = setTimeout(
      () => socket.destroy(new XapiConnectTimeoutError(where, phase, timeoutMs)),
      timeoutMs,
    )
    const watch = setInterval(() => {
      if (req?.destroyed === true)
        socket.destroy(new AbortedError(new Error(`request to ${where} given up during the ${phase}`)))
    }, GIVEN_UP_POLL_MS)
    let settled = false
    const settle = (error: Error | null): void => {
      clearTimeout(deadline)
      clearInterval(watch)
      if (settled) return
      settled = true
      // On failure no socket is handed over: the request fails with `error`.
      callback?.(error, (error === null ? socket : undefined) as Duplex)
    }
    socket.on('error', settle)
    socket.once('secureConnect', () => {
      const refused = check(socket, where, this.expected(host))
      if (refused !== undefined) socket.destroy()
      settle(refused ?? null)
    })
    return undefined
  }
}

function check(socket: TLSSocket, where: string, expected: string | undefined): Error | undefined {
  const seen = peerCertificate(socket)
  if (seen !== undefined && seen.fingerprint === expected) return undefined
  return new PoolCertificateError(where, seen, expected)
}
