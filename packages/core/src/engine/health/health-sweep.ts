// Health-check VMs that a check cut short left behind (a server stopped, a process killed, a pool that
// could not be reached for the cleanup): found by their tag or their name, destroyed when their time is
// up, or at once when they are the caller's own (a server sweeps its own checks when it starts again:
// none of them is running any more).
import {
  NULL_REF,
  callAsync,
  isXapiError,
  undoCall,
  type Ref,
  type XapiClient,
  type XapiRecord,
} from '../../xapi/index.js'
import {
  HEALTH_CHECK_NAME,
  HEALTH_CHECK_OWNER,
  HEALTH_CHECK_TAG,
  HEALTH_CHECK_UNTIL,
} from './health-check.js'
import { destroyVmAndDisks } from './destroy-vm.js'

export interface SweepOptions {
  /** Also this owner's checks, whatever their time (a server starting again). */
  readonly owner?: string
  readonly now?: number
}

/** Destroys abandoned check VMs; returns their names. */
export async function sweepHealthChecks(
  xapi: XapiClient,
  o: SweepOptions,
  signal?: AbortSignal,
): Promise<string[]> {
  const vms = await xapi.call<Record<Ref, XapiRecord>>('VM.get_all_records', [], signal)
  const swept: string[] = []
  for (const [ref, vm] of Object.entries(vms)) {
    if (!abandoned(vm, o)) continue
    await destroyCheckVm(xapi, ref)
    swept.push(String(vm.name_label))
  }
  return swept
}

function abandoned(vm: XapiRecord, o: SweepOptions): boolean {
  if (vm.is_a_snapshot === true || vm.is_control_domain === true) return false
  const tags = Array.isArray(vm.tags) ? vm.tags.map(String) : []
  const named = String(vm.name_label ?? '').startsWith(HEALTH_CHECK_NAME)
  if (!tags.includes(HEALTH_CHECK_TAG)) return named // a clone killed before it was tagged
  const owner = tags.find((t) => t.startsWith(HEALTH_CHECK_OWNER))?.slice(HEALTH_CHECK_OWNER.length)
  if (o.owner !== undefined && owner === o.owner) return true
  const until = Date.parse(
    tags.find((t) => t.startsWith(HEALTH_CHECK_UNTIL))?.slice(HEALTH_CHECK_UNTIL.length) ?? '',
  )
  return !Number.isFinite(until) || until <= (o.now ?? Date.now())
}

/**
 * Stops and destroys a check VM with its disks and memory image. Not the caller's signal: a cancelled
 * check is cleaned up too. Gone already counts as done.
 */
export async function destroyCheckVm(xapi: XapiClient, vm: Ref): Promise<void> {
  const signal = AbortSignal.timeout(300_000)
  let power: string
  try {
    power = String(await xapi.call('VM.get_power_state', [vm], signal))
  } catch (error) {
    if (isXapiError(error, 'HANDLE_INVALID')) return
    throw error
  }
  if (power !== 'Halted') await undoCall(() => callAsync(xapi, 'VM.hard_shutdown', [vm], { signal }), signal)
  const image = await xapi.call<Ref>('VM.get_suspend_VDI', [vm], signal).catch(() => NULL_REF)
  await destroyVmAndDisks(xapi, vm, signal)
  if (image !== NULL_REF) await undoCall(() => xapi.call('VDI.destroy', [image], signal), signal)
}
