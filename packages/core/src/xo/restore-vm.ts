// Restoring a VM from an XO restore point, the way `strata restore vm` restores from a repository (same
// XAPI calls, same choices): a delta point rebuilds the VM from its metadata's `vm`, `vbds`, `vdis`,
// `vifs` and `vtpms` records, each disk written into a new VDI as a sparse VHD stream; a full point is
// an XVA, which XAPI imports itself. The VM stays blocked from starting until it is complete; whatever
// a failed restore created is removed.
import type { TaskContext } from '../shared/index.js'
import { planVhd, writeVhd } from '../vhd/index.js'
import {
  callAsync,
  createVbd,
  createVdi,
  createVif,
  createVm,
  destroyVm,
  importVdi,
  importXva,
  NULL_REF,
  refByUuid,
  undoCall,
  type Ref,
  type XapiClient,
  type XapiRecord,
} from '../xapi/index.js'
import type { XoDisk } from './disk.js'
import { XoError } from './errors.js'
import { deltaDisks, type XoDeltaMetadata, type XoFullMetadata } from './format/metadata.js'
import { resolveFrom } from './format/paths.js'
import type { XoRestorePoint } from './point.js'
import type { XoRemote } from './remote.js'
import { xvaStoredBytes, xvaStoredSize } from './xva-stream.js'

export interface XoVmRestoreOptions {
  readonly srUuid: string
  /** Source network uuid → target network uuid. */
  readonly networkMap?: Readonly<Record<string, string>>
  readonly start?: boolean
  /** Appended to the VM's name. */
  readonly nameSuffix?: string
}

const BLOCK_REASON = 'Strata restore in progress'
const cleanupSignal = (): AbortSignal => AbortSignal.timeout(120_000) // not the run's: undo after a cancel too

export async function restoreXoVm(
  task: TaskContext,
  xapi: XapiClient,
  remote: XoRemote,
  point: XoRestorePoint,
  o: XoVmRestoreOptions,
): Promise<{ vmUuid: string }> {
  const sr = await refByUuid(xapi, 'SR', o.srUuid, task.signal)
  const meta = point.metadata
  const vm =
    meta.mode === 'full'
      ? await importFull(task, xapi, remote, meta, sr, o)
      : await rebuildDelta(task, xapi, point, meta, sr, o)
  try {
    if (o.start === true) await callAsync(xapi, 'VM.start', [vm, false, false], { signal: task.signal })
    return { vmUuid: String(await xapi.call('VM.get_uuid', [vm], task.signal)) }
  } catch (error) {
    const cleanup = cleanupSignal()
    await undoCall(() => destroyVm(xapi, vm, { signal: cleanup }), cleanup).catch(() => undefined)
    throw error
  }
}

async function importFull(
  task: TaskContext,
  xapi: XapiClient,
  remote: XoRemote,
  meta: XoFullMetadata,
  sr: Ref,
  o: XoVmRestoreOptions,
): Promise<Ref> {
  const path = resolveFrom(meta.file, meta.xva, `XVA of ${meta.file}`)
  const length = await xvaStoredSize(remote, path, task.signal)
  const vms = await task.child(
    'transfer',
    (t) =>
      importXva(
        xapi,
        sr,
        { open: () => counted(xvaStoredBytes(remote, path, t.signal), t, length), length },
        t.signal,
      ),
    { xva: path, size: length },
  )
  const vm = vms[0]
  if (vm === undefined) throw new XoError('XO_RESTORE_FAILED', `importing ${path} created no VM`)
  if (o.nameSuffix !== undefined && o.nameSuffix !== '') {
    const name = await xapi.call<string>('VM.get_name_label', [vm], task.signal)
    await xapi.call('VM.set_name_label', [vm, `${name}${o.nameSuffix}`], task.signal)
  }
  return vm
}

async function rebuildDelta(
  task: TaskContext,
  xapi: XapiClient,
  point: XoRestorePoint,
  meta: XoDeltaMetadata,
  sr: Ref,
  o: XoVmRestoreOptions,
): Promise<Ref> {
  const { signal } = task
  const vm = await createVm(xapi, meta.vm as XapiRecord, vmOverrides(meta, o.nameSuffix), signal)
  const created: Ref[] = []
  try {
    await attachDisks(task, xapi, point, meta, sr, vm, created)
    for (const vif of Object.values(meta.vifs)) {
      const network = await mapNetwork(xapi, vif, o.networkMap, signal)
      await createVif(xapi, vm, network, vif as XapiRecord, { signal })
    }
    for (const contents of meta.vtpms) {
      const vtpm = await xapi.call<Ref>('VTPM.create', [vm, false], signal)
      await xapi.call('VTPM.set_contents', [vtpm, contents], signal)
    }
    const saved = (meta.vm.blocked_operations ?? {}) as Record<string, string>
    for (const op of ['start', 'start_on']) {
      if (saved[op] === undefined) await xapi.call('VM.remove_from_blocked_operations', [vm, op], signal)
    }
    return vm
  } catch (error) {
    const cleanup = cleanupSignal()
    await undoCall(() => destroyVm(xapi, vm, { signal: cleanup }), cleanup).catch(() => undefined)
    // A VDI whose VBD was not made yet is not the VM's: destroyed on its own (HANDLE_INVALID if it went).
    for (const vdi of created)
      await undoCall(() => xapi.call('VDI.destroy', [vdi], cleanup), cleanup).catch(() => undefined)
    throw error
  }
}

/** Each disk into a new VDI attached as it was; `created` collects the VDIs for the caller's undo. */
async function attachDisks(
  task: TaskContext,
  xapi: XapiClient,
  point: XoRestorePoint,
  meta: XoDeltaMetadata,
  sr: Ref,
  vm: Ref,
  created: Ref[],
): Promise<void> {
  for (const [i, disk] of deltaDisks(meta).entries()) {
    if (disk.vbd === undefined) {
      task.warn(`disk ${i} (${String(disk.vdi.name_label ?? disk.ref)}) is attached to no VBD: not restored`)
      continue
    }
    const source = await point.openDisk(i, task.signal)
    const vdi = await restoreDisk(task, xapi, source, i, sr, disk.vdi as XapiRecord)
    created.push(vdi)
    await createVbd(xapi, vm, vdi, booleans(disk.vbd, ['bootable', 'unpluggable']), task.signal)
  }
}

function vmOverrides(meta: XoDeltaMetadata, suffix: string | undefined): XapiRecord {
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

/** XenServer before 7.1 stored booleans as 0 and 1 (xo-backups.md §2.2). */
function booleans(record: Readonly<Record<string, unknown>>, fields: string[]): XapiRecord {
  const out: XapiRecord = { ...record }
  for (const f of fields) if (typeof out[f] === 'number') out[f] = out[f] !== 0
  return out
}

/** Creates a VDI on `sr` and writes the disk into it; removes it on failure. */
async function restoreDisk(
  task: TaskContext,
  xapi: XapiClient,
  disk: XoDisk,
  index: number,
  sr: Ref,
  saved: XapiRecord,
): Promise<Ref> {
  return task.child(
    'transfer',
    async (t) => {
      const vdi = await createVdi(
        xapi,
        { ...booleans(saved, ['sharable', 'read_only']), virtual_size: disk.size },
        sr,
        t.signal,
      )
      try {
        await writeXoDiskToVdi(xapi, disk, vdi, t)
        return vdi
      } catch (error) {
        const cleanup = cleanupSignal()
        await undoCall(() => xapi.call('VDI.destroy', [vdi], cleanup), cleanup).catch(() => undefined)
        throw error
      }
    },
    { disk: index, size: disk.size },
  )
}

/** The disk into an existing VDI of at least its size, as a dynamic VHD holding its blocks. */
export async function writeXoDiskToVdi(
  xapi: XapiClient,
  disk: XoDisk,
  vdi: Ref,
  task: TaskContext,
): Promise<number> {
  const plan = planVhd({
    size: disk.size,
    blockSize: disk.blockSize,
    blockIndexes: await disk.presentBlocks(task.signal),
  })
  const open = () =>
    counted(writeVhd(plan, disk.blocks({ signal: task.signal }), task.signal), task, plan.length)
  await importVdi(xapi, vdi, { open, length: plan.length }, { format: 'vhd', signal: task.signal })
  return plan.length
}

async function* counted(
  source: AsyncIterable<Uint8Array>,
  task: TaskContext,
  total: number,
): AsyncGenerator<Uint8Array> {
  let done = 0
  for await (const bytes of source) {
    yield bytes
    done += bytes.length
    task.progress({ done, total })
  }
}

/** A network by the map, else the same uuid, else the same name, else the first network with PIFs. */
async function mapNetwork(
  xapi: XapiClient,
  vif: Readonly<Record<string, unknown>>,
  map: Readonly<Record<string, string>> | undefined,
  signal: AbortSignal,
): Promise<Ref> {
  const uuid = String(vif.$network$uuid ?? '')
  const name = String(vif.$network$name_label ?? '')
  const mapped = map?.[uuid]
  if (mapped !== undefined) return refByUuid(xapi, 'network', mapped, signal)
  const all = Object.entries(await xapi.call<Record<Ref, XapiRecord>>('network.get_all_records', [], signal))
  const pick =
    all.find(([, r]) => uuid !== '' && r.uuid === uuid) ??
    all.find(([, r]) => name !== '' && r.name_label === name) ??
    all.find(([, r]) => ((r.PIFs as unknown[]) ?? []).length > 0)
  if (pick === undefined)
    throw new XoError('XO_RESTORE_FAILED', `no network for a VIF of network ${uuid || name}`)
  return pick[0]
}
