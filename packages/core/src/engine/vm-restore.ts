// Restores from a restore point: a whole VM rebuilt from the records in its manifest (xapi.md §2.3) on any
// SR of any pool, one disk into a new VDI, or one disk to a raw or VHD file. Disk data goes to XAPI as a
// sparse VHD (zero blocks never sent), chunks read in parallel. What a failed restore created is removed.
// A restored VM is named after its source and the point's date and tagged, so that it is never taken for
// the source: an explicit list still names one VM, and smart selections leave it out (selection.ts).
import { dirname } from 'node:path'
import { stat } from 'node:fs/promises'
import { writeDiskToFile, writeDiskToVdi } from '../disks/index.js'
import { DiskReader, readManifest, resolvePoint, type Repository } from '../repository/index.js'
import type { TaskContext } from '../shared/index.js'
import { NULL_REF, callAsync, createVbd, createVdi, createVif, createVm, destroyVm } from '../xapi/index.js'
import type { Ref, XapiClient, XapiRecord } from '../xapi/index.js'
import type { PoolLimits } from './limits.js'
import { resolveSr } from './pool-objects.js'
import { diskProgress } from './restore-progress.js'
import { RESTORED_TAG } from './selection.js'
import { isPointMetadata, type PointMetadata } from './vm-metadata.js'
import { memoryToRestore, resumeRestored, suspendedFields, type PointMemoryMetadata } from './vm-memory.js'
import { record, refByUuid, undoCall } from '../xapi/index.js'

export interface VmRestoreOptions {
  readonly repository: Repository
  readonly pointId: string
  /** The SR's uuid or name. */
  readonly srUuid: string
  /** Source network uuid → target network uuid. */
  readonly networkMap?: Record<string, string>
  /** Start the VM (resume it, when it is restored with its memory). */
  readonly start?: boolean
  /**
   * A point with the VM's memory restores it Suspended on that image, so that VM.resume brings back the
   * running state; false restores it halted, without the image. Default true.
   */
  readonly withMemory?: boolean
  /** Appended to the source's name instead of ' (restored <point date>)'. */
  readonly nameSuffix?: string
  /** Added to the source's tags (default RESTORED_TAG; '' adds none). */
  readonly tag?: string
  /** More tags (a health check's, which its sweep finds the VM by), given at creation. */
  readonly tags?: readonly string[]
  /** Create the VM's VIFs (default true; a health check boots its VM without network). */
  readonly network?: boolean
  /** Told of each VM and VDI as soon as it exists (a worker's parent removes them if the worker dies). */
  readonly onCreated?: (object: RestoredObject) => void
}

/** A VM or VDI that a restore created on the pool, removed again unless the restore succeeds. */
export interface RestoredObject {
  readonly class: 'VM' | 'VDI'
  readonly ref: Ref
}

import { RestoreError } from './restore-error.js'

export { RestoreError } from './restore-error.js'

export type RestoredVm = {
  readonly vmUuid: string
  readonly vmName: string
  /** Created Suspended on the point's memory image (resumed if started). */
  readonly withMemory: boolean
}

const BLOCK_REASON = 'Strata restore in progress'
/** Blocked until the restore is complete (resume too: a Suspended VM is resumed, not started). */
const BLOCKED_OPS = ['start', 'start_on', 'resume', 'resume_on']

export async function restoreVm(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  o: VmRestoreOptions,
): Promise<RestoredVm> {
  const { signal } = task
  const ref = await resolvePoint(o.repository, o.pointId, signal)
  const manifest = await readManifest(o.repository, ref, signal)
  const meta = manifest.vm.metadata
  if (!isPointMetadata(meta)) {
    throw new RestoreError(
      'RESTORE_NO_VM_METADATA',
      `restore point '${o.pointId}' holds no VM records to rebuild from`,
    )
  }
  return rebuildVm(task, xapi, {
    ...o,
    meta,
    memory: memoryToRestore(meta, manifest, o.pointId, o.withMemory !== false),
    nameSuffix: o.nameSuffix ?? ` (restored ${pointDate(manifest.startedAt)})`,
    tag: o.tag ?? RESTORED_TAG,
    restoreDisk: (t, disk, target) =>
      restoreDisk(t, xapi, limits, { repository: o.repository, ref, disk, ...target }),
  })
}

/** Where a disk of a rebuilt VM goes: a new VDI on `sr` made from the saved record. */
export interface NewVdi {
  readonly sr: Ref
  readonly saved: XapiRecord
  readonly onCreated?: (object: RestoredObject) => void
}

/** A VM to rebuild from the records of a point, wherever its disks are read from. */
export interface VmRebuild {
  readonly meta: PointMetadata
  /** The SR's uuid or name. */
  readonly srUuid: string
  readonly nameSuffix: string
  /** Added to the source's tags ('' adds none). */
  readonly tag: string
  /** More tags (a health check's, which its sweep finds the VM by), given at creation. */
  readonly tags?: readonly string[]
  /** Create the VM's VIFs (default true; a health check boots its VM without network). */
  readonly network?: boolean
  readonly networkMap?: Record<string, string>
  /** Start the VM (resume it, when it is rebuilt Suspended on its memory image). */
  readonly start?: boolean
  /** The memory image to create the VM Suspended on (read with `restoreDisk`); none: Halted. */
  readonly memory?: PointMemoryMetadata
  readonly onCreated?: (object: RestoredObject) => void
  /** Writes disk `index` into a new VDI (reported to `onCreated` as soon as it exists), returns it. */
  readonly restoreDisk: (task: TaskContext, index: number, target: NewVdi) => Promise<Ref>
}

/**
 * The VM rebuilt: created blocked from starting (Suspended on its memory image, restored first, or
 * Halted), each disk restored and attached as it was, the other VBDs empty, VIFs on mapped networks,
 * vTPMs; then released (and started or resumed if asked). What a failure leaves is removed. Restores
 * from a repository and from an XO remote both come here.
 */
export async function rebuildVm(task: TaskContext, xapi: XapiClient, o: VmRebuild): Promise<RestoredVm> {
  const sr = await srRef(xapi, o.srUuid, task.signal)
  const created: RestoredObject[] = []
  const onCreated = (object: RestoredObject): void => {
    created.push(object)
    o.onCreated?.(object)
  }
  try {
    const vm = await createRebuiltVm(task, xapi, o, sr, onCreated)
    await attachDevices(task, xapi, vm, o, sr, onCreated)
    const how = { start: o.start === true, resume: o.memory !== undefined }
    return await release(task, xapi, vm, o.meta, how)
  } catch (error) {
    // Not the run's signal: undo after a cancel too.
    await removeRestored(xapi, created, AbortSignal.timeout(120_000))
    throw error
  }
}

/** The VM: Suspended on its restored memory image (restored first: VM.create needs it), else Halted. */
async function createRebuiltVm(
  task: TaskContext,
  xapi: XapiClient,
  o: VmRebuild,
  sr: Ref,
  onCreated: (object: RestoredObject) => void,
): Promise<Ref> {
  const { meta, memory } = o
  let fields = vmOverrides(meta, o.nameSuffix, o.tag)
  fields.tags = [...(fields.tags as string[]), ...(o.tags ?? [])]
  if (memory !== undefined) {
    const image = await o.restoreDisk(task, memory.disk, { sr, saved: memory.vdi, onCreated })
    fields = { ...fields, ...suspendedFields(memory, image) }
  }
  const vm = await createVm(xapi, meta.vm, fields, task.signal)
  onCreated({ class: 'VM', ref: vm })
  return vm
}

/** Disks (restored), empty drives, VIFs and vTPMs; plugged where they were for a Suspended VM. */
async function attachDevices(
  task: TaskContext,
  xapi: XapiClient,
  vm: Ref,
  o: VmRebuild,
  sr: Ref,
  onCreated: (object: RestoredObject) => void,
): Promise<void> {
  const { signal } = task
  const { meta } = o
  const suspended = { suspended: o.memory !== undefined }
  for (const [i, disk] of meta.disks.entries()) {
    const vdi = await o.restoreDisk(task, i, { sr, saved: disk.vdi, onCreated })
    await createVbd(xapi, vm, vdi, disk.vbd, signal, suspended)
  }
  for (const vbd of meta.otherVbds) await createVbd(xapi, vm, NULL_REF, { ...vbd, empty: true }, signal)
  for (const vif of o.network === false ? [] : meta.vifs) {
    const network = await mapNetwork(xapi, vif.$network, o.networkMap, signal)
    await createVif(xapi, vm, network, vif, { signal, ...suspended })
  }
  for (const vtpm of meta.vtpms) {
    const created = await xapi.call<Ref>('VTPM.create', [vm, vtpm.is_unique], signal)
    await xapi.call('VTPM.set_contents', [created, vtpm.contents], signal)
  }
}

/**
 * Removes what a restore created: each VM (with the disks attached to it), then each VDI. Objects gone
 * already are no error; the others are tried in turn, and those that could not be removed are returned
 * with the reason.
 */
export async function removeRestored(
  xapi: XapiClient,
  created: readonly RestoredObject[],
  signal: AbortSignal,
): Promise<{ object: RestoredObject; error: unknown }[]> {
  const failed: { object: RestoredObject; error: unknown }[] = []
  const ordered = [...created.filter((c) => c.class === 'VM'), ...created.filter((c) => c.class === 'VDI')]
  for (const object of ordered) {
    const remove =
      object.class === 'VM'
        ? () => destroyVm(xapi, object.ref, { signal })
        : () => xapi.call('VDI.destroy', [object.ref], signal)
    await undoCall(remove, signal).catch((error: unknown) => failed.push({ object, error }))
  }
  return failed
}

/** Lifts the block a restore puts on starting the VM (unless the source had it), starts it if asked. */
async function release(
  task: TaskContext,
  xapi: XapiClient,
  vm: Ref,
  meta: PointMetadata,
  how: { start: boolean; resume: boolean },
): Promise<RestoredVm> {
  const { signal } = task
  const saved = (meta.vm.blocked_operations ?? {}) as Record<string, string>
  for (const op of BLOCKED_OPS) {
    if (saved[op] === undefined) await xapi.call('VM.remove_from_blocked_operations', [vm, op], signal)
  }
  if (how.start && how.resume) await resumeRestored(xapi, vm, String(meta.vm.name_label), signal)
  else if (how.start) await callAsync(xapi, 'VM.start', [vm, false, false], { signal })
  const restored = await record(xapi, 'VM', vm, signal)
  const result = {
    vmUuid: String(restored.uuid),
    vmName: String(restored.name_label),
    withMemory: how.resume,
  }
  task.set(result)
  return result
}

/** '2026-12-07 02:00' (UTC, like point ids) from the point's ISO start time. */
function pointDate(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ')
}

async function srRef(xapi: XapiClient, sr: string, signal: AbortSignal): Promise<Ref> {
  return refByUuid(xapi, 'SR', (await resolveSr(xapi, sr, signal)).uuid, signal)
}

function vmOverrides(meta: PointMetadata, suffix: string, tag: string): XapiRecord {
  const otherConfig = { ...((meta.vm.other_config ?? {}) as Record<string, string>) }
  delete otherConfig.mac_seed // new MACs: the original VM may still run
  const tags = Array.isArray(meta.vm.tags) ? meta.vm.tags.map(String) : []
  return {
    name_label: `${String(meta.vm.name_label ?? '')}${suffix}`,
    tags: tag === '' || tags.includes(tag) ? tags : [...tags, tag],
    other_config: otherConfig,
    // Refs of the source pool mean nothing here.
    affinity: NULL_REF,
    suspend_SR: NULL_REF,
    appliance: NULL_REF,
    power_state: 'Halted',
    blocked_operations: {
      ...(meta.vm.blocked_operations as object),
      ...Object.fromEntries(BLOCKED_OPS.map((op) => [op, BLOCK_REASON])),
    },
  }
}

/** A network by the map, else the same uuid, else the same name, else the first network with PIFs. */
export async function mapNetwork(
  xapi: XapiClient,
  source: { uuid: string; name_label: string },
  map: Record<string, string> | undefined,
  signal: AbortSignal,
): Promise<Ref> {
  const mapped = map?.[source.uuid]
  if (mapped !== undefined) return refByUuid(xapi, 'network', mapped, signal)
  const all = await xapi.call<Record<Ref, XapiRecord>>('network.get_all_records', [], signal)
  const entries = Object.entries(all)
  const pick =
    entries.find(([, r]) => r.uuid === source.uuid) ??
    entries.find(([, r]) => r.name_label === source.name_label) ??
    entries.find(([, r]) => ((r.PIFs as unknown[]) ?? []).length > 0)
  if (pick === undefined)
    throw new RestoreError('RESTORE_NO_NETWORK', `no network for VIF of network ${source.uuid}`)
  return pick[0]
}

/** Where restoreDisk writes disk `disk` of a point: a new VDI on `sr` made from the saved record. */
interface DiskTarget extends NewVdi {
  readonly repository: Repository
  readonly ref: { vm: string; pointId: string }
  readonly disk: number
}

/** Creates a VDI on `sr` and writes disk `disk` of the point into it; removes it on failure. */
async function restoreDisk(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  { repository, ref, disk, sr, saved, onCreated }: DiskTarget,
): Promise<Ref> {
  using reader = await DiskReader.open(repository, ref, disk, task.signal)
  return await task.child(
    'transfer',
    (t) =>
      limits.transfers.run(async () => {
        const vdi = await createVdi(xapi, { ...saved, virtual_size: reader.size }, sr, t.signal)
        onCreated?.({ class: 'VDI', ref: vdi })
        try {
          const progress = diskProgress(t, reader, 'vhd')
          await writeDiskToVdi(xapi, reader, vdi, { signal: t.signal, onProgress: progress.onWritten })
          progress.finish()
          return vdi
        } catch (error) {
          const cleanup = AbortSignal.timeout(120_000)
          await undoCall(() => xapi.call('VDI.destroy', [vdi], cleanup), cleanup).catch(() => undefined)
          throw error
        }
      }, t.signal),
    { disk, size: reader.size },
  )
}

export interface DiskRestoreOptions {
  readonly repository: Repository
  readonly pointId: string
  /** The disk of the point (0-based). */
  readonly disk: number
  /** The SR's uuid or name. */
  readonly srUuid: string
  /** Told of the VDI as soon as it exists (see VmRestoreOptions). */
  readonly onCreated?: (object: RestoredObject) => void
}

export async function restoreDiskToSr(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  o: DiskRestoreOptions,
): Promise<{ vdiUuid: string }> {
  const ref = await resolvePoint(o.repository, o.pointId, task.signal)
  const manifest = await readManifest(o.repository, ref, task.signal)
  const meta = manifest.vm.metadata
  const entry = manifest.disks[o.disk]
  // A memory image (no VM disk's record) becomes a plain VDI named after it, never a loose suspend VDI.
  const saved: XapiRecord = (isPointMetadata(meta) ? meta.disks[o.disk]?.vdi : undefined) ?? {
    name_label: entry?.name ?? `disk ${o.disk}`,
  }
  const sr = await srRef(xapi, o.srUuid, task.signal)
  const target = { repository: o.repository, ref, disk: o.disk, sr, saved, onCreated: o.onCreated }
  const vdi = await restoreDisk(task, xapi, limits, target)
  return { vdiUuid: String((await record(xapi, 'VDI', vdi, task.signal)).uuid) }
}

export interface DiskToFileOptions {
  readonly repository: Repository
  readonly pointId: string
  readonly disk: number
  readonly path: string
  readonly format: 'raw' | 'vhd'
  /** Replace a file already at `path` (default: refuse). */
  readonly overwrite?: boolean
}

export async function restoreDiskToFile(
  task: TaskContext,
  o: DiskToFileOptions,
): Promise<{ bytes: number; size: number; dataBytes: number; zeroBytes: number }> {
  await checkDestination(o.path, o.overwrite === true)
  const ref = await resolvePoint(o.repository, o.pointId, task.signal)
  using reader = await DiskReader.open(o.repository, ref, o.disk, task.signal)
  const progress = diskProgress(task, reader, o.format)
  const bytes = await writeDiskToFile(reader, o.path, o.format, {
    signal: task.signal,
    onProgress: progress.onWritten,
  })
  progress.finish()
  return { bytes, ...progress.facts }
}

/** Before any work: the folder must exist, and a file there is replaced only when asked. */
async function checkDestination(path: string, overwrite: boolean): Promise<void> {
  const folder = dirname(path)
  const dir = await stat(folder).catch(() => undefined)
  if (dir === undefined || !dir.isDirectory())
    throw new RestoreError('NO_SUCH_FOLDER', `folder '${folder}' does not exist (to write '${path}')`)
  const existing = await stat(path).catch(() => undefined)
  if (existing !== undefined && (!overwrite || !existing.isFile()))
    throw new RestoreError(
      'FILE_EXISTS',
      existing.isFile()
        ? `file '${path}' exists already and is not replaced unless asked (--force)`
        : `'${path}' exists and is not a file`,
    )
}
