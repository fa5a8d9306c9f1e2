// Restores from a restore point: a whole VM rebuilt from the records in its manifest (xapi.md §2.3) on any
// SR of any pool, one disk into a new VDI, or one disk to a raw or VHD file. Disk data goes to XAPI as a
// sparse VHD (zero blocks never sent), chunks read in parallel. What a failed restore created is removed.
import { writeDiskToFile, writeDiskToVdi } from '../disks/index.js'
import { DiskReader, readManifest, resolvePoint, type Repository } from '../repository/index.js'
import { StrataError, type TaskContext } from '../shared/index.js'
import { NULL_REF, callAsync, createVbd, createVdi, createVif, createVm, destroyVm } from '../xapi/index.js'
import type { Ref, XapiClient, XapiRecord } from '../xapi/index.js'
import type { PoolLimits } from './limits.js'
import { isPointMetadata, type PointMetadata } from './vm-metadata.js'
import { record, refByUuid, undoCall } from '../xapi/index.js'

export interface VmRestoreOptions {
  readonly repository: Repository
  readonly pointId: string
  readonly srUuid: string
  /** Source network uuid → target network uuid. */
  readonly networkMap?: Record<string, string>
  readonly start?: boolean
  readonly nameSuffix?: string
}

export class RestoreError extends StrataError {}

const BLOCK_REASON = 'Strata restore in progress'

export async function restoreVm(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  o: VmRestoreOptions,
): Promise<{ vmUuid: string }> {
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
  const sr = await refByUuid(xapi, 'SR', o.srUuid, signal)
  const vm = await createVm(xapi, meta.vm, vmOverrides(meta, o.nameSuffix), signal)
  const created: Ref[] = []
  try {
    for (const [i, disk] of meta.disks.entries()) {
      const vdi = await restoreDisk(task, xapi, limits, o.repository, ref, i, sr, disk.vdi)
      created.push(vdi)
      await createVbd(xapi, vm, vdi, disk.vbd, signal)
    }
    for (const vbd of meta.otherVbds) await createVbd(xapi, vm, NULL_REF, { ...vbd, empty: true }, signal)
    for (const vif of meta.vifs)
      await createVif(xapi, vm, await mapNetwork(xapi, vif.$network, o.networkMap, signal), vif, { signal })
    for (const vtpm of meta.vtpms) {
      const created = await xapi.call<Ref>('VTPM.create', [vm, vtpm.is_unique], signal)
      await xapi.call('VTPM.set_contents', [created, vtpm.contents], signal)
    }
    const saved = (meta.vm.blocked_operations ?? {}) as Record<string, string>
    for (const op of ['start', 'start_on']) {
      if (saved[op] === undefined) await xapi.call('VM.remove_from_blocked_operations', [vm, op], signal)
    }
    if (o.start === true) await callAsync(xapi, 'VM.start', [vm, false, false], { signal })
    return { vmUuid: String(await xapi.call('VM.get_uuid', [vm], signal)) }
  } catch (error) {
    const cleanup = AbortSignal.timeout(120_000) // not the run's signal: undo after a cancel too
    await undoCall(() => destroyVm(xapi, vm, { signal: cleanup }), cleanup).catch(() => undefined)
    for (const vdi of created)
      await undoCall(() => xapi.call('VDI.destroy', [vdi], cleanup), cleanup).catch(() => undefined)
    throw error
  }
}

function vmOverrides(meta: PointMetadata, suffix: string | undefined): XapiRecord {
  const otherConfig = { ...((meta.vm.other_config ?? {}) as Record<string, string>) }
  delete otherConfig.mac_seed // new MACs: the original VM may still run
  return {
    name_label: `${String(meta.vm.name_label ?? '')}${suffix ?? ''}`,
    other_config: otherConfig,
    // Refs of the source pool mean nothing here.
    affinity: NULL_REF,
    suspend_SR: NULL_REF,
    appliance: NULL_REF,
    power_state: 'Halted',
    blocked_operations: {
      ...(meta.vm.blocked_operations as object),
      start: BLOCK_REASON,
      start_on: BLOCK_REASON,
    },
  }
}

/** A network by the map, else the same uuid, else the same name, else the first network with PIFs. */
async function mapNetwork(
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

/** Creates a VDI on `sr` and writes disk `disk` of the point into it; removes it on failure. */
async function restoreDisk(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  repo: Repository,
  ref: { vm: string; pointId: string },
  disk: number,
  sr: Ref,
  saved: XapiRecord,
): Promise<Ref> {
  const reader = await DiskReader.open(repo, ref, disk, task.signal)
  return task.child(
    'transfer',
    (t) =>
      limits.transfers.run(async () => {
        const vdi = await createVdi(xapi, { ...saved, virtual_size: reader.size }, sr, t.signal)
        try {
          await writeDiskToVdi(xapi, reader, vdi, {
            signal: t.signal,
            onProgress: (done) => t.progress({ done, total: reader.size }),
          })
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

export async function restoreDiskToSr(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  o: { repository: Repository; pointId: string; disk: number; srUuid: string },
): Promise<{ vdiUuid: string }> {
  const ref = await resolvePoint(o.repository, o.pointId, task.signal)
  const manifest = await readManifest(o.repository, ref, task.signal)
  const meta = manifest.vm.metadata
  const entry = manifest.disks[o.disk]
  const saved: XapiRecord = isPointMetadata(meta)
    ? (meta.disks[o.disk]?.vdi ?? {})
    : { name_label: entry?.name ?? `disk ${o.disk}` }
  const sr = await refByUuid(xapi, 'SR', o.srUuid, task.signal)
  const vdi = await restoreDisk(task, xapi, limits, o.repository, ref, o.disk, sr, saved)
  return { vdiUuid: String((await record(xapi, 'VDI', vdi, task.signal)).uuid) }
}

export async function restoreDiskToFile(
  task: TaskContext,
  o: { repository: Repository; pointId: string; disk: number; path: string; format: 'raw' | 'vhd' },
): Promise<{ bytes: number }> {
  const ref = await resolvePoint(o.repository, o.pointId, task.signal)
  const reader = await DiskReader.open(o.repository, ref, o.disk, task.signal)
  const bytes = await writeDiskToFile(reader, o.path, o.format, {
    signal: task.signal,
    onProgress: (done) => task.progress({ done, total: reader.size }),
  })
  return { bytes }
}
