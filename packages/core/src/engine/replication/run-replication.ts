// The VMs of a replication run: each its own task, `vmConcurrency` at a time, retried N times (each retry a
// warning), replicated to every target SR whose pool answered, then the schedule's health check of the
// new replica (a clone of it booted). Like backups, a VM's failure is its own: the run goes on.
import { Semaphore, errorCode, errorMessage, sleep, type TaskContext } from '../../shared/index.js'
import { checkReplicaAfterRun, wantsCheck, type AfterRunCheck } from '../health/after-run.js'
import type { Job, Schedule } from '../job.js'
import type { PoolLimits } from '../limits.js'
import type { PoolSession } from '../pool-session.js'
import { replicaKeys } from './replica-keys.js'
import type { VmOutcome } from '../run-vm.js'
import type { SelectedVm } from '../selection.js'
import { TaskWarning, statusOf, toTaskError } from '../task-tree.js'
import type {
  ReplicaTargetSession,
  VmReplicationResult,
  VmReplicationSettings,
  replicateVm,
} from './replicate-vm.js'

export interface ReplicationRunContext {
  readonly task: TaskContext
  readonly job: Job
  readonly schedule: Schedule | undefined
  readonly runId: string
  readonly pools: readonly PoolSession[]
  readonly limits: (poolUuid: string) => PoolLimits
  readonly replicateVm: typeof replicateVm
  readonly retryDelayMs: number
  readonly healthCheckOwner?: string
  readonly outcomes: VmOutcome[]
}

/** The job's targets whose pool answered (the others fail the run at its end, as unreachable). */
export function targetSessions(job: Job, pools: readonly PoolSession[]): ReplicaTargetSession[] {
  const out: ReplicaTargetSession[] = []
  for (const t of job.targets) {
    const session = pools.find((p) => p.poolId === t.pool)
    if (session === undefined) continue
    const name = job.pools.find((p) => p.id === t.pool)?.name
    out.push({
      poolId: t.pool,
      ...(name === undefined ? {} : { poolName: name }),
      xapi: session.xapi,
      srUuid: t.sr,
      ...(t.networks === undefined ? {} : { networks: t.networks }),
    })
  }
  return out
}

/**
 * The selected VMs that are replicas (of any job, Strata's or XO's: their keys say so) set apart: a smart
 * selection over the target pool would otherwise replicate the replicas of the previous runs.
 */
export function splitReplicas(
  vms: readonly SelectedVm[],
  pools: readonly Pick<PoolSession, 'poolId' | 'cache'>[],
): { sources: SelectedVm[]; replicas: SelectedVm[] } {
  const isReplica = (vm: SelectedVm): boolean => {
    const pool = pools.find((p) => p.poolId === vm.poolId)
    const record = [...(pool?.cache.all('vm').values() ?? [])].find((r) => r.uuid === vm.uuid)
    return record !== undefined && replicaKeys(record) !== undefined
  }
  return { sources: vms.filter((v) => !isReplica(v)), replicas: vms.filter(isReplica) }
}

export async function replicateSelected(
  ctx: ReplicationRunContext,
  vms: readonly SelectedVm[],
): Promise<void> {
  const targets = targetSessions(ctx.job, ctx.pools)
  const { sources, replicas } = splitReplicas(vms, ctx.pools)
  if (replicas.length > 0)
    ctx.task.info(`replicas are not replicated again: ${replicas.map((v) => v.name).join(', ')}`)
  vms = sources
  const concurrency = ctx.job.settings.vmConcurrency === 0 ? vms.length : ctx.job.settings.vmConcurrency
  const slots = new Semaphore(Math.max(1, concurrency))
  await Promise.all(
    vms.map((vm) =>
      slots.run(async () => {
        ctx.outcomes.push(await replicateOne(ctx, targets, vm))
      }),
    ),
  )
}

async function replicateOne(
  ctx: ReplicationRunContext,
  targets: readonly ReplicaTargetSession[],
  vm: SelectedVm,
): Promise<VmOutcome> {
  let attempts = 0
  const pool = ctx.pools.find((p) => p.poolId === vm.poolId)!
  try {
    const replication = await ctx.task.child(
      'VM',
      async (task) => {
        const result = await withRetries(
          task,
          ctx,
          vm,
          () => attempts++,
          (settings) => ctx.replicateVm(task, pool.xapi, ctx.limits(pool.uuid), vm.uuid, targets, settings),
        )
        const { full, bytesRead, bytesWritten, bytesSent, replicas, memory } = result
        task.set({ full, bytesRead, bytesWritten, bytesSent, replicas, memory })
        await checkAfterReplication(task, ctx, vm, result)
        return result
      },
      { uuid: vm.uuid, name: vm.name, pool: vm.poolId },
    )
    return { uuid: vm.uuid, name: vm.name, status: 'success', attempts, replication }
  } catch (error) {
    const done = error instanceof TaskWarning ? { replication: error.result as VmReplicationResult } : {}
    return {
      uuid: vm.uuid,
      name: vm.name,
      status: statusOf(error),
      attempts,
      ...done,
      error: toTaskError(error),
    }
  }
}

async function withRetries(
  task: TaskContext,
  ctx: ReplicationRunContext,
  vm: SelectedVm,
  counted: () => void,
  attempt: (settings: VmReplicationSettings) => Promise<VmReplicationResult>,
): Promise<VmReplicationResult> {
  const retries = ctx.job.settings.retries
  for (let n = 1; ; n++) {
    counted()
    try {
      return await attempt(settingsOf(ctx))
    } catch (error) {
      if (n > retries || task.signal.aborted) throw error
      task.warn(
        `retrying the replication of VM '${vm.name}' after an error (attempt ${n + 1} of ${retries + 1})`,
        {
          isRetry: true,
          code: errorCode(error),
          error: errorMessage(error),
        },
      )
      await sleep(ctx.retryDelayMs * n, task.signal)
    }
  }
}

function settingsOf(ctx: ReplicationRunContext): VmReplicationSettings {
  const s = ctx.job.settings
  const policy = ctx.schedule?.retention
  return {
    runId: ctx.runId,
    jobId: ctx.job.id,
    jobName: ctx.job.name,
    scheduleId: ctx.schedule?.id,
    mode: s.mode,
    offline: s.offline,
    withMemory: s.withMemory,
    preferNbd: s.preferNbd,
    nbdConnections: s.nbdConnections,
    maxBytesPerSecond: s.maxBytesPerSecond,
    snapshotRetention: ctx.schedule?.snapshotRetention ?? 1,
    changedBlocks: s.changedBlocks,
    ...(policy === undefined ? {} : { retention: { policy, timeZone: ctx.schedule?.timezone ?? 'UTC' } }),
  }
}

/** The schedule's health check of the first replica made, on its pool. */
async function checkAfterReplication(
  task: TaskContext,
  ctx: ReplicationRunContext,
  vm: SelectedVm,
  result: VmReplicationResult,
): Promise<void> {
  const policy = ctx.schedule?.healthCheck
  const replica = result.replicas[0]
  const session = ctx.pools.find((p) => p.poolId === replica?.pool)
  if (policy === undefined || replica === undefined || session === undefined) return
  const source = ctx.pools.find((p) => p.poolId === vm.poolId)!
  if (!(await wantsCheck(policy, source.xapi, vm.uuid, task.signal))) return
  const check: AfterRunCheck = {
    policy,
    xapi: session.xapi,
    limits: ctx.limits(session.uuid),
    ...(ctx.healthCheckOwner === undefined ? {} : { owner: ctx.healthCheckOwner }),
  }
  const ref = await session.xapi.call<string>('VM.get_by_uuid', [replica.vmUuid], task.signal)
  await checkReplicaAfterRun(task, check, { vm: ref, uuid: replica.vmUuid, vmName: vm.name }, result)
}
