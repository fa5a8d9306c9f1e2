// The two health checks: of a restore point (restored to a chosen SR as a VM without network) and of a
// replica or a replica's restore point (a fast clone of it, VIFs removed, not a replica any more). Either
// way the VM is tagged from its creation, started, waited for (health-check.ts), and destroyed with its
// disks and memory image whatever happened: nothing is left, not even after a failed restore.
import type { Repository } from '../../repository/index.js'
import type { TaskContext } from '../../shared/index.js'
import { cloneVm, refByUuid, type Ref, type XapiClient, type XapiRecord } from '../../xapi/index.js'
import type { PoolLimits } from '../limits.js'
import { restoreVm } from '../vm-restore.js'
import {
  HEALTH_CHECK_NAME,
  bootAndWait,
  healthCheckTags,
  type HealthCheckOptions,
  type HealthCheckResult,
} from './health-check.js'
import { destroyCheckVm, sweepHealthChecks } from './health-sweep.js'

export interface PointCheck extends HealthCheckOptions {
  readonly repository: Repository
  readonly pointId: string
  /** The SR (uuid or name) the point is restored to. */
  readonly sr: string
}

export async function healthCheckPoint(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  o: PointCheck,
): Promise<HealthCheckResult> {
  await sweepHealthChecks(xapi, {}, task.signal)
  const restored = await restoreVm(task, xapi, limits, {
    repository: o.repository,
    pointId: o.pointId,
    srUuid: o.sr,
    network: false,
    tag: '',
    tags: healthCheckTags(o),
    nameSuffix: ' (health check)',
  })
  const vm = await refByUuid(xapi, 'VM', restored.vmUuid, task.signal)
  try {
    return await bootAndWait(task, xapi, vm, o)
  } finally {
    await destroyCheckVm(xapi, vm)
  }
}

/** Checks a replica VM, or a restore point of one (a snapshot), through a clone of it. */
export async function healthCheckReplica(
  task: TaskContext,
  xapi: XapiClient,
  replica: Ref,
  o: HealthCheckOptions,
): Promise<HealthCheckResult> {
  const { signal } = task
  await sweepHealthChecks(xapi, {}, signal)
  const source = await xapi.call<XapiRecord>('VM.get_record', [replica], signal)
  const clone = await cloneVm(xapi, replica, `${HEALTH_CHECK_NAME}${String(source.name_label)}`, { signal })
  try {
    await xapi.call('VM.set_tags', [clone, healthCheckTags(o)], signal)
    // A clone of a snapshot is a template; of a replica, a replica (its keys, its start blocked).
    if (source.is_a_snapshot === true) await xapi.call('VM.set_is_a_template', [clone, false], signal)
    await xapi.call('VM.set_other_config', [clone, withoutReplicaKeys(source.other_config)], signal)
    for (const vif of await xapi.call<Ref[]>('VM.get_VIFs', [clone], signal))
      await xapi.call('VIF.destroy', [vif], signal)
    task.set({ clone: await xapi.call<string>('VM.get_uuid', [clone], signal) })
    return await bootAndWait(task, xapi, clone, o)
  } finally {
    await destroyCheckVm(xapi, clone)
  }
}

function withoutReplicaKeys(config: unknown): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries((config ?? {}) as Record<string, string>))
    if (!k.startsWith('xo:backup:') && !k.startsWith('strata:replica:') && k !== 'xo:copy_of') out[k] = v
  return out
}
