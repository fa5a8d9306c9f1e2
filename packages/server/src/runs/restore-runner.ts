// Restores run in the server process (the data flows from the repository to the pool, no job lock is
// involved) as runs of their own: a task tree written to the engine's run log format, so that the logs
// view reads backups and restores alike.
import {
  findRestorePoint,
  makeRunId,
  openRunLog,
  processLimits,
  restoreDiskToSr,
  restoreVm,
  runRootTask,
  statusOf,
  toTaskError,
  pointVmName,
} from '@strata/core/engine'
import { formatPointRef, readManifest, type Repository } from '@strata/core/repository'
import type { TaskContext } from '@strata/core'
import { ApiError } from '../errors.js'
import type { PoolConnections } from '../pools/pool-connections.js'
import type { PoolStore } from '../pools/pool-store.js'
import type { RepositoryService } from '../repositories/repository-service.js'
import type { RepositoryStore } from '../repositories/repository-store.js'
import type { Settings } from '../settings.js'
import type { RunManager } from './run-manager.js'

export interface RestoreRequest {
  readonly repositoryId: string
  readonly pointId: string
  readonly kind: 'vm' | 'disk'
  readonly poolId: string
  readonly srUuid: string
  readonly disk?: number
  readonly start?: boolean
}

export interface RestoreDeps {
  readonly runs: RunManager
  readonly pools: PoolStore
  readonly connections: PoolConnections
  readonly repositories: RepositoryStore
  readonly repositoryService: RepositoryService
  readonly settings: Pick<Settings, 'restoreTag'>
  readonly closing: AbortSignal
}

export async function startRestore(deps: RestoreDeps, r: RestoreRequest): Promise<string> {
  const target = checkTarget(deps, r)
  const { repoRecord, pool } = target
  const signal = AbortSignal.timeout(60_000)
  const repository = await deps.repositoryService.open(repoRecord.id, signal)
  const ref = await findRestorePoint(repository, r.pointId, undefined, signal).catch((error: unknown) => {
    throw new ApiError(404, 'NOT_FOUND', (error as Error).message)
  })
  const source = pointVmName(await readManifest(repository, ref, signal))
  const point = formatPointRef(ref)
  const runId = makeRunId()
  const log = await openRunLog(deps.runs.runsDir, runId)
  // A restore run is named after the VM it restores.
  const jobName = r.kind === 'vm' ? `restore of ${source}` : `restore of disk ${r.disk!} of ${source}`
  const names = { pools: { [pool.id]: pool.name }, repositories: { [repoRecord.id]: repoRecord.name } }
  deps.runs.beginOther({ runId, jobId: 'restore', jobName, kind: 'restore', start: Date.now() }, { names })
  const emit = (event: Parameters<typeof log.append>[0]): void => {
    log.append(event)
    deps.runs.onEvent(runId, event)
  }
  const data = { runId, jobId: 'restore', jobName, kind: r.kind, source, point, pid: process.pid }
  const done = runRootTask(
    { emit, signal: deps.closing },
    'restore',
    (task) => restore(task, deps, target, { ...r, pointId: point }, repository),
    { ...data, repository: repoRecord.name, pool: pool.name, sr: r.srUuid },
  )
    .then(
      (result) => {
        emit({ type: 'set', id: '0', data: result, time: Date.now() })
        const vm = typeof result.vmUuid === 'string' ? result : undefined
        const vms = vm && [{ uuid: String(vm.vmUuid), name: String(vm.vmName), status: 'success' as const }]
        deps.runs.endOther(runId, 'success', undefined, vms ? { vms } : undefined)
      },
      (error: unknown) => deps.runs.endOther(runId, statusOf(error), toTaskError(error)),
    )
    .finally(() => log.close())
  deps.runs.track(done)
  return runId
}

interface Target {
  readonly repoRecord: ReturnType<RepositoryStore['get']>
  readonly pool: ReturnType<PoolStore['get']>
  readonly xapi: NonNullable<ReturnType<PoolConnections['client']>>
  readonly cache: NonNullable<ReturnType<PoolConnections['cache']>>
}

/** The request names things that exist: a repository, a connected pool, one of its SRs. */
function checkTarget(deps: RestoreDeps, r: RestoreRequest): Target {
  const repoRecord = deps.repositories.get(r.repositoryId)
  const pool = deps.pools.get(r.poolId)
  const xapi = deps.connections.client(pool.id)
  const cache = deps.connections.cache(pool.id)
  if (xapi === undefined || cache === undefined)
    throw new ApiError(502, 'POOL_UNREACHABLE', `pool '${pool.name}' is not connected`)
  if (cache.find('sr', { uuid: r.srUuid }).length === 0) {
    const srs = [...cache.all('sr').values()].filter((sr) => sr.content_type !== 'iso')
    const list = srs.map((sr) => `'${String(sr.name_label)}' (${String(sr.uuid)})`).join(', ') || 'none'
    const message = `no SR '${r.srUuid}' on pool '${pool.name}'; its SRs: ${list}`
    throw new ApiError(400, 'INVALID_REQUEST', message, { field: 'body/srUuid' })
  }
  if (r.kind === 'disk' && r.disk === undefined)
    throw new ApiError(400, 'INVALID_REQUEST', "body/disk is needed for kind 'disk'", { field: 'body/disk' })
  return { repoRecord, pool, xapi, cache }
}

function restore(
  task: TaskContext,
  deps: RestoreDeps,
  { pool, xapi, cache }: Target,
  r: RestoreRequest,
  repository: Repository,
): Promise<Record<string, unknown>> {
  const [poolRecord] = cache.all('pool').values()
  const limits = processLimits.forPool(String(poolRecord?.uuid ?? pool.url))
  const { pointId, srUuid } = r
  return r.kind === 'vm'
    ? restoreVm(task, xapi, limits, {
        repository,
        pointId,
        srUuid,
        start: r.start === true,
        tag: deps.settings.restoreTag(),
      })
    : restoreDiskToSr(task, xapi, limits, { repository, pointId, disk: r.disk!, srUuid })
}
