// One event.from loop per pool. It asks only for the classes somebody subscribed to and feeds an
// ObjectCache; when the connection is lost the cache is emptied (no ghost objects) and the loop starts
// again from an empty token once the pool answers.
import { anySignal, sleep } from '../shared/index.js'
import { ObjectCache, type XapiRecord } from './object-cache.js'
import type { XapiClient } from './xapi-client.js'
import { isXapiError } from './xapi-error.js'

interface EventBatch {
  events: { class: string; operation: 'add' | 'mod' | 'del'; ref: string; snapshot?: XapiRecord }[]
  token: string
}

export interface EventLoopOptions {
  /** Long-poll timeout sent to event.from (seconds). */
  pollSeconds?: number
  retryDelayMs?: number
  log?: (message: string, fields?: Record<string, unknown>) => void
}

export class XapiEventLoop {
  readonly cache = new ObjectCache()
  readonly #classes = new Set<string>()
  #restart = new AbortController()
  #stopped = new AbortController()
  #running: Promise<void> | undefined
  /** Resolves the first time the cache holds every subscribed class. */
  #ready = deferred()
  #error: unknown

  constructor(
    readonly client: XapiClient,
    readonly options: EventLoopOptions = {},
  ) {}

  /** Adds classes to the subscription (restarting the long-poll if they are new). */
  subscribe(...classes: string[]): void {
    const before = this.#classes.size
    for (const c of classes) this.#classes.add(c.toLowerCase())
    if (this.#classes.size !== before) {
      this.#ready = deferred()
      this.#restart.abort()
    }
    this.#running ??= this.#loop()
  }

  /** Waits until the cache reflects every subscribed class. */
  ready(signal?: AbortSignal): Promise<void> {
    return signal === undefined
      ? this.#ready.promise
      : Promise.race([this.#ready.promise, sleep(2 ** 31 - 1, signal)])
  }

  /** Why the latest poll failed (e.g. a changed certificate); undefined once one succeeds. */
  get error(): unknown {
    return this.#error
  }

  async stop(): Promise<void> {
    this.#stopped.abort()
    this.#restart.abort()
    await this.#running
    this.cache.clear()
  }

  async #loop(): Promise<void> {
    let token = ''
    // One combined signal per restart, not per poll: each one adds listeners to #stopped that would
    // pile up over the life of a long-running loop.
    let signal = anySignal(this.#restart.signal, this.#stopped.signal)
    while (!this.#stopped.signal.aborted) {
      if (this.#restart.signal.aborted) {
        this.#restart = new AbortController()
        token = ''
        signal = anySignal(this.#restart.signal, this.#stopped.signal)
      }
      try {
        const classes = [...this.#classes]
        const batch = await this.client.call<EventBatch>(
          'event.from',
          [classes, token, this.options.pollSeconds ?? 30],
          signal,
        )
        if (token === '') this.cache.clear()
        for (const e of batch.events) {
          this.cache.apply({ operation: e.operation, class: e.class, ref: e.ref, record: e.snapshot })
        }
        token = batch.token
        this.#error = undefined
        this.#ready.resolve()
      } catch (error) {
        if (this.#stopped.signal.aborted || this.#restart.signal.aborted) continue
        token = ''
        if (!isXapiError(error, 'SESSION_INVALID')) {
          this.#error = error
          // Lost contact: what we saw may be gone. Empty the cache rather than show ghosts.
          this.cache.clear()
          this.options.log?.('xapi event loop lost the pool, retrying', { error: String(error) })
          await sleep(this.options.retryDelayMs ?? 1000, this.#stopped.signal).catch(() => undefined)
        }
      }
    }
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}
