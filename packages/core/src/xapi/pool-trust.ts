// Which hosts of one pool Strata trusts, and the HTTP agents that enforce it. The admin pins the
// certificate of the host the pool's URL names. Pool members have certificates of their own
// (`/etc/xensource/xapi-ssl.pem` on each host, xapi.md §5.1), so every other member is pinned to its own
// fingerprint, learnt after each login over the pinned connection from XAPI (`host.get_server_certificate`).
// A connection is handed to HTTP only once its peer's certificate matched: no byte of a request (a
// password, a session id) ever reaches a host that was not verified.
import { Agent as HttpAgent } from 'node:http'
import { Agent as HttpsAgent, type RequestOptions } from 'node:https'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls'
import { StrataError } from '../shared/index.js'
import {
  InsecurePoolUrlError,
  PoolCertificateError,
  parseFingerprint,
  peerCertificate,
} from './pool-certificate.js'
import { XapiConnectionError } from './xapi-error.js'

export interface PoolTrustOptions {
  /** SHA-256 fingerprint of the certificate of the host the URL names (see parseFingerprint). */
  fingerprint?: string
  /**
   * More pinned hosts, address → fingerprint: e.g. the master, when the URL names another member and
   * HOST_IS_SLAVE sends the login there before any session could tell its certificate.
   */
  knownHosts?: Readonly<Record<string, string>>
  /** Allows an http:// URL, where passwords and session ids travel in clear text. */
  insecureHttp?: boolean
}

const HANDSHAKE_TIMEOUT_MS = 30_000

/** Host names as keys: lower case, IPv6 without brackets. */
function hostKey(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '').toLowerCase()
}

export class PoolTrust {
  readonly secure: boolean
  readonly #named: string
  /** Pins given by people: they win over what XAPI says. */
  readonly #pinned = new Map<string, string>()
  /** Members learnt from the master: address → fingerprint (undefined: XAPI gave no certificate). */
  #members = new Map<string, string | undefined>()

  constructor(url: URL, options: PoolTrustOptions) {
    if (url.protocol === 'http:' && options.insecureHttp !== true) throw new InsecurePoolUrlError(url)
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new StrataError('INVALID_POOL_URL', `'${url.protocol}' pool URLs are not supported: use https://`)
    this.secure = url.protocol === 'https:'
    this.#named = hostKey(url.hostname)
    if (options.fingerprint !== undefined)
      this.#pinned.set(this.#named, parseFingerprint(options.fingerprint))
    for (const [host, fingerprint] of Object.entries(options.knownHosts ?? {}))
      this.#pinned.set(hostKey(host), parseFingerprint(fingerprint))
  }

  /** The fingerprint `host` must present, if any is known. */
  expected(host: string): string | undefined {
    const key = hostKey(host)
    return this.#pinned.get(key) ?? this.#members.get(key)
  }

  /** Whether `host` belongs to the pool: the named host, a pinned one, or a member XAPI listed. */
  isPoolHost(host: string): boolean {
    const key = hostKey(host)
    return key === this.#named || this.#pinned.has(key) || this.#members.has(key)
  }

  /** Replaces the learnt members (after each login) with what the master says now. */
  learn(members: readonly { address: string; fingerprint: string | undefined }[]): void {
    this.#members = new Map(members.map((m) => [hostKey(m.address), m.fingerprint]))
  }

  /** An agent whose HTTPS connections are checked against the pins before any request is written. */
  agent(keepAlive: boolean): HttpAgent {
    return this.secure ? new PinnedAgent(this, keepAlive) : new HttpAgent({ keepAlive })
  }
}

class PinnedAgent extends HttpsAgent {
  constructor(
    readonly trust: PoolTrust,
    keepAlive: boolean,
  ) {
    // No TLS session resumption: every connection shows its certificate and has it checked.
    super({ keepAlive, maxCachedSessions: 0, rejectUnauthorized: false })
  }

  /** The socket goes to HTTP (through the callback) only after the handshake and the pin check. */
  override createConnection(
    options: RequestOptions,
    callback?: (error: Error | null, stream: Duplex) => void,
  ): Duplex | null | undefined {
    const host = String(options.host ?? options.hostname ?? 'localhost')
    const where = `${host}:${options.port ?? 443}`
    const socket = tlsConnect({ ...(options as ConnectionOptions), rejectUnauthorized: false })
    // A plain timer, not socket.setTimeout: HTTP sets its own socket timeout once the socket is its.
    const handshake = setTimeout(
      () =>
        socket.destroy(new XapiConnectionError(`${where}: no TLS handshake in ${HANDSHAKE_TIMEOUT_MS} ms`)),
      HANDSHAKE_TIMEOUT_MS,
    )
    let settled = false
    const settle = (error: Error | null): void => {
      clearTimeout(handshake)
      if (settled) return
      settled = true
      // On failure no socket is handed over: the request fails with `error`.
      callback?.(error, (error === null ? socket : undefined) as Duplex)
    }
    socket.on('error', settle)
    socket.once('secureConnect', () => {
      const refused = check(socket, where, this.trust.expected(host))
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
