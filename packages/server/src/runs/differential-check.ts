// Whether a restore point can be restored onto its own VM, rewriting only what differs: asked of the
// pool over the server's live connection (its object cache holds no VBDs or VDIs). The UI asks before it
// offers the choice; a restore asking for it is refused here, with the reason, before a worker starts.
import { DifferentialRestoreError, findInPlaceTarget } from '@strata/core/restore'
import type { Manifest } from '@strata/core/repository'
import type { DifferentialCheck } from '@strata/contract'
import { ApiError } from '../errors.js'
import type { PoolConnections } from '../pools/pool-connections.js'
import type { PoolRecord } from '../pools/pool-store.js'

/** The answer for the UI: possible, or the code and the reason why not. */
export async function differentialCheck(
  connections: PoolConnections,
  pool: PoolRecord,
  manifest: Manifest,
  signal: AbortSignal,
): Promise<DifferentialCheck> {
  try {
    const { vmUuid, vmName } = await findInPlaceTarget(client(connections, pool), manifest, signal)
    return { possible: true, vmUuid, vmName }
  } catch (error) {
    if (!(error instanceof DifferentialRestoreError)) throw error
    return { possible: false, code: error.code, reason: error.message }
  }
}

/** Refuses (409, with the reason's code) a differential restore that cannot be. */
export async function checkInPlace(
  connections: PoolConnections,
  pool: PoolRecord,
  manifest: Manifest,
  signal: AbortSignal,
): Promise<void> {
  const check = await differentialCheck(connections, pool, manifest, signal)
  if (!check.possible) throw new ApiError(409, check.code!, check.reason!)
}

function client(connections: PoolConnections, pool: PoolRecord) {
  const xapi = connections.client(pool.id)
  if (xapi === undefined) throw new ApiError(502, 'POOL_UNREACHABLE', `pool '${pool.name}' is not connected`)
  return xapi
}
