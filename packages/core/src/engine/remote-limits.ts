// The worker side of shared limits: a Semaphore whose slots are granted by the parent process.
import { AbortedError, Semaphore } from '../shared/index.js'
import { createPoolLimits, type PoolLimits } from './limits.js'
import type { FromWorker, LimitKind } from './worker-protocol.js'

export class RemoteLimits {
  #next = 0
  readonly #waiting = new Map<number, () => void>()
  readonly #pools = new Map<string, PoolLimits>()

  constructor(private readonly send: (message: FromWorker) => void) {}

  /** Called with each 'granted' message from the parent. */
  granted(id: number): void {
    const resolve = this.#waiting.get(id)
    this.#waiting.delete(id)
    // A grant that arrives after the request was withdrawn goes straight back.
    if (resolve === undefined) this.send({ type: 'release', id })
    else resolve()
  }

  forPool(pool: string): PoolLimits {
    let limits = this.#pools.get(pool)
    if (limits === undefined) {
      const sizes = createPoolLimits()
      const make = (kind: LimitKind): Semaphore =>
        new RemoteSemaphore(
          sizes[kind].capacity,
          (signal) => this.#acquire(pool, kind, signal),
          (id) => this.send({ type: 'release', id }),
        )
      limits = { snapshots: make('snapshots'), transfers: make('transfers'), exports: make('exports') }
      this.#pools.set(pool, limits)
    }
    return limits
  }

  #acquire(pool: string, kind: LimitKind, signal: AbortSignal | undefined): Promise<number> {
    if (signal?.aborted) return Promise.reject(new AbortedError(signal.reason))
    const id = this.#next++
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        this.#waiting.delete(id)
        this.send({ type: 'release', id })
        reject(new AbortedError(signal?.reason))
      }
      this.#waiting.set(id, () => {
        signal?.removeEventListener('abort', onAbort)
        resolve(id)
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      this.send({ type: 'acquire', id, pool, kind })
    })
  }
}

class RemoteSemaphore extends Semaphore {
  readonly #held: number[] = []

  constructor(
    capacity: number,
    private readonly request: (signal: AbortSignal | undefined) => Promise<number>,
    private readonly giveBack: (id: number) => void,
  ) {
    super(capacity)
  }

  override async acquire(signal?: AbortSignal): Promise<void> {
    this.#held.push(await this.request(signal))
  }

  override release(): void {
    const id = this.#held.shift()
    if (id !== undefined) this.giveBack(id)
  }
}
