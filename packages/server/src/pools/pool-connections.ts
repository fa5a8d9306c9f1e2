// One live connection per pool: an XAPI session and an event.from loop feeding an object cache, which
// the API reads (objects, smart-selection previews) and which tells whether the pool is connected. A pool
// that cannot be reached is retried with a growing delay; the event loop itself re-syncs after a drop.
import { XapiClient, XapiEventLoop, type ObjectCache } from '@strata/core/xapi'
import { errorMessage, sleep } from '@strata/core'
import type { ServerLog } from '../server-log.js'
import { checkClock, type ClockState } from './clock-check.js'
import type { PoolRecord } from './pool-store.js'

export interface PoolState {
  readonly connected: boolean
  readonly error?: string
}

class LiveConnection {
  readonly stopped = new AbortController()
  client: XapiClient | undefined
  events: XapiEventLoop | undefined
  ready = false
  error: string | undefined
  clock: ClockState | undefined
  readonly done: Promise<void>

  constructor(
    readonly pool: PoolRecord,
    password: string,
    readonly log: ServerLog,
  ) {
    this.done = this.#run(password)
  }

  async #run(password: string): Promise<void> {
    const signal = this.stopped.signal
    for (let attempt = 0; !signal.aborted; attempt++) {
      const client = new XapiClient({
        url: this.pool.url,
        user: this.pool.username,
        password,
        originator: 'strata-server',
      })
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
        this.clock = await checkClock(this.pool.url, signal)
        if (this.clock?.warning !== undefined) this.log.warn(this.clock.warning)
        return
      } catch (error) {
        await client.close().catch(() => undefined)
        if (signal.aborted) return
        this.error = errorMessage(error)
        if (attempt === 0) this.log.warn(`pool '${this.pool.name}' unreachable: ${this.error}; retrying`)
        await sleep(Math.min(60_000, 1000 * 2 ** Math.min(attempt, 6)), signal).catch(() => undefined)
      }
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

  constructor(readonly log: ServerLog) {}

  /** (Re)connects a pool: after a create, or an update of its URL or credentials. */
  async connect(pool: PoolRecord, password: string): Promise<void> {
    await this.disconnect(pool.id)
    this.#live.set(pool.id, new LiveConnection(pool, password, this.log))
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
    return live.error === undefined ? { connected: false } : { connected: false, error: live.error }
  }

  /** The object cache of a connected pool, or undefined. */
  cache(id: string): ObjectCache | undefined {
    const live = this.#live.get(id)
    return live?.ready === true ? live.events!.cache : undefined
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
