// A token bucket for bytes per second. Callers reserve bytes and wait for them; the bucket may go into
// debt (a read's size is known only after it), which later callers pay by waiting longer.
import { sleep } from '../shared/index.js'

export class RateLimiter {
  #tokens: number
  #updated: number

  constructor(
    readonly bytesPerSecond: number,
    /** Burst allowance (default one second's worth). */
    readonly capacity = bytesPerSecond,
    readonly now: () => number = () => performance.now(),
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`rate limit ${bytesPerSecond} B/s`)
    this.#tokens = capacity
    this.#updated = now()
  }

  /** Reserves `bytes` and resolves once they are within the rate. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const wait = this.reserve(bytes)
    if (wait > 0) await sleep(wait, signal)
  }

  /** Reserves `bytes` now and returns how many milliseconds the caller should wait. */
  reserve(bytes: number): number {
    const now = this.now()
    this.#tokens = Math.min(
      this.capacity,
      this.#tokens + ((now - this.#updated) * this.bytesPerSecond) / 1000,
    )
    this.#updated = now
    this.#tokens -= bytes
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.bytesPerSecond
  }
}
