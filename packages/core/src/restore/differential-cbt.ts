// The CBT way of a differential restore: when the snapshot the point was read from is still on the pool
// (with data or as cbt_metadata) and the VDI restored onto is the one it was taken of with CBT on, the
// blocks written since are VDI.list_changed_blocks between that snapshot and a snapshot of the VDI taken
// for the purpose (removed after). Nothing of the disk is read. Any doubt returns undefined: the caller
// then compares the disk with the point instead.
import type { DiskReader } from '../repository/index.js'
import { errorMessage, type TaskContext } from '../shared/index.js'
import {
  callAsync,
  findByUuid,
  listChangedBlocks,
  record,
  undoCall,
  waitOutInUse,
  type ChangedBlocks,
  type Ref,
  type XapiClient,
  type XapiRecord,
} from '../xapi/index.js'

/** What the point records of the disk: the VDI it was taken of and the snapshot read. */
export interface PointDiskOrigin {
  readonly source: string
  readonly snapshot: string
}

/** The chunks of `reader` that CBT says changed since the point, or undefined (no usable CBT). */
export async function changedSincePoint(
  task: TaskContext,
  xapi: XapiClient,
  target: { ref: Ref; record: XapiRecord },
  origin: PointDiskOrigin | undefined,
  reader: DiskReader,
  onCreated?: (object: { class: 'VDI'; ref: Ref }) => void,
): Promise<number[] | undefined> {
  const { signal } = task
  const uuid = String(target.record.uuid)
  if (origin === undefined || origin.source !== uuid) return undefined
  if (target.record.cbt_enabled !== true) return undefined
  const base = await findByUuid(xapi, 'VDI', origin.snapshot, signal)
  if (base === undefined) return undefined
  const baseRecord = await record(xapi, 'VDI', base, signal)
  if (baseRecord.cbt_enabled !== true || baseRecord.snapshot_of !== target.ref) return undefined
  try {
    const changed = await listSinceBase(xapi, base, target.ref, signal, onCreated)
    return chunksOf(changed, reader)
  } catch (error) {
    if (signal.aborted) throw error
    task.warn(`CBT of VDI ${uuid} is unusable (${errorMessage(error)}): comparing the disk instead`)
    return undefined
  }
}

/** list_changed_blocks from the base to a snapshot of the VDI now, the snapshot removed after. */
async function listSinceBase(
  xapi: XapiClient,
  base: Ref,
  vdi: Ref,
  signal: AbortSignal,
  onCreated?: (object: { class: 'VDI'; ref: Ref }) => void,
): Promise<ChangedBlocks> {
  const now = (await callAsync(xapi, 'VDI.snapshot', [vdi, {}], { signal })) as Ref
  // Whoever outlives this process (a worker's parent) removes it should the process die before we do.
  onCreated?.({ class: 'VDI', ref: now })
  try {
    return await waitOutInUse(() => listChangedBlocks(xapi, base, now, { signal }), signal)
  } finally {
    // Not the run's signal: a cancelled restore removes it too.
    const cleanup = AbortSignal.timeout(120_000)
    await undoCall(() => xapi.call('VDI.destroy', [now], cleanup), cleanup)
  }
}

/** The reader's chunks holding a changed CBT block (any chunk size, not only multiples of 64 KiB). */
export function chunksOf(changed: ChangedBlocks, reader: DiskReader): number[] {
  const chunks = new Set<number>()
  const last = Math.ceil(reader.size / changed.granularity)
  for (let block = 0; block < Math.min(last, changed.blockCount); block++) {
    if (!changed.isChanged(block)) continue
    const start = block * changed.granularity
    const end = Math.min(reader.size, start + changed.granularity) - 1
    for (let c = Math.floor(start / reader.chunkSize); c <= Math.floor(end / reader.chunkSize); c++)
      chunks.add(c)
  }
  return [...chunks].sort((a, b) => a - b)
}
