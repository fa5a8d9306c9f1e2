// One live connection per pool: an XAPI session and an event.from loop feeding an object cache, which
// the API reads (objects, smart-selection previews) and which tells whether the pool is connected. A pool
// that cannot be reached or logged into is retried with a delay that doubles from 5 s up to 5 min (a
// wrong password is not tried every second forever, nor logged at every attempt: its state says why and
// when the next attempt is); the event loop itself re-syncs after a drop.
// Every connection is pinned to the pool's accepted fingerprint: a host presenting another certificate is
// an error state naming both fingerprints (retried, so that it clears if the right host comes back) until
// an admin accepts the new one.
import {
  CHECK_ON_HOST,
  PoolCertificateError,
  XapiClient,
  XapiEventLoop,
  type ObjectCache,
  type SeenCertificate,
} from '@strata/core/xapi'
import { errorCode, errorMessage, sleep } from '@strata/core'
import type { ServerLog } from '../server-log.js'
import { checkClock, xapiServerTime, type ClockState } from './clock-check.js'
import type { PoolRecord } from './pool-store.js'

/** A certificate refused: the one pinned (none on a first contact) and the one presented. */
export interface CertificateProblem {
  readonly host: string
  readonly expected?: string
  readonly seen?: SeenCertificate
  /** The command that prints the host's fingerprint, on the host. */
  readonly check: string
}

export interface PoolState {
  readonly connected: boolean
  readonly error?: string
  readonly errorCode?: string
  readonly certificate?: CertificateProblem
  /** When the next attempt to connect is due (ms since the epoch), while not connected. */
  readonly nextAttempt?: number
}

/** The delays between attempts to connect: doubling from `firstMs`, never more than `maxMs`. */
export interface ReconnectDelays {
  readonly firstMs: number
  readonly maxMs: number
}
export const RECONNECT_DEFAULTS: ReconnectDelays = { firstMs: 5000, maxMs: 300_000 }

/** The delay after the failed attempt number `attempt` (0-based). */
export function reconnectDelay(attempt: number, { firstMs, maxMs }: ReconnectDelays): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(attempt, 30))
}

class LiveConnection {
  readonly stopped = new AbortController()
  client: XapiClient | undefined
  events: XapiEventLoop | undefined
  ready = false
  error: unknown
  clock: ClockState | undefined
  nextAttempt: number | undefined
  readonly done: Promise<void>

  constructor(
    readonly pool: PoolRecord,
    password: string,
    readonly log: ServerLog,
    readonly delays: ReconnectDelays,
  ) {
    this.done = this.#run(password)
  }

  async #run(password: string): Promise<void> {
    const signal = this.stopped.signal
    for (let attempt = 0; !signal.aborted; attempt++) {
      const client = this.#newClient(password)
      if (client === undefined || (await this.#connect(client, attempt, signal)) || signal.aborted) return
      const delay = reconnectDelay(attempt, this.delays)
      this.nextAttempt = Date.now() + delay
      await sleep(delay, signal).catch(() => undefined)
      this.nextAttempt = undefined
    }
  }

  #newClient(password: string): XapiClient | undefined {
    try {
      return new XapiClient({
        url: this.pool.url,
        user: this.pool.username,
        password,
        originator: 'strata-server',
        fingerprint: this.pool.fingerprint,
        insecureHttp: this.pool.insecureHttp,
      })
    } catch (error) {
      // Plain HTTP not allowed (a pool from before pinning): nothing to retry until an admin decides.
      this.error = error
      this.log.warn(`pool '${this.pool.name}' refused: ${errorMessage(error)}`)
      return undefined
    }
  }

  /** One attempt; true once connected. */
  async #connect(client: XapiClient, attempt: number, signal: AbortSignal): Promise<boolean> {
    try {
      await client.connect(signal)
      const events = new XapiEventLoop(client, { pollSeconds: 30 })
      events.subscribe('pool', 'host', 'sr', 'network', 'vm')
      await events.ready(signal)
      this.client = client
      this.events = events
      this.ready = true
      this.error = undefined
      this.log.info(`pool '${this.pool.name}' connected (${this.pool.url})`)
      this.clock = await checkClock(this.pool.url, (s) => xapiServerTime(client, s), signal)
      if (this.clock?.warning !== undefined) this.log.warn(this.clock.warning)
      return true
    } catch (error) {
      await client.close().catch(() => undefined)
      if (signal.aborted) return false
      // Logged at the first failure and whenever it changes (a certificate that changes shows at once).
      if (attempt === 0 || !sameError(this.error, error))
        this.log.warn(
          `pool '${this.pool.name}' not connected: ${errorMessage(error)}; retrying, ` +
            `every ${this.delays.firstMs / 1000} s doubling up to ${this.delays.maxMs / 1000} s`,
        )
      this.error = error
      return false
    }
  }

  async stop(): Promise<void> {
    this.stopped.abort()
    await this.done
    await this.events?.stop().catch(() => undefined)
    await this.client?.close().catch(() => undefined)
  }
}

export class PoolConnections {
  readonly #live = new Map<string, LiveConnection>()

  constructor(
    readonly log: ServerLog,
    readonly delays: ReconnectDelays = RECONNECT_DEFAULTS,
  ) {}

  /** (Re)connects a pool: after a create, or an update of its URL or credentials. */
  async connect(pool: PoolRecord, password: string): Promise<void> {
    await this.disconnect(pool.id)
    this.#live.set(pool.id, new LiveConnection(pool, password, this.log, this.delays))
  }

  async disconnect(id: string): Promise<void> {
    const live = this.#live.get(id)
    this.#live.delete(id)
    await live?.stop()
  }

  state(id: string): PoolState {
    const live = this.#live.get(id)
    if (live === undefined) return { connected: false, error: 'not connected' }
    const connected = live.ready && live.events!.cache.size > 0
    if (connected) return { connected }
    // Connected once, then lost: the event loop knows why (a changed certificate shows there).
    const error = live.error ?? live.events?.error
    const next = live.nextAttempt === undefined ? {} : { nextAttempt: live.nextAttempt }
    return error === undefined ? { connected: false } : { connected: false, ...describeError(error), ...next }
  }

  /** The object cache of a connected pool, or undefined (also while its event loop is failing). */
  cache(id: string): ObjectCache | undefined {
    const live = this.#live.get(id)
    return live?.ready === true && live.events!.error === undefined ? live.events!.cache : undefined
  }

  client(id: string): XapiClient | undefined {
    return this.#live.get(id)?.client
  }

  /** Waits a little for a new connection to succeed or fail, so that the answer to a create says which. */
  async settle(id: string, ms: number): Promise<void> {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      const state = this.state(id)
      if (state.connected || state.error !== undefined) return
      await sleep(50)
    }
  }

  /** The latest clock comparison with a connected pool. */
  clock(): ClockState | undefined {
    const states = [...this.#live.values()].map((l) => l.clock).filter((c) => c !== undefined)
    return states.sort((a, b) => b.checked - a.checked)[0]
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.#live.keys()].map((id) => this.disconnect(id)))
  }
}

function describeError(error: unknown): Omit<PoolState, 'connected'> {
  const described = { error: errorMessage(error), errorCode: errorCode(error) }
  if (!(error instanceof PoolCertificateError)) return described
  const certificate = {
    host: error.host,
    check: CHECK_ON_HOST,
    ...(error.expected === undefined ? {} : { expected: error.expected }),
    ...(error.seen === undefined ? {} : { seen: error.seen }),
  }
  return { ...described, certificate }
}

/** The same failure again (same code and text): logged once, not at every retry. */
function sameError(a: unknown, b: unknown): boolean {
  return a !== undefined && errorCode(a) === errorCode(b) && errorMessage(a) === errorMessage(b)
}
