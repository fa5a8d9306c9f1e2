// Retention on the target pool: a schedule's policy (retention/) judges the restore points of a delta
// replication, or the replica VMs of a full one, of one job, schedule, source VM and SR; the rejected
// ones are destroyed with their disks and memory images. What this run made is always kept, and a
// replica that was failed over (running) is never destroyed.
import { applyRetention, type RetentionPolicy } from '../../retention/index.js'
import type { TaskContext } from '../../shared/index.js'
import type { Ref, XapiClient } from '../../xapi/index.js'
import type { ReplicaObject } from './replica-find.js'
import { parseReplicaTime } from './replica-keys.js'
import { destroyReplica } from './replica-vm.js'

export interface ReplicaRetention {
  readonly policy: RetentionPolicy
  readonly timeZone: string
  /** What this run made. */
  readonly protect: Ref
}

export async function applyReplicaRetention(
  task: TaskContext,
  xapi: XapiClient,
  objects: readonly ReplicaObject[],
  o: ReplicaRetention,
  signal: AbortSignal,
): Promise<{ kept: number; removed: number }> {
  const items = objects.map((x) => ({ id: x.ref, time: parseReplicaTime(x.keys.datetime) }))
  const decision = applyRetention(items, o.policy, o.timeZone)
  let removed = 0
  for (const ref of decision.remove) {
    if (ref === o.protect) continue
    const name = String(objects.find((x) => x.ref === ref)?.record.name_label ?? ref)
    if (await destroyReplica(xapi, ref, signal)) removed++
    else task.warn(`'${name}' is running (failed over): retention leaves it`)
  }
  return { kept: objects.length - removed, removed }
}
