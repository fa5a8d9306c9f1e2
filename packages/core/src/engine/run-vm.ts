// One VM of a run: its task, its attempts (a failed backup is retried N times, each retry a warning on
// the VM task), then retention of this schedule's restore points in every repository that got one.
import { errorCode, errorMessage, sleep, type TaskContext, type TaskStatus } from '../shared/index.js'
import { isResumable } from '../repository/index.js'
import type { XapiClient } from '../xapi/index.js'
import type { Job, Schedule } from './job.js'
import type { PoolLimits } from './limits.js'
import { applyScheduleRetention } from './apply-retention.js'
import { checkPointAfterRun, wantsCheck, type AfterRunCheck } from './health/after-run.js'
import type { VmReplicationResult } from './replication/replicate-vm.js'
import { ResumeJournal } from './resume-journal.js'
import type { SelectedVm } from './selection.js'
import { TaskWarning, statusOf, toTaskError, type TaskError } from './task-tree.js'
import type { BackupTarget, VmBackupResult, VmBackupSettings, backupVm } from './vm-backup.js'

export interface VmRunContext {
  readonly job: Job
  readonly runId: string
  readonly schedule: Schedule | undefined
  readonly targets: readonly BackupTarget[]
  readonly xapi: XapiClient
  readonly limits: PoolLimits
  readonly backupVm: typeof backupVm
  /** Whether this VM's run must be full (forced full every N runs). */
  readonly forceFull: (vmUuid: string) => boolean
  readonly retryDelayMs: number
  /** Where resume journals live (one per VM); none: an interrupted transfer starts over. */
  readonly resumeDir?: string
  /** The schedule's health check of the point written (by the first target). */
  readonly healthCheck?: AfterRunCheck
}

export interface VmOutcome {
  readonly uuid: string
  readonly name: string
  readonly status: TaskStatus
  readonly attempts: number
  /** What a backup wrote (also when a health check of it failed: status 'warning'). */
  readonly result?: VmBackupResult
  /** What a replication made. */
  readonly replication?: VmReplicationResult
  readonly error?: TaskError
}

/** Never throws: a VM's failure is its own, the run goes on with the others. */
export async function runVm(run: TaskContext, ctx: VmRunContext, vm: SelectedVm): Promise<VmOutcome> {
  let attempts = 0
  try {
    const result = await run.child(
      'VM',
      async (task) => {
        const result = await backupWithRetries(task, ctx, vm, () => attempts++)
        const { full, bytesRead, bytesStored, points } = result
        // The points are the run's links to what it wrote (run summaries and reports list them).
        task.set({ full, bytesRead, bytesStored, points })
        await applyRetentionEverywhere(task, ctx, vm, result)
        await checkAfterBackup(task, ctx, vm, result)
        return result
      },
      { uuid: vm.uuid, name: vm.name, pool: vm.poolId },
    )
    return { uuid: vm.uuid, name: vm.name, status: 'success', attempts, result }
  } catch (error) {
    const done = error instanceof TaskWarning ? { result: error.result as VmBackupResult } : {}
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

/** The schedule's health check of the point written in the first target, for the VMs it selects. */
async function checkAfterBackup(
  task: TaskContext,
  ctx: VmRunContext,
  vm: SelectedVm,
  result: VmBackupResult,
): Promise<void> {
  const check = ctx.healthCheck
  const point = result.points[0]
  const target = ctx.targets.find((t) => t.name === point?.target)
  if (check === undefined || point === undefined || target === undefined) return
  if (!(await wantsCheck(check.policy, ctx.xapi, vm.uuid, task.signal))) return
  const checked = { repository: target.repository, pointId: point.pointId, vmName: vm.name }
  await checkPointAfterRun(task, check, checked, result)
}

async function backupWithRetries(
  task: TaskContext,
  ctx: VmRunContext,
  vm: SelectedVm,
  counted: () => void,
): Promise<VmBackupResult> {
  const retries = ctx.job.settings.retries
  let resumed = false
  for (let attempt = 1; ; attempt++) {
    counted()
    try {
      const resume =
        ctx.resumeDir === undefined ? undefined : await ResumeJournal.open(ctx.resumeDir, vm.uuid)
      const settings = { ...vmSettings(ctx, vm), resume }
      const result = await ctx.backupVm(task, ctx.xapi, ctx.limits, vm.uuid, ctx.targets, settings)
      await resume?.discard()
      return result
    } catch (error) {
      // A lapsed repository session loses nothing stored: one attempt more resumes, whatever `retries` says.
      const resumable = isResumable(error)
      const extra = attempt > retries && resumable && !resumed
      if ((attempt > retries && !extra) || task.signal.aborted) throw error
      if (extra) resumed = true
      const what = resumable
        ? `resuming the backup of VM '${vm.name}' from what it stored (attempt ${attempt + 1})`
        : `retrying the backup of VM '${vm.name}' after an error (attempt ${attempt + 1} of ${retries + 1})`
      task.warn(what, { isRetry: true, code: errorCode(error), error: errorMessage(error) })
      await sleep(ctx.retryDelayMs * attempt, task.signal)
    }
  }
}

function vmSettings(ctx: VmRunContext, vm: SelectedVm): VmBackupSettings {
  const s = ctx.job.settings
  return {
    runId: ctx.runId,
    jobId: ctx.job.id,
    scheduleId: ctx.schedule?.id,
    mode: s.mode,
    forceFull: ctx.forceFull(vm.uuid),
    offline: s.offline,
    withMemory: s.withMemory,
    preferNbd: s.preferNbd,
    nbdConnections: s.nbdConnections,
    maxBytesPerSecond: s.maxBytesPerSecond,
    snapshotRetention: ctx.schedule?.snapshotRetention ?? 1,
    changedBlocks: s.changedBlocks,
  }
}

async function applyRetentionEverywhere(
  task: TaskContext,
  ctx: VmRunContext,
  vm: SelectedVm,
  result: VmBackupResult,
): Promise<void> {
  const policy = ctx.schedule?.retention
  if (policy === undefined) return
  for (const point of result.points) {
    const target = ctx.targets.find((t) => t.name === point.target)
    if (target === undefined) continue
    await task.child(
      'retention',
      (t) =>
        applyScheduleRetention(t, target.repository, {
          vmUuid: vm.uuid,
          jobId: ctx.job.id,
          scheduleId: ctx.schedule?.id,
          policy,
          timeZone: ctx.schedule?.timezone ?? 'UTC',
          protect: point.pointId,
        }),
      { target: target.name },
    )
  }
}
