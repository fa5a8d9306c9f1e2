// The disks of one replica. Each is written into a fresh state and never into a disk a replica uses: a
// clone of the last restore point's disk (the delta is applied to it in place, only the changed blocks
// crossing), or a new VDI (a full copy: the first run, disaster recovery, a base that is gone). A write
// that fails leaves the previous replica as it was; the caller destroys the fresh disks. The memory
// image of a checkpoint is copied whole into a new VDI of type `suspend`.
import { VdiImportSink, VdiDiskSource, copyDisk, type VdiBase } from '../../disks/index.js'
import type { TaskContext } from '../../shared/index.js'
import {
  createVdi,
  findByUuid,
  record,
  undoCall,
  vmDisks,
  waitOutInUse,
  type Ref,
  type XapiClient,
  type XapiRecord,
} from '../../xapi/index.js'
import type { SnapshotDisk } from '../vm-snapshot.js'
import { XO, setKeys } from './replica-keys.js'
import type { ReplicaObject } from './replica-find.js'

export interface DiskPlan {
  readonly snapshot: SnapshotDisk
  /** The source snapshot the last restore point holds (a delta is read against it). */
  readonly sourceBase?: VdiBase
  /** That restore point's disk: cloned, then the delta written into the clone. */
  readonly targetBase?: Ref
}

export interface CopySettings {
  readonly changedBlocks: 'auto' | 'cbt' | 'vhd-bat' | 'vhd-stream' | 'full'
  readonly preferNbd: boolean
  readonly nbdConnections?: number
  readonly nbdTlsDirectReads?: boolean
  readonly maxBytesPerSecond?: number
}

export interface DiskCopy {
  readonly vdi: Ref
  readonly full: boolean
  readonly bytesRead: number
  readonly bytesWritten: number
  /** Bytes of the upload bodies (chunked frames, or VHDs on a pool that refuses them): what crossed. */
  readonly bytesSent: number
}

/** Per disk of the snapshot, its base: the restore point's disk of the same source disk, if usable. */
export async function planDisks(
  task: TaskContext,
  source: XapiClient,
  target: XapiClient,
  disks: readonly SnapshotDisk[],
  point: ReplicaObject | undefined,
): Promise<DiskPlan[]> {
  if (point === undefined) return disks.map((snapshot) => ({ snapshot }))
  const pointDisks = await vmDisks(target, point.ref, task.signal)
  const plans: DiskPlan[] = []
  for (const snapshot of disks) {
    const plan = await planDisk(task, source, snapshot, pointDisks)
    plans.push(plan ?? { snapshot })
  }
  return plans
}

async function planDisk(
  task: TaskContext,
  source: XapiClient,
  snapshot: SnapshotDisk,
  pointDisks: readonly { vdi: Ref; vdiRecord: XapiRecord }[],
): Promise<DiskPlan | undefined> {
  const live = String(snapshot.live.vdiRecord.uuid)
  const copy = pointDisks.find(
    (d) => (d.vdiRecord.other_config as Record<string, string>)[XO.copyOf] === live,
  )
  const key = (copy?.vdiRecord.other_config as Record<string, string> | undefined)?.[XO.contentKey]
  const ref = key === undefined ? undefined : await findByUuid(source, 'VDI', key, task.signal)
  const base = ref === undefined ? undefined : await record(source, 'VDI', ref, task.signal)
  const size = Number(snapshot.record.virtual_size)
  if (copy === undefined || base === undefined || base.snapshot_of !== snapshot.live.vdi) {
    task.warn(`VDI ${live}: the snapshot the last replica holds is gone from the source: full copy`)
    return undefined
  }
  if (Number(copy.vdiRecord.virtual_size) !== size || Number(base.virtual_size) !== size) {
    task.warn(`VDI ${live} changed size since the last replica: full copy`)
    return undefined
  }
  const sourceBase = { vdi: ref!, hasData: base.type !== 'cbt_metadata', cbt: base.cbt_enabled === true }
  return { snapshot, sourceBase, targetBase: copy.vdi }
}

/**
 * The fresh state one disk of the replica is written into: a clone of the restore point's disk (a
 * delta), else a new VDI on `sr`; `keys` go on it from the start. The caller destroys it on failure.
 */
export async function freshReplicaDisk(
  pools: { target: XapiClient; sr: Ref },
  plan: DiskPlan,
  keys: Readonly<Record<string, string>>,
  signal: AbortSignal,
): Promise<Ref> {
  const { target, sr } = pools
  if (plan.targetBase !== undefined) {
    const clone = await target.call<Ref>('VDI.clone', [plan.targetBase, {}], signal)
    try {
      await setKeys(target, 'VDI', clone, keys, signal)
    } catch (error) {
      await undoCall(() => target.call('VDI.destroy', [clone], AbortSignal.timeout(60_000))).catch(() => {})
      throw error
    }
    return clone
  }
  const saved = plan.snapshot.live.vdiRecord
  const args = { ...saved, virtual_size: plan.snapshot.record.virtual_size, other_config: { ...keys } }
  return createVdi(target, { ...args, tags: saved.tags ?? [] }, sr, signal)
}

/**
 * Writes one disk of the snapshot into `vdi` (from freshReplicaDisk): the changed blocks over a clone,
 * else every allocated block. Progress and what crossed (bytes read from the source, written into the
 * replica) go to the task.
 */
export async function fillReplicaDisk(
  task: TaskContext,
  pools: { source: XapiClient; target: XapiClient },
  plan: DiskPlan,
  vdi: Ref,
  settings: CopySettings,
): Promise<DiskCopy> {
  const from = { vdi: plan.snapshot.vdi, record: plan.snapshot.record, base: plan.sourceBase }
  return copyInto(task, pools, vdi, from, plan.targetBase !== undefined, settings)
}

/**
 * Copies a source VDI into `vdi`: the blocks changed since `from.base` (over a clone of the state that
 * holds it: `over`), else every allocated block.
 */
async function copyInto(
  task: TaskContext,
  pools: { source: XapiClient; target: XapiClient },
  vdi: Ref,
  from: { vdi: Ref; record: XapiRecord; base?: VdiBase },
  over: boolean,
  settings: CopySettings,
): Promise<DiskCopy> {
  const size = Number(from.record.virtual_size)
  const sink = new VdiImportSink({
    xapi: pools.target,
    vdi,
    size,
    zeroHoles: over,
    signal: task.signal,
    maxBytesPerSecond: settings.maxBytesPerSecond,
    onProgress: (done, total) => task.progress({ done, total }),
    warn: (message, details) => task.warn(message, details),
  })
  const reader = new VdiDiskSource({
    xapi: pools.source,
    vdi: from.vdi,
    record: from.record,
    base: from.base,
    changedBlocks: settings.changedBlocks,
    preferNbd: settings.preferNbd,
    nbdConnections: settings.nbdConnections,
    nbdTlsDirectReads: settings.nbdTlsDirectReads,
    waitOutInUse,
  })
  try {
    // Over a clone, a full read (a fallback) must also write the zeros where the old state had data.
    const warn = (message: string, details?: Record<string, unknown>) => task.warn(message, details)
    const outcome = await copyDisk(reader, sink, { signal: task.signal, complete: over, warn })
    const figures = await sink.finish()
    const full = !over || outcome.path === 'full'
    task.set({ path: outcome.path, nbd: outcome.via === 'nbd', full, bytesRead: sink.bytesRead, ...figures })
    const { bytesWritten, bytesSent } = figures
    return { vdi, full, bytesRead: sink.bytesRead, bytesWritten, bytesSent }
  } catch (error) {
    await sink.abort(error)
    throw error
  } finally {
    await reader.close()
  }
}

/**
 * Copies a checkpoint's memory image into a new VDI of type `suspend` on `sr` (the replica is created
 * Suspended on it); removed if anything fails.
 */
export async function copyMemoryImage(
  task: TaskContext,
  pools: { source: XapiClient; target: XapiClient; sr: Ref },
  image: Ref,
  keys: Readonly<Record<string, string>>,
  settings: CopySettings,
): Promise<DiskCopy> {
  const { signal } = task
  const saved = await record(pools.source, 'VDI', image, signal)
  const args = { ...saved, type: 'suspend', other_config: { ...keys }, tags: [] }
  const vdi = await createVdi(pools.target, args, pools.sr, signal)
  try {
    return await copyInto(task, pools, vdi, { vdi: image, record: saved }, false, settings)
  } catch (error) {
    const cleanup = AbortSignal.timeout(120_000)
    await undoCall(() => pools.target.call('VDI.destroy', [vdi], cleanup), cleanup).catch(() => undefined)
    throw error
  }
}
