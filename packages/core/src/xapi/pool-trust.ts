// Which hosts of one pool Strata trusts, and the HTTP agents that enforce it. The admin pins the
// certificate of the host the pool's URL names. Pool members have certificates of their own
// (`/etc/xensource/xapi-ssl.pem` on each host, xapi.md §5.1), so every other member is pinned to its own
// fingerprint, learnt after each login over the pinned connection from XAPI (`host.get_server_certificate`).
// A connection is handed to HTTP only once its peer's certificate matched (pinned-agent.ts): no byte of
// a request (a password, a session id) ever reaches a host that was not verified.
import { Agent as HttpAgent } from 'node:http'
import { StrataError } from '../shared/index.js'
import { IdleLimitedAgent } from './keep-alive.js'
import { PinnedAgent } from './pinned-agent.js'
import { InsecurePoolUrlError, parseFingerprint } from './pool-certificate.js'

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
  /**
   * How long a new HTTPS connection may take to be connected, shake hands and have its certificate
   * checked (default 30 s; a request's own `timeout`, if shorter, wins).
   */
  connectTimeoutMs?: number
}

const CONNECT_TIMEOUT_MS = 30_000

/** Host names as keys: lower case, IPv6 without brackets. */
function hostKey(hostname: string): string {
  return hostname.replace(/^\[|\]$/g, '').toLowerCase()
}

export class PoolTrust {
  readonly secure: boolean
  readonly connectTimeoutMs: number
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
    this.connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS
    if (!(this.connectTimeoutMs > 0))
      throw new StrataError(
        'INVALID_TIMEOUT',
        `connectTimeoutMs must be positive, not ${this.connectTimeoutMs}`,
      )
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

  /**
   * An agent whose HTTPS connections are checked against the pins before any request is written, and
   * given up on when a request's signal fires or the connect timeout passes, from the first packet.
   */
  agent(keepAlive: boolean): HttpAgent {
    if (!this.secure) return keepAlive ? new IdleLimitedAgent() : new HttpAgent({ keepAlive })
    return new PinnedAgent((host) => this.expected(host), keepAlive, this.connectTimeoutMs)
  }
}
