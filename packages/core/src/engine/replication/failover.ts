// Replicas as an admin sees them (listReplicas) and failover: the newest replica of a VM, or a chosen
// replica or restore point, started. The replica itself is unblocked and started (resumed when it holds
// memory), and from then on it is a production VM: marked failed over, its replica tag removed, never
// removed nor replaced by later runs. With `clone` (always for a restore point, which cannot run), a fast
// clone is started instead and the replica chain stays as it was. Failback is a replication job the
// other way (docs/replication.md).
import { StrataError, type TaskContext } from '../../shared/index.js'
import { callAsync, cloneVm, type Ref, type XapiClient } from '../../xapi/index.js'
import { allReplicas, type ReplicaObject } from './replica-find.js'
import { REPLICA, REPLICA_TAG, parseReplicaTime, setKeys } from './replica-keys.js'
import { destroyReplica } from './replica-vm.js'

export class ReplicaError extends StrataError {}

export interface ReplicaInfo {
  readonly uuid: string
  readonly name: string
  /** A replica VM, or a restore point (a snapshot of one). */
  readonly kind: 'replica' | 'point'
  readonly sourceVmUuid: string
  readonly sourceVmName?: string
  readonly jobId: string
  readonly scheduleId: string
  /** When the source was snapshotted (ISO). */
  readonly time: string
  readonly powerState: string
  readonly mode?: 'delta' | 'full'
  readonly memory: boolean
  readonly srUuid?: string
  /** Being written, or left by an attempt that failed. */
  readonly pending: boolean
  readonly failedOver?: string
}

export async function listReplicas(xapi: XapiClient, signal?: AbortSignal): Promise<ReplicaInfo[]> {
  return (await allReplicas(xapi, signal)).map(info)
}

function info(o: ReplicaObject): ReplicaInfo {
  const k = o.keys
  return {
    uuid: String(o.record.uuid),
    name: String(o.record.name_label ?? ''),
    kind: o.record.is_a_snapshot === true ? 'point' : 'replica',
    sourceVmUuid: k.vmUuid,
    ...(k.vmName === undefined ? {} : { sourceVmName: k.vmName }),
    jobId: k.jobId,
    scheduleId: k.scheduleId,
    time: parseReplicaTime(k.datetime).toISOString(),
    powerState: String(o.record.power_state ?? ''),
    ...(k.mode === undefined ? {} : { mode: k.mode }),
    memory: k.memory,
    ...(k.srUuid === undefined ? {} : { srUuid: k.srUuid }),
    pending: k.pending !== undefined || k.srUuid === undefined,
    ...(k.failedOver === undefined ? {} : { failedOver: k.failedOver }),
  }
}

export interface FailoverOptions {
  /** A replica or restore point (uuid or name), or a source VM (uuid or name): its newest replica. */
  readonly replica: string
  /** Start a fast clone and leave the replica chain untouched. */
  readonly clone?: boolean
}

export interface FailoverResult {
  readonly vmUuid: string
  readonly vmName: string
  /** The replica or restore point it came from. */
  readonly from: string
  readonly cloned: boolean
  /** The VM resumed its memory instead of booting. */
  readonly resumed: boolean
}

export async function failover(
  task: TaskContext,
  xapi: XapiClient,
  o: FailoverOptions,
): Promise<FailoverResult> {
  const { signal } = task
  const chosen = await findReplica(xapi, o.replica, signal)
  const cloned = o.clone === true || chosen.record.is_a_snapshot === true
  task.set({ from: String(chosen.record.uuid), cloned })
  const vm = cloned ? await cloneOf(xapi, chosen, signal) : chosen.ref
  try {
    await release(xapi, vm, signal)
    const power = String(await xapi.call('VM.get_power_state', [vm], signal))
    if (power === 'Suspended') await callAsync(xapi, 'VM.resume', [vm, false, false], { signal })
    else await callAsync(xapi, 'VM.start', [vm, false, false], { signal })
    const result = {
      vmUuid: await xapi.call<string>('VM.get_uuid', [vm], signal),
      vmName: await xapi.call<string>('VM.get_name_label', [vm], signal),
      from: String(chosen.record.uuid),
      cloned,
      resumed: power === 'Suspended',
    }
    task.set(result)
    return result
  } catch (error) {
    // A clone that could not start is not left behind; the replica itself stays as it is now.
    if (cloned) await destroyReplica(xapi, vm, AbortSignal.timeout(120_000)).catch(() => false)
    throw error
  }
}

/** The replica a name or uuid designates: itself, else the newest complete replica of that source VM. */
export async function findReplica(
  xapi: XapiClient,
  text: string,
  signal?: AbortSignal,
): Promise<ReplicaObject> {
  return pick(await allReplicas(xapi, signal), text)
}

function pick(all: readonly ReplicaObject[], text: string): ReplicaObject {
  const usable = all.filter((o) => o.keys.pending === undefined && o.keys.srUuid !== undefined)
  const exact = usable.filter((o) => o.record.uuid === text || o.record.name_label === text)
  if (exact.length === 1) return exact[0]!
  if (exact.length > 1)
    throw new ReplicaError('REPLICA_AMBIGUOUS', `${exact.length} replicas are named '${text}': give a uuid`)
  const ofSource = usable.filter(
    (o) =>
      o.keys.vmUuid === text ||
      o.keys.vmName === text ||
      String(o.record.name_label).startsWith(`${text} - `),
  )
  const newest = ofSource.find((o) => o.record.is_a_snapshot !== true) ?? ofSource[0]
  if (newest !== undefined) return newest
  const names = [...new Set(usable.map((o) => o.keys.vmName ?? o.keys.vmUuid))].join(', ') || 'none'
  throw new ReplicaError(
    'REPLICA_NOT_FOUND',
    `no replica '${text}' on this pool (replicas of: ${names}; see strata replicate list)`,
  )
}

async function cloneOf(xapi: XapiClient, o: ReplicaObject, signal: AbortSignal): Promise<Ref> {
  const name = `${o.keys.vmName ?? String(o.record.name_label)} (failover ${new Date().toISOString().slice(0, 16)})`
  const clone = await cloneVm(xapi, o.ref, name, { signal })
  if (o.record.is_a_snapshot === true) await xapi.call('VM.set_is_a_template', [clone, false], signal)
  return clone
}

/** Start unblocked; a production VM from now on (later runs neither replace nor remove it). */
async function release(xapi: XapiClient, vm: Ref, signal: AbortSignal): Promise<void> {
  for (const op of ['start', 'start_on'])
    await xapi.call('VM.remove_from_blocked_operations', [vm, op], signal)
  for (const tag of Object.values(REPLICA_TAG)) await xapi.call('VM.remove_tags', [vm, tag], signal)
  await setKeys(
    xapi,
    'VM',
    vm,
    { [REPLICA.failover]: new Date().toISOString(), [REPLICA.pending]: undefined },
    signal,
  )
}
