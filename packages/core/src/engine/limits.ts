// Per-pool concurrency limits. One PoolLimits per pool per process: every run against that pool shares it,
// so two jobs at once still take at most `snapshots` snapshots and `transfers` disk transfers together.
import { Semaphore } from '../shared/index.js'

export interface PoolLimits {
  readonly snapshots: Semaphore
  readonly transfers: Semaphore
  readonly exports: Semaphore
}

export const DEFAULT_POOL_LIMITS = { snapshots: 2, transfers: 12, exports: 2 } as const

export function createPoolLimits(
  o: { snapshots?: number; transfers?: number; exports?: number } = {},
): PoolLimits {
  return {
    snapshots: new Semaphore(o.snapshots ?? DEFAULT_POOL_LIMITS.snapshots),
    transfers: new Semaphore(o.transfers ?? DEFAULT_POOL_LIMITS.transfers),
    exports: new Semaphore(o.exports ?? DEFAULT_POOL_LIMITS.exports),
  }
}
