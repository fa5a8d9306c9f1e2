// A schedule's health check after each VM of a run: of the restore point a backup just wrote (restored
// to the schedule's SR), or of the replica a replication just made (a clone of it). Only VMs with one of
// the schedule's tags are checked (all when it names none). A check that fails does not undo the work:
// the VM ends 'warning' (orange, not green) with what it made, and the check's task says why.
import type { Repository } from '../../repository/index.js'
import type { TaskContext } from '../../shared/index.js'
import type { Ref, XapiClient } from '../../xapi/index.js'
import type { HealthCheckPolicy } from '../job.js'
import type { PoolLimits } from '../limits.js'
import { TaskWarning } from '../task-tree.js'
import type { HealthCheckResult } from './health-check.js'
import { healthCheckPoint, healthCheckReplica } from './health-vm.js'

export interface AfterRunCheck {
  readonly policy: HealthCheckPolicy
  /** The pool the check runs on (the schedule's, else the VM's; for a replica, its pool). */
  readonly xapi: XapiClient
  readonly limits: PoolLimits
  /** Who runs it (a server's id), so that it sweeps its own leftovers when it starts again. */
  readonly owner?: string
}

/** Whether the VM is one the schedule checks: it has one of the policy's tags (any VM without tags). */
export async function wantsCheck(
  policy: HealthCheckPolicy,
  xapi: XapiClient,
  vmUuid: string,
  signal: AbortSignal,
): Promise<boolean> {
  if (policy.tags.length === 0) return true
  const vm = await xapi.call<Ref>('VM.get_by_uuid', [vmUuid], signal)
  const tags = await xapi.call<string[]>('VM.get_tags', [vm], signal)
  return tags.some((t) => policy.tags.includes(t))
}

export async function checkPointAfterRun(
  task: TaskContext,
  check: AfterRunCheck,
  point: { repository: Repository; pointId: string; vmName: string },
  result: unknown,
): Promise<void> {
  const sr = check.policy.sr
  if (sr === undefined) return
  const options = {
    timeoutMs: check.policy.timeoutMs,
    guestCheck: check.policy.guestCheck,
    owner: check.owner,
  }
  await runCheck(task, point.vmName, result, { point: point.pointId, sr }, (t) =>
    healthCheckPoint(t, check.xapi, check.limits, { ...options, ...point, sr }),
  )
}

export async function checkReplicaAfterRun(
  task: TaskContext,
  check: AfterRunCheck,
  replica: { vm: Ref; uuid: string; vmName: string },
  result: unknown,
): Promise<void> {
  const options = {
    timeoutMs: check.policy.timeoutMs,
    guestCheck: check.policy.guestCheck,
    owner: check.owner,
  }
  await runCheck(task, replica.vmName, result, { replica: replica.uuid }, (t) =>
    healthCheckReplica(t, check.xapi, replica.vm, options),
  )
}

async function runCheck(
  task: TaskContext,
  vmName: string,
  result: unknown,
  data: Record<string, unknown>,
  fn: (task: TaskContext) => Promise<HealthCheckResult>,
): Promise<void> {
  try {
    await task.child('health check', fn, data)
  } catch (error) {
    if (task.signal.aborted) throw error
    const reason = error instanceof Error ? error.message : String(error)
    const code = (error as { code?: string }).code ?? 'HEALTH_CHECK_FAILED'
    throw new TaskWarning(code, `the health check of VM '${vmName}' failed: ${reason}`, result, {
      cause: error,
    })
  }
}
