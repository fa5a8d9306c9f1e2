// VM restores from an XO remote as runs of kind 'restore' with a task tree, in the server process over
// its pool connection: a delta point rebuilt by the engine's rebuildVm from the point's records (each
// disk read through its chain), a full point imported as its XVA (core/xo/restore-vm.ts, as `strata xo
// restore-vm`). What a failed or cancelled restore created is removed by it. The pool's transfer limit
// applies as for any restore.
import {
  makeRunId,
  openRunLog,
  processLimits,
  runRootTask,
  statusOf,
  toTaskError,
  type TaskEvent,
} from '@strata/core/engine'
import { openPoint, restoreXoVm } from '@strata/core/xo'
import { ApiError, conflict } from '../errors.js'
import type { PoolConnections } from '../pools/pool-connections.js'
import type { PoolStore } from '../pools/pool-store.js'
import type { RunManager } from '../runs/run-manager.js'
import type { XoRemoteService } from './xo-remote-service.js'

export interface XoRestoreDeps {
  readonly runs: RunManager
  readonly remotes: XoRemoteService
  readonly pools: PoolStore
  readonly connections: PoolConnections
  readonly closing: AbortSignal
}

export interface XoRestoreRequest {
  readonly remoteId: string
  readonly pointId: string
  readonly poolId: string
  readonly srUuid: string
  readonly start?: boolean
}

export class XoRestoreRunner {
  constructor(readonly deps: XoRestoreDeps) {}

  /** Starts a VM restore once the point opens and the pool and SR exist; resolves with its run's id. */
  async start(r: XoRestoreRequest): Promise<string> {
    const { runs, closing } = this.deps
    if (closing.aborted) throw conflict('the server is stopping', 'SERVER_STOPPING')
    const remote = await this.deps.remotes.store.get(r.remoteId)
    const { pool, xapi } = await this.#target(r)
    // Checked before the run starts: an unknown or unusable point is an error answer, not a failed run.
    const summary = await this.deps.remotes.with(remote.id, AbortSignal.timeout(60_000), async (opened) => {
      return (await openPoint(opened, r.pointId)).summary
    })
    const runId = makeRunId()
    const log = await openRunLog(runs.runsDir, runId)
    const jobName = `restore of ${summary.vmName || summary.vm} from XO remote ${remote.name}`
    await runs.beginOther(
      { runId, jobId: 'restore', jobName, kind: 'restore', start: Date.now() },
      { names: { pools: { [pool.id]: pool.name }, repositories: {} } },
    )
    const emit = (event: TaskEvent): void => {
      log.append(event)
      runs.onEvent(runId, event)
    }
    const facts = {
      runId,
      xoRemote: remote.name,
      backup: summary.id,
      pool: pool.name,
      sr: r.srUuid,
      pid: process.pid,
    }
    const limits = processLimits.forPool(xapi.url.host)
    const done = runRootTask(
      { emit, signal: closing },
      'restore',
      (task) =>
        this.deps.remotes.with(remote.id, task.signal, async (opened) => {
          const point = await openPoint(opened, r.pointId, task.signal)
          const options = { srUuid: r.srUuid, start: r.start === true }
          const restored = await limits.transfers.run(
            () => restoreXoVm(task, xapi, opened, point, options),
            task.signal,
          )
          task.set(restored)
          return restored
        }),
      facts,
    )
      .then(
        ({ vmUuid }) =>
          runs.endOther(runId, 'success', undefined, {
            vms: [{ uuid: vmUuid, name: summary.vmName, status: 'success' }],
          }),
        (error: unknown) => runs.endOther(runId, statusOf(error), toTaskError(error)),
      )
      .finally(() => log.close())
    runs.track(done)
    return runId
  }

  /** A connected pool and one of its SRs. */
  async #target(r: XoRestoreRequest) {
    const pool = await this.deps.pools.get(r.poolId)
    const xapi = this.deps.connections.client(pool.id)
    const cache = this.deps.connections.cache(pool.id)
    if (xapi === undefined || cache === undefined)
      throw new ApiError(502, 'POOL_UNREACHABLE', `pool '${pool.name}' is not connected`)
    if (cache.find('sr', { uuid: r.srUuid }).length === 0)
      throw new ApiError(400, 'INVALID_REQUEST', `no SR '${r.srUuid}' on pool '${pool.name}'`, {
        field: 'body/srUuid',
      })
    return { pool, xapi }
  }
}
