// The replica VM on the target pool, rebuilt from the source's records (xapi.md §2.3) over the disks a
// replication wrote: halted, or suspended on its memory image (VM.create with power_state Suspended and
// a suspend_VDI, devices attached as on a suspended VM); the source's name with the job and the time, its
// tags and the replica tag, HA restart off, `start` blocked with a reason, the same MACs (a replica is
// started only when its source is down), networks mapped, the keys that say what it is. Destroying a
// replica or a restore point takes its disks and its memory image with it.
import {
  NULL_REF,
  callAsync,
  createVm,
  createVif,
  destroyVm,
  isXapiError,
  undoCall,
  type Ref,
  type XapiClient,
  type XapiRecord,
} from '../../xapi/index.js'
import { destroyVmAndDisks } from '../health/destroy-vm.js'
import { mapNetwork } from '../vm-restore.js'
import type { PointMetadata } from '../vm-metadata.js'
import { START_BLOCKED } from './replica-keys.js'

export interface ReplicaVmSpec {
  readonly meta: PointMetadata
  /** The replica's disks, in the order of `meta.disks`. */
  readonly vdis: readonly Ref[]
  /** The memory image: the replica is created Suspended. */
  readonly suspendVdi?: Ref
  readonly name: string
  readonly tag: string
  readonly keys: Readonly<Record<string, string>>
  readonly networks?: Readonly<Record<string, string>>
}

/** Creates the replica VM; on failure, what it created (not the disks) is destroyed. */
export async function createReplicaVm(
  xapi: XapiClient,
  spec: ReplicaVmSpec,
  signal: AbortSignal,
): Promise<Ref> {
  const { meta } = spec
  const suspended = spec.suspendVdi !== undefined
  const vm = await createVm(xapi, meta.vm, overrides(spec), signal)
  try {
    const attached = { currently_attached: suspended }
    // Disks, network interfaces and vTPMs are independent: each kind is created in order (device
    // numbers), the three kinds at once; every one has ended before a failure is reported.
    const vbds = async (): Promise<void> => {
      for (const [i, disk] of meta.disks.entries())
        await xapi.call('VBD.create', [vbdArgs(vm, spec.vdis[i]!, disk.vbd, attached)], signal)
      for (const vbd of meta.otherVbds)
        await xapi.call('VBD.create', [vbdArgs(vm, NULL_REF, { ...vbd, empty: true }, attached)], signal)
    }
    const vifs = async (): Promise<void> => {
      for (const vif of meta.vifs) {
        const network = await mapNetwork(xapi, vif.$network, spec.networks, signal)
        const saved = { ...vif, currently_attached: suspended }
        await createVif(xapi, vm, network, saved, { keepMac: true, signal })
      }
    }
    const vtpms = async (): Promise<void> => {
      for (const vtpm of meta.vtpms) {
        const created = await xapi.call<Ref>('VTPM.create', [vm, vtpm.is_unique], signal)
        await xapi.call('VTPM.set_contents', [created, vtpm.contents], signal)
      }
    }
    const failed = (await Promise.allSettled([vbds(), vifs(), vtpms()])).find((r) => r.status === 'rejected')
    if (failed !== undefined) throw failed.reason
    return vm
  } catch (error) {
    const cleanup = AbortSignal.timeout(120_000)
    await undoCall(() => destroyVm(xapi, vm, { keepDisks: true, signal: cleanup }), cleanup).catch(() => {})
    throw error
  }
}

function overrides(spec: ReplicaVmSpec): XapiRecord {
  const saved = spec.meta.vm
  const tags = Array.isArray(saved.tags) ? saved.tags.map(String) : []
  return {
    name_label: spec.name,
    tags: tags.includes(spec.tag) ? tags : [...tags, spec.tag],
    other_config: { ...(saved.other_config as object), ...spec.keys },
    // Refs of the source pool mean nothing here.
    affinity: NULL_REF,
    suspend_SR: NULL_REF,
    appliance: NULL_REF,
    // HA would start the replica beside its source.
    ha_restart_priority: '',
    ha_always_run: false,
    blocked_operations: {
      ...(saved.blocked_operations as object),
      start: START_BLOCKED,
      start_on: START_BLOCKED,
    },
    ...(spec.suspendVdi === undefined
      ? { power_state: 'Halted' }
      : { power_state: 'Suspended', suspend_VDI: spec.suspendVdi }),
  }
}

function vbdArgs(vm: Ref, vdi: Ref, saved: XapiRecord, extra: XapiRecord): XapiRecord {
  return {
    VM: vm,
    VDI: vdi,
    userdevice: saved.userdevice ?? 'autodetect',
    bootable: saved.bootable ?? false,
    mode: saved.mode ?? 'RW',
    type: saved.type ?? 'Disk',
    unpluggable: saved.unpluggable ?? true,
    empty: vdi === NULL_REF,
    other_config: saved.other_config ?? {},
    qos_algorithm_type: saved.qos_algorithm_type ?? '',
    qos_algorithm_params: saved.qos_algorithm_params ?? {},
    ...extra,
  }
}

/**
 * Destroys a replica VM or restore point with its disks and memory image. A running VM (a replica that
 * was failed over) is never destroyed: false.
 */
export async function destroyReplica(xapi: XapiClient, vm: Ref, signal: AbortSignal): Promise<boolean> {
  let record: XapiRecord
  try {
    record = await xapi.call<XapiRecord>('VM.get_record', [vm], signal)
  } catch (error) {
    if (isXapiError(error, 'HANDLE_INVALID')) return true
    throw error
  }
  if (record.power_state === 'Running' || record.power_state === 'Paused') return false
  const image = String(record.suspend_VDI ?? NULL_REF)
  // A suspended replica's image goes with a hard shutdown (xapi drops it); a checkpoint keeps its own.
  if (record.power_state === 'Suspended' && record.is_a_snapshot !== true)
    await undoCall(() => callAsync(xapi, 'VM.hard_shutdown', [vm], { signal }), signal)
  await destroyVmAndDisks(xapi, vm, signal)
  if (image !== NULL_REF) await undoCall(() => xapi.call('VDI.destroy', [image], signal), signal)
  return true
}

/** Destroys VDIs (leftovers of an attempt), waiting out a dom0 that still holds one. */
export async function destroyVdis(
  xapi: XapiClient,
  vdis: readonly Ref[],
  signal: AbortSignal,
): Promise<void> {
  for (const vdi of vdis) await undoCall(() => xapi.call('VDI.destroy', [vdi], signal), signal)
}
