// A session with one pool: login, calls with re-login on SESSION_INVALID, HOST_IS_SLAVE answered by going
// to the master, other pool members tried when the master is gone. Every host is trusted by its pinned
// certificate (PoolTrust): the URL's by `fingerprint`, the others as the master lists them at each login.
// Secrets (password, session ref) are kept in private fields and never logged.
import { retry, throwIfAborted } from '../shared/index.js'
import { JsonRpcTransport } from './json-rpc-transport.js'
import { isReadOnlyCall } from './read-only-calls.js'
import { PoolCertificateError, pemFingerprint } from './pool-certificate.js'
import { PoolTrust, type PoolTrustOptions } from './pool-trust.js'
import { XapiConnectionError, XapiError, isXapiError } from './xapi-error.js'

export interface XapiClientOptions extends PoolTrustOptions {
  /** https://host[:port] of a pool member, pinned by `fingerprint` (http:// only with insecureHttp). */
  url: string
  user: string
  password: string
  originator?: string
  callTimeoutMs?: number
  /** Structured log lines; never receives secrets. */
  log?: (message: string, fields?: Record<string, unknown>) => void
}

const MASTER_NOT_PINNED =
  "It is the pool master, named by the host of the URL (HOST_IS_SLAVE): give the master's URL and fingerprint"

/** How long close() waits for the logout when given no signal. */
const LOGOUT_TIMEOUT_MS = 5000

export type Ref = string
export const NULL_REF = 'OpaqueRef:NULL'

export class XapiClient {
  readonly #password: string
  #session: string | undefined
  #transport: JsonRpcTransport
  #login: Promise<void> | undefined
  /** Addresses of every pool member, learnt at login: failover candidates. */
  #members: string[] = []

  /** The options without the password (which lives only in a private field). */
  readonly options: Readonly<Omit<XapiClientOptions, 'password'>>
  /** The hosts this client trusts; HTTP transfers and redirects go through it too. */
  readonly trust: PoolTrust

  /** Throws InsecurePoolUrlError for an http:// URL without insecureHttp, before any connection. */
  constructor(options: XapiClientOptions) {
    const { password, ...rest } = options
    this.#password = password
    this.options = rest
    const url = new URL(options.url)
    this.trust = new PoolTrust(url, options)
    this.#transport = new JsonRpcTransport(url, this.trust.agent(true))
  }

  /** The URL of the host currently used (the master after HOST_IS_SLAVE). */
  get url(): URL {
    return this.#transport.url
  }

  get connected(): boolean {
    return this.#session !== undefined
  }

  /** The session ref, for HTTP transfers and NBD export names. A secret: never log it. */
  sessionRef(): string {
    if (this.#session === undefined) throw new XapiConnectionError(`not logged in to ${this.url.host}`)
    return this.#session
  }

  async connect(signal?: AbortSignal): Promise<void> {
    await this.#ensureSession(signal)
  }

  async close(signal?: AbortSignal): Promise<void> {
    const session = this.#session
    this.#session = undefined
    try {
      // A courtesy: a pool that does not answer is not waited for.
      const bounded = signal ?? AbortSignal.timeout(LOGOUT_TIMEOUT_MS)
      if (session !== undefined) await this.#transport.call('session.logout', [session], { signal: bounded })
    } catch {
      // The session dies with the toolstack anyway; logout is a courtesy.
    } finally {
      this.#transport.close()
    }
  }

  /** Calls `method` with the session as first parameter. */
  async call<T = unknown>(method: string, params: unknown[], signal?: AbortSignal): Promise<T> {
    return retry(
      async () => {
        const session = await this.#ensureSession(signal)
        try {
          return (await this.#transport.call(method, [session, ...params], this.#opts(signal))) as T
        } catch (error) {
          await this.#recover(error, session, signal)
          throw error
        }
      },
      {
        retries: 3,
        baseDelayMs: 200,
        signal,
        shouldRetry: (error) =>
          isXapiError(error, 'SESSION_INVALID') ||
          isXapiError(error, 'HOST_IS_SLAVE') ||
          (error instanceof XapiConnectionError && error.retryable && isReadOnlyCall(method)),
      },
    )
  }

  /** A call without session (system.listMethods, …). */
  async callWithoutSession<T = unknown>(method: string, params: unknown[], signal?: AbortSignal): Promise<T> {
    return (await this.#transport.call(method, params, this.#opts(signal))) as T
  }

  #opts(signal: AbortSignal | undefined) {
    return { signal, timeoutMs: this.options.callTimeoutMs }
  }

  /** After a failed call: drop a dead session, or move to another member when the host is gone. */
  async #recover(error: unknown, session: string, signal: AbortSignal | undefined): Promise<void> {
    if (isXapiError(error, 'SESSION_INVALID') && this.#session === session) {
      this.options.log?.('xapi session invalid, logging in again', { host: this.url.host })
      this.#session = undefined
    } else if (isXapiError(error, 'HOST_IS_SLAVE')) {
      this.#session = undefined
      this.#moveTo(error.params[0] ?? '')
    } else if (error instanceof XapiConnectionError && error.retryable && this.#session === session) {
      this.#session = undefined
      throwIfAborted(signal)
    }
  }

  #ensureSession(signal: AbortSignal | undefined): Promise<string> {
    if (this.#session !== undefined) return Promise.resolve(this.#session)
    this.#login ??= this.#loginAnywhere(signal).finally(() => (this.#login = undefined))
    return this.#login.then(() => this.sessionRef())
  }

  /** Logs in on the current host, else on every known member in turn, following HOST_IS_SLAVE. */
  async #loginAnywhere(signal: AbortSignal | undefined): Promise<void> {
    const candidates = [this.url.hostname, ...this.#members.filter((m) => m !== this.url.hostname)]
    let lastError: unknown
    for (const host of candidates) {
      throwIfAborted(signal)
      if (host !== this.url.hostname) this.#moveTo(host)
      try {
        await this.#loginHere(signal)
        return
      } catch (error) {
        if (!(error instanceof XapiConnectionError)) throw error
        this.options.log?.('xapi host unreachable, trying another pool member', { host })
        lastError = error
      }
    }
    throw lastError
  }

  async #loginHere(signal: AbortSignal | undefined): Promise<void> {
    const params = [this.options.user, this.#password, '1.1', this.options.originator ?? 'strata']
    for (let hops = 0; ; hops++) {
      try {
        this.#session = (await this.#transport.call(
          'session.login_with_password',
          params,
          this.#opts(signal),
        )) as string
        break
      } catch (error) {
        if (hops > 0 && error instanceof PoolCertificateError && error.expected === undefined)
          throw new PoolCertificateError(error.host, error.seen, undefined, MASTER_NOT_PINNED)
        if (!isXapiError(error, 'HOST_IS_SLAVE') || hops >= 2) throw error
        this.options.log?.('xapi host is a pool member, going to the master', { master: error.params[0] })
        this.#moveTo(error.params[0] ?? '')
      }
    }
    await this.#learnMembers(signal)
  }

  /** Over the session just made on a pinned host: every member's address and certificate. */
  async #learnMembers(signal: AbortSignal | undefined): Promise<void> {
    const hosts = (await this.#transport.call(
      'host.get_all_records',
      [this.#session],
      this.#opts(signal),
    )) as Record<string, { address?: string }>
    const members = await Promise.all(
      Object.entries(hosts)
        .filter(([, h]) => (h.address ?? '') !== '')
        .map(async ([ref, h]) => ({
          address: h.address!,
          fingerprint: this.trust.secure ? await this.#certificateOf(ref, signal) : undefined,
        })),
    )
    this.trust.learn(members)
    this.#members = members.map((m) => m.address)
  }

  /** A member's certificate fingerprint; undefined leaves it untrusted (connections to it are refused). */
  async #certificateOf(host: string, signal: AbortSignal | undefined): Promise<string | undefined> {
    let pem: unknown
    try {
      pem = await this.#transport.call(
        'host.get_server_certificate',
        [this.#session, host],
        this.#opts(signal),
      )
    } catch (error) {
      if (!isXapiError(error)) throw error
      this.options.log?.('no certificate for a pool member', { host, code: error.code })
      return undefined
    }
    try {
      return pemFingerprint(String(pem))
    } catch {
      this.options.log?.('a pool member has an unreadable certificate', { host })
      return undefined
    }
  }

  /** Same protocol and port, another host (HOST_IS_SLAVE gives a bare address). */
  #moveTo(address: string): void {
    if (address === '') throw new XapiError('HOST_IS_SLAVE', [], 'session.login_with_password')
    const url = new URL(this.url)
    url.hostname = address.includes(':') && !address.startsWith('[') ? `[${address}]` : address
    this.#transport.close()
    this.#transport = new JsonRpcTransport(url, this.trust.agent(true))
  }
}
