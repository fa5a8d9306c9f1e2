// One PoolLimits per pool per process: every run in this process that touches a pool shares its
// semaphores, so two jobs at once still take at most N snapshots and M transfers on that pool together.
import { createPoolLimits, type PoolLimits } from './limits.js'

export type PoolLimitSizes = Parameters<typeof createPoolLimits>[0]

export class LimitsRegistry {
  readonly #pools = new Map<string, PoolLimits>()

  constructor(readonly sizes: PoolLimitSizes = {}) {}

  /** The limits of a pool, keyed by its uuid (or, before login, its URL). Created on first use. */
  forPool(key: string): PoolLimits {
    let limits = this.#pools.get(key)
    if (limits === undefined) this.#pools.set(key, (limits = createPoolLimits(this.sizes)))
    return limits
  }
}

/** The registry of this process, shared by every run it executes. */
export const processLimits = new LimitsRegistry()
