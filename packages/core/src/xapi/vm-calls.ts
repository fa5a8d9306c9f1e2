// VM calls a backup needs: snapshot (with ignore_vdis, falling back on pre-21.4 hosts), checkpoint,
// clone, destroy, and the calls that rebuild a VM from saved records (xapi.md §2.3).
import { callAsync, type WaitTaskOptions } from './tasks.js'
import { NULL_REF, type Ref, type XapiClient } from './xapi-client.js'
import { isXapiError } from './xapi-error.js'
import type { XapiRecord } from './object-cache.js'
import { undoCall, vmDiskVdis } from './xapi-records.js'

export interface SnapshotOptions extends WaitTaskOptions {
  /** VDIs to leave out of the snapshot (e.g. disks tagged [NOBAK]). */
  ignoreVdis?: Ref[]
  /** Told when the host is too old for ignore_vdis and every disk was snapshotted. */
  onFallback?: (reason: string) => void
}

/** VM.snapshot; on XAPI before 21.4 (no ignore_vdis) retries without it and reports the fallback. */
export async function snapshotVm(
  client: XapiClient,
  vm: Ref,
  name: string,
  options: SnapshotOptions = {},
): Promise<Ref> {
  const ignore = options.ignoreVdis ?? []
  if (ignore.length === 0) return (await callAsync(client, 'VM.snapshot', [vm, name], options)) as Ref
  try {
    return (await callAsync(client, 'VM.snapshot', [vm, name, ignore], options)) as Ref
  } catch (error) {
    if (!isXapiError(error, 'MESSAGE_PARAMETER_COUNT_MISMATCH')) throw error
    options.onFallback?.('this XAPI has no ignore_vdis: every disk was snapshotted')
    return (await callAsync(client, 'VM.snapshot', [vm, name], options)) as Ref
  }
}

/** VM.checkpoint (disks and memory); falls back to a snapshot when the VM is not running. */
export async function checkpointVm(
  client: XapiClient,
  vm: Ref,
  name: string,
  options: SnapshotOptions = {},
): Promise<Ref> {
  try {
    return (await callAsync(client, 'VM.checkpoint', [vm, name], options)) as Ref
  } catch (error) {
    if (!isXapiError(error, 'VM_BAD_POWER_STATE')) throw error
    options.onFallback?.('the VM is not running: snapshot instead of checkpoint')
    return snapshotVm(client, vm, name, options)
  }
}

export async function cloneVm(
  client: XapiClient,
  vm: Ref,
  name: string,
  options: WaitTaskOptions = {},
): Promise<Ref> {
  return (await callAsync(client, 'VM.clone', [vm, name], options)) as Ref
}

/**
 * Destroys a VM (or snapshot) and, unless told otherwise, its disks. Its memory image (`suspend_VDI`: a
 * checkpoint's, a suspended VM's) goes with it in any case: VM.destroy leaves it behind, and it is no
 * disk a caller keeps. A VDI dom0 still holds for a moment is waited out; HANDLE_INVALID = already gone.
 */
export async function destroyVm(
  client: XapiClient,
  vm: Ref,
  options: { keepDisks?: boolean; signal?: AbortSignal } = {},
): Promise<void> {
  const { signal } = options
  let vdis: Ref[] = []
  try {
    // A VBD that vanished meanwhile (vmDiskVdis passes over it) is no reason to keep the VM.
    if (options.keepDisks !== true) vdis = await vmDiskVdis(client, vm, signal)
    const memory = await client.call<Ref>('VM.get_suspend_VDI', [vm], signal)
    if (memory !== NULL_REF) vdis.push(memory)
    await client.call('VM.destroy', [vm], signal)
  } catch (error) {
    if (!isXapiError(error, 'HANDLE_INVALID')) throw error
    vdis = []
  }
  for (const vdi of vdis) await undoCall(() => client.call('VDI.destroy', [vdi], signal), signal)
}

/** VM fields that can be replayed into VM.create; runtime and snapshot fields are left out (§2.3). */
const VM_CREATE_FIELDS = [
  'name_label',
  'name_description',
  'user_version',
  'is_a_template',
  'affinity',
  'memory_target',
  'memory_static_max',
  'memory_dynamic_max',
  'memory_dynamic_min',
  'memory_static_min',
  'VCPUs_params',
  'VCPUs_max',
  'VCPUs_at_startup',
  'actions_after_softreboot',
  'actions_after_shutdown',
  'actions_after_reboot',
  'actions_after_crash',
  'PV_bootloader',
  'PV_kernel',
  'PV_ramdisk',
  'PV_args',
  'PV_bootloader_args',
  'PV_legacy_args',
  'HVM_boot_policy',
  'HVM_boot_params',
  'HVM_shadow_multiplier',
  'platform',
  'PCI_bus',
  'other_config',
  'recommendations',
  'xenstore_data',
  'ha_always_run',
  'ha_restart_priority',
  'tags',
  'blocked_operations',
  'protection_policy',
  'is_snapshot_from_vmpp',
  'appliance',
  'start_delay',
  'shutdown_delay',
  'order',
  'suspend_SR',
  'version',
  'generation_id',
  'hardware_platform_version',
  'has_vendor_device',
  'reference_label',
  'domain_type',
  'NVRAM',
] as const

export function vmCreateArgs(saved: XapiRecord, overrides: XapiRecord = {}): XapiRecord {
  const args: XapiRecord = {}
  for (const field of VM_CREATE_FIELDS) if (saved[field] !== undefined) args[field] = saved[field]
  return { ...args, ...overrides }
}

/** Rebuilds a halted VM from a saved record; disks and VIFs are attached with createVbd/createVif. */
export async function createVm(
  client: XapiClient,
  saved: XapiRecord,
  overrides: XapiRecord = {},
  signal?: AbortSignal,
): Promise<Ref> {
  const vm = await client.call<Ref>(
    'VM.create',
    [vmCreateArgs(saved, { ...overrides, is_a_template: false })],
    signal,
  )
  const bios = saved.bios_strings as Record<string, string> | undefined
  if (bios !== undefined && Object.keys(bios).length > 0)
    await client.call('VM.set_bios_strings', [vm, bios], signal)
  return vm
}

export async function createVdi(
  client: XapiClient,
  saved: XapiRecord,
  sr: Ref,
  signal?: AbortSignal,
): Promise<Ref> {
  const pick = (k: string, d: unknown): unknown => saved[k] ?? d
  return client.call<Ref>(
    'VDI.create',
    [
      {
        name_label: pick('name_label', ''),
        name_description: pick('name_description', ''),
        SR: sr,
        virtual_size: saved.virtual_size,
        type: pick('type', 'user'),
        sharable: pick('sharable', false),
        read_only: pick('read_only', false),
        other_config: pick('other_config', {}),
        xenstore_data: pick('xenstore_data', {}),
        tags: pick('tags', []),
        sm_config: {},
      },
    ],
    signal,
  )
}

export async function createVbd(
  client: XapiClient,
  vm: Ref,
  vdi: Ref,
  saved: XapiRecord,
  signal?: AbortSignal,
  options: { suspended?: boolean } = {},
): Promise<Ref> {
  return client.call<Ref>(
    'VBD.create',
    [
      {
        VM: vm,
        VDI: vdi,
        userdevice: saved.userdevice ?? 'autodetect',
        bootable: saved.bootable ?? false,
        mode: saved.mode ?? 'RW',
        type: saved.type ?? 'Disk',
        unpluggable: saved.unpluggable ?? true,
        empty: vdi === 'OpaqueRef:NULL',
        other_config: saved.other_config ?? {},
        qos_algorithm_type: saved.qos_algorithm_type ?? '',
        qos_algorithm_params: saved.qos_algorithm_params ?? {},
        ...attachedIfSuspended(saved, vdi !== 'OpaqueRef:NULL' && options.suspended === true),
      },
    ],
    signal,
  )
}

/** A VM created Suspended resumes with its devices plugged where they were (xapi.md §2.3). */
function attachedIfSuspended(saved: XapiRecord, suspended: boolean): XapiRecord {
  if (!suspended) return {}
  return { currently_attached: true, ...(saved.device === undefined ? {} : { device: saved.device }) }
}

export async function createVif(
  client: XapiClient,
  vm: Ref,
  network: Ref,
  saved: XapiRecord,
  options: { keepMac?: boolean; signal?: AbortSignal; suspended?: boolean } = {},
): Promise<Ref> {
  return client.call<Ref>(
    'VIF.create',
    [
      {
        VM: vm,
        network,
        device: saved.device ?? '0',
        MAC: options.keepMac === true ? (saved.MAC ?? '') : '',
        MTU: saved.MTU ?? 1500,
        locking_mode: saved.locking_mode ?? 'network_default',
        ipv4_allowed: saved.ipv4_allowed ?? [],
        ipv6_allowed: saved.ipv6_allowed ?? [],
        other_config: saved.other_config ?? {},
        qos_algorithm_type: saved.qos_algorithm_type ?? '',
        qos_algorithm_params: saved.qos_algorithm_params ?? {},
        ...attachedIfSuspended(saved, options.suspended === true),
      },
    ],
    options.signal,
  )
}
