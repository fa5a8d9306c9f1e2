// The health checks of this server's runs carry its id (a random one kept in its data directory): a
// check that a stop or a crash cut short left a VM on a pool, which nothing else would remove before its
// time is up. At start, once each pool answers, this server's leftovers are destroyed (health-sweep.ts).
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sweepHealthChecks } from '@strata/core/engine'
import { errorMessage } from '@strata/core'
import type { XapiClient } from '@strata/core/xapi'
import type { ServerLog } from '../server-log.js'

/** This server's id: made at the first start, the same at every later one. */
export function serverId(engineDir: string): string {
  const file = join(engineDir, 'server-id')
  try {
    const id = readFileSync(file, 'utf8').trim()
    if (/^[0-9a-f]{16}$/.test(id)) return id
  } catch {
    // none yet: made below
  }
  mkdirSync(engineDir, { recursive: true, mode: 0o700 })
  const id = randomBytes(8).toString('hex')
  writeFileSync(file, `${id}\n`, { mode: 0o600 })
  return id
}

export interface SweepTarget {
  readonly name: string
  /** The pool's client once it answers (undefined while it does not). */
  client(): XapiClient | undefined
  /** Waits for the pool to answer or fail, up to ms. */
  settle(ms: number): Promise<void>
}

/** Sweeps this server's leftover checks on every pool that answers within a minute; never throws. */
export async function sweepOwnChecks(
  pools: readonly SweepTarget[],
  owner: string,
  log: ServerLog,
  signal: AbortSignal,
): Promise<void> {
  await Promise.all(
    pools.map(async (pool) => {
      try {
        await pool.settle(60_000)
        const client = pool.client()
        if (client === undefined || signal.aborted) return
        const swept = await sweepHealthChecks(client, { owner }, signal)
        if (swept.length > 0)
          log.warn(`pool '${pool.name}': removed health-check VMs a stop cut short: ${swept.join(', ')}`)
      } catch (error) {
        if (!signal.aborted)
          log.warn(`pool '${pool.name}': health-check sweep failed: ${errorMessage(error)}`)
      }
    }),
  )
}
