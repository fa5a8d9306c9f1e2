// The snapshot of one backup run: VM.snapshot with ignore_vdis for [NOBAK] disks (per-disk VDI.snapshot
// on XAPI without ignore_vdis), VM.checkpoint for memory, an offline variant, then tags that let the next
// run find its base. takeSnapshot undoes its own snapshot when anything after it fails; the caller owns
// the returned snapshot and releases it with destroySnapshot or keeps it by retention.
import type { TaskContext } from '../shared/index.js'
import {
  callAsync,
  checkpointVm,
  destroyVm,
  isXapiError,
  type Ref,
  type XapiClient,
  type XapiRecord,
} from '../xapi/index.js'
import { record, undoCall, vmDisks, type VmDisk } from '../xapi/index.js'

export const TAG = {
  job: 'strata:backup:job',
  schedule: 'strata:backup:schedule',
  run: 'strata:backup:run',
  vm: 'strata:backup:vm',
  exported: 'strata:backup:exported',
} as const

export interface SnapshotDisk {
  /** The VM's disk (live VBD and VDI). */
  readonly live: VmDisk
  readonly vdi: Ref
  readonly record: XapiRecord
}

export interface TakenSnapshot {
  /** The snapshot VM; undefined when the disks were snapshotted one by one. */
  readonly vm: Ref | undefined
  readonly disks: readonly SnapshotDisk[]
  readonly nobak: readonly VmDisk[]
}

export interface SnapshotRequest {
  readonly vm: Ref
  readonly vmRecord: XapiRecord
  readonly tags: Readonly<Record<string, string>>
  readonly withMemory: boolean
  readonly offline: boolean
  readonly enableCbt: boolean
}

export function isNobak(disk: VmDisk): boolean {
  return String(disk.vdiRecord.name_label ?? '').includes('[NOBAK]')
}

export async function takeSnapshot(
  task: TaskContext,
  xapi: XapiClient,
  req: SnapshotRequest,
): Promise<TakenSnapshot> {
  const { signal } = task
  const disks = await vmDisks(xapi, req.vm, signal)
  const included = disks.filter((d) => !isNobak(d))
  const nobak = disks.filter(isNobak)
  if (req.enableCbt) await enableCbt(task, xapi, included)
  const name = `[Strata backup] ${String(req.vmRecord.name_label)}`
  const made = await withOffline(task, xapi, req, () => snapshotCall(task, xapi, req, name, included, nobak))
  try {
    const snapDisks = made.vm === undefined ? made.disks : await pairDisks(xapi, made.vm, included, signal)
    for (const [k, v] of Object.entries(req.tags)) {
      if (made.vm !== undefined) await xapi.call('VM.add_to_other_config', [made.vm, k, v], signal)
      for (const d of snapDisks) await xapi.call('VDI.add_to_other_config', [d.vdi, k, v], signal)
    }
    const records = await Promise.all(snapDisks.map((d) => record(xapi, 'VDI', d.vdi, signal)))
    return { vm: made.vm, disks: snapDisks.map((d, i) => ({ ...d, record: records[i]! })), nobak }
  } catch (error) {
    await destroySnapshot(xapi, made).catch(() => undefined)
    throw error
  }
}

/**
 * Destroys a snapshot VM with all its disks and its memory image (a checkpoint's suspend VDI), or loose
 * snapshot VDIs (VDI_IN_USE waited out; gone = done).
 */
export async function destroySnapshot(
  xapi: XapiClient,
  snap: { vm: Ref | undefined; disks: readonly { vdi: Ref }[] },
  signal?: AbortSignal,
): Promise<void> {
  if (snap.vm !== undefined) await undoCall(() => destroyVm(xapi, snap.vm!, { signal }), signal)
  for (const d of snap.disks) await undoCall(() => xapi.call('VDI.destroy', [d.vdi], signal), signal)
}

async function enableCbt(task: TaskContext, xapi: XapiClient, disks: readonly VmDisk[]): Promise<void> {
  for (const d of disks) {
    if (d.vdiRecord.cbt_enabled === true) continue
    try {
      await callAsync(xapi, 'VDI.enable_cbt', [d.vdi], { signal: task.signal })
    } catch (error) {
      task.warn(`CBT cannot be enabled on VDI ${String(d.vdiRecord.uuid)}: later runs use the VHD export`, {
        code: (error as { code?: string }).code,
      })
    }
  }
}

/** Offline backups: clean shutdown, snapshot, start again, whatever the snapshot did. */
async function withOffline<T>(
  task: TaskContext,
  xapi: XapiClient,
  req: SnapshotRequest,
  fn: () => Promise<T>,
): Promise<T> {
  if (!req.offline || req.vmRecord.power_state !== 'Running') return fn()
  await callAsync(xapi, 'VM.clean_shutdown', [req.vm], { signal: task.signal })
  try {
    return await fn()
  } finally {
    // Not tied to the run's signal: a cancelled run must still bring the VM back.
    await callAsync(xapi, 'VM.start', [req.vm, false, false])
  }
}

type Made = { vm: Ref | undefined; disks: { live: VmDisk; vdi: Ref }[] }

async function snapshotCall(
  task: TaskContext,
  xapi: XapiClient,
  req: SnapshotRequest,
  name: string,
  included: readonly VmDisk[],
  nobak: readonly VmDisk[],
): Promise<Made> {
  const options = { signal: task.signal }
  if (req.withMemory) {
    if (nobak.length > 0)
      task.warn('VM.checkpoint has no ignore_vdis: [NOBAK] disks are snapshotted, not backed up')
    const onFallback = (reason: string): void => task.warn(`no memory in this backup: ${reason}`)
    return { vm: await checkpointVm(xapi, req.vm, name, { ...options, onFallback }), disks: [] }
  }
  if (nobak.length === 0)
    return { vm: (await callAsync(xapi, 'VM.snapshot', [req.vm, name], options)) as Ref, disks: [] }
  try {
    const ignore = nobak.map((d) => d.vdi)
    return { vm: (await callAsync(xapi, 'VM.snapshot', [req.vm, name, ignore], options)) as Ref, disks: [] }
  } catch (error) {
    if (!isXapiError(error, 'MESSAGE_PARAMETER_COUNT_MISMATCH')) throw error
  }
  task.warn('this XAPI has no ignore_vdis: disks snapshotted one by one (not crash-consistent across disks)')
  const disks: Made['disks'] = []
  try {
    for (const live of included)
      disks.push({ live, vdi: (await callAsync(xapi, 'VDI.snapshot', [live.vdi, {}], options)) as Ref })
  } catch (error) {
    await destroySnapshot(xapi, { vm: undefined, disks }).catch(() => undefined)
    throw error
  }
  return { vm: undefined, disks }
}

/** The snapshot VM's disks, each paired with the live disk it is a snapshot of. */
async function pairDisks(
  xapi: XapiClient,
  snapVm: Ref,
  included: readonly VmDisk[],
  signal?: AbortSignal,
): Promise<{ live: VmDisk; vdi: Ref }[]> {
  const snapDisks = await vmDisks(xapi, snapVm, signal)
  const out: { live: VmDisk; vdi: Ref }[] = []
  for (const live of included) {
    const snap = snapDisks.find((s) => s.vdiRecord.snapshot_of === live.vdi)
    if (snap !== undefined) out.push({ live, vdi: snap.vdi })
  }
  return out
}

/**
 * The snapshot of an interrupted run of this job/schedule (tagged, never exported) if it still covers every
 * disk the VM backs up: the next attempt resumes from it instead of snapshotting again. It is retagged
 * with the new run id so that retention sees it as this run's.
 */
export async function findPendingSnapshot(
  xapi: XapiClient,
  vm: Ref,
  tags: Readonly<Record<string, string>>,
  signal: AbortSignal,
): Promise<TakenSnapshot | undefined> {
  const candidates: { ref: Ref; time: string }[] = []
  for (const snap of await xapi.call<Ref[]>('VM.get_snapshots', [vm], signal)) {
    const r = await record(xapi, 'VM', snap, signal)
    const oc = (r.other_config ?? {}) as Record<string, string>
    const same = [TAG.job, TAG.schedule, TAG.vm].every((k) => oc[k] === tags[k])
    if (same && oc[TAG.exported] !== 'true') candidates.push({ ref: snap, time: String(r.snapshot_time) })
  }
  const newest = candidates.sort((a, b) => b.time.localeCompare(a.time))[0]
  if (newest === undefined) return undefined
  const disks = await vmDisks(xapi, vm, signal)
  const included = disks.filter((d) => !isNobak(d))
  const paired = await pairDisks(xapi, newest.ref, included, signal)
  if (paired.length !== included.length) return undefined // a disk was added since: retention removes it
  const run = tags[TAG.run]!
  await retag(xapi, 'VM', newest.ref, run, signal)
  for (const d of paired) await retag(xapi, 'VDI', d.vdi, run, signal)
  const records = await Promise.all(paired.map((d) => record(xapi, 'VDI', d.vdi, signal)))
  return {
    vm: newest.ref,
    disks: paired.map((d, i) => ({ ...d, record: records[i]! })),
    nobak: disks.filter(isNobak),
  }
}

async function retag(
  xapi: XapiClient,
  cls: string,
  ref: Ref,
  run: string,
  signal: AbortSignal,
): Promise<void> {
  await xapi.call(`${cls}.remove_from_other_config`, [ref, TAG.run], signal)
  await xapi.call(`${cls}.add_to_other_config`, [ref, TAG.run, run], signal)
}
