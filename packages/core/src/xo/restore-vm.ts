// Restoring a VM from an XO restore point through `strata restore vm`'s own path: a delta point's
// records (`vm`, `vbds`, `vdis`, `vifs`, `vtpms`) are put in the shape of a Strata point's (as an import
// stores them) and the engine rebuilds the VM from them, each disk written into a new VDI as a sparse VHD
// stream read through its chain. A full point is an XVA, which XAPI imports itself. Whatever a failed
// restore created is removed.
import { rebuildVm, type NewVdi } from '../engine/vm-restore.js'
import type { TaskContext } from '../shared/index.js'
import { planVhd, writeVhd } from '../vhd/index.js'
import {
  callAsync,
  createVdi,
  destroyVm,
  importVdi,
  importXva,
  refByUuid,
  undoCall,
  type Ref,
  type XapiClient,
} from '../xapi/index.js'
import type { XoDisk } from './disk.js'
import { XoError } from './errors.js'
import { deltaDisks, type XoDeltaMetadata, type XoFullMetadata } from './format/metadata.js'
import { resolveFrom } from './format/paths.js'
import { importedMetadata } from './import-metadata.js'
import type { XoRestorePoint } from './point.js'
import type { XoRemote } from './remote.js'
import { xvaStoredBytes, xvaStoredSize } from './xva-stream.js'

export interface XoVmRestoreOptions {
  readonly srUuid: string
  /** Source network uuid → target network uuid. */
  readonly networkMap?: Record<string, string>
  readonly start?: boolean
  /** Appended to the VM's name. */
  readonly nameSuffix?: string
}

const cleanupSignal = (): AbortSignal => AbortSignal.timeout(120_000) // not the run's: undo after a cancel too

export async function restoreXoVm(
  task: TaskContext,
  xapi: XapiClient,
  remote: XoRemote,
  point: XoRestorePoint,
  o: XoVmRestoreOptions,
): Promise<{ vmUuid: string }> {
  const meta = point.metadata
  if (meta.mode === 'delta') return rebuildDelta(task, xapi, remote, point, meta, o)
  const sr = await refByUuid(xapi, 'SR', o.srUuid, task.signal)
  const vm = await importFull(task, xapi, remote, meta, sr, o)
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

/**
 * The engine's VM rebuild (engine/vm-restore.ts) from the point's records, in the shape an import
 * stores them; each disk read through its chain. The VM keeps its name and tags unless a suffix is given.
 */
async function rebuildDelta(
  task: TaskContext,
  xapi: XapiClient,
  remote: XoRemote,
  point: XoRestorePoint,
  meta: XoDeltaMetadata,
  o: XoVmRestoreOptions,
): Promise<{ vmUuid: string }> {
  for (const [i, disk] of deltaDisks(meta).entries()) {
    if (disk.vbd === undefined)
      task.warn(`disk ${i} (${String(disk.vdi.name_label ?? disk.ref)}) is attached to no VBD: not restored`)
  }
  const records = importedMetadata(meta, { backup: point.summary.id, remote: remote.name }, undefined)
  const { vmUuid } = await rebuildVm(task, xapi, {
    meta: records,
    srUuid: o.srUuid,
    nameSuffix: o.nameSuffix ?? '',
    tag: '',
    networkMap: o.networkMap,
    start: o.start,
    restoreDisk: (t, index, target) => restoreDisk(t, xapi, point, index, target),
  })
  return { vmUuid }
}

/** Creates a VDI from the saved record and writes the disk into it; removes it on failure. */
async function restoreDisk(
  task: TaskContext,
  xapi: XapiClient,
  point: XoRestorePoint,
  index: number,
  { sr, saved, onCreated }: NewVdi,
): Promise<Ref> {
  const disk = await point.openDisk(index, task.signal)
  return task.child(
    'transfer',
    async (t) => {
      const vdi = await createVdi(xapi, { ...saved, virtual_size: disk.size }, sr, t.signal)
      onCreated?.({ class: 'VDI', ref: vdi })
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
