// A counting semaphore: bounds how many operations run at once (connections, transfers, requests).
import { AbortedError } from './errors.js'

interface Waiter {
  resolve: () => void
  reject: (error: unknown) => void
  signal: AbortSignal | undefined
  onAbort: () => void
}

export class Semaphore {
  #available: number
  readonly #waiters: Waiter[] = []

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`semaphore capacity ${capacity}`)
    this.#available = capacity
  }

  get pending(): number {
    return this.#waiters.length
  }

  acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError(signal.reason))
    if (this.#available > 0 && this.#waiters.length === 0) {
      this.#available--
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(waiter)
          if (i !== -1) this.#waiters.splice(i, 1)
          reject(new AbortedError(signal?.reason))
        },
      }
      signal?.addEventListener('abort', waiter.onAbort, { once: true })
      this.#waiters.push(waiter)
    })
  }

  release(): void {
    const next = this.#waiters.shift()
    if (next === undefined) {
      this.#available++
      return
    }
    next.signal?.removeEventListener('abort', next.onAbort)
    next.resolve()
  }

  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal)
    try {
      return await fn()
    } finally {
      this.release()
    }
  }
}
