// A backup's memory image (XO's "backup with memory"): the suspend VDI of the run's checkpoint, stored as
// one more disk of the restore point with the role 'memory', and the checkpoint's fields a VM created
// Suspended needs to resume (xapi.md §2.3: last_booted_record, last_boot_CPU_flags, and the platform,
// memory and vCPU layout the image was taken with). The image changes completely between runs: it is
// always read whole, by the VHD export (a suspend VDI is no disk xapi-nbd is known to serve); chunks
// already in the repository are still not stored twice. On restore: which image to resume from, the
// fields of the VM created Suspended on it, and its resume.
import { ChunkSink } from '../disks/index.js'
import type { Manifest, PointWriter } from '../repository/index.js'
import { errorMessage, type TaskContext } from '../shared/index.js'
import { NULL_REF, callAsync, record, type Ref, type XapiClient, type XapiRecord } from '../xapi/index.js'
import { transferDisk } from './disk-transfer.js'
import type { PoolLimits } from './limits.js'
import { RestoreError } from './restore-error.js'
import type { TakenSnapshot } from './vm-snapshot.js'

/** The name the memory image has among a point's disks. */
export const MEMORY_DISK_NAME = 'memory image'

/** Checkpoint fields replayed into VM.create for a Suspended VM (the image depends on them). */
const RESUME_FIELDS = [
  'last_booted_record',
  'last_boot_CPU_flags',
  'platform',
  'memory_static_max',
  'memory_dynamic_max',
  'memory_dynamic_min',
  'memory_static_min',
  'memory_target',
  'VCPUs_max',
  'VCPUs_at_startup',
] as const

/** What a point records of its memory image (PointMetadata.memory). */
export interface PointMemoryMetadata {
  /** Position of the image among the manifest's disks (its role is 'memory'). */
  readonly disk: number
  /** uuid of the checkpoint's suspend VDI the image was read from. */
  readonly snapshot: string
  /** The suspend VDI's record (type 'suspend'). */
  readonly vdi: XapiRecord
  /** The checkpoint's RESUME_FIELDS. */
  readonly vm: XapiRecord
}

/** The memory image of a run: the checkpoint's suspend VDI. */
export interface MemorySource {
  readonly vdi: Ref
  readonly record: XapiRecord
  readonly resume: XapiRecord
}

/**
 * The checkpoint's memory image, or undefined (with a warning) when it has none: the checkpoint of a VM
 * that is not running is a plain snapshot.
 */
export async function findMemory(
  task: TaskContext,
  xapi: XapiClient,
  snap: TakenSnapshot,
): Promise<MemorySource | undefined> {
  const { signal } = task
  const checkpoint = snap.vm === undefined ? {} : await record(xapi, 'VM', snap.vm, signal)
  const vdi = String(checkpoint.suspend_VDI ?? NULL_REF) as Ref
  if (vdi === NULL_REF) {
    task.warn('no memory in this backup: the checkpoint holds no memory image (the VM was not running)')
    return undefined
  }
  return { vdi, record: await record(xapi, 'VDI', vdi, signal), resume: resumeFields(checkpoint) }
}

export function memoryMetadata(memory: MemorySource, disk: number): PointMemoryMetadata {
  return { disk, snapshot: String(memory.record.uuid), vdi: memory.record, vm: memory.resume }
}

/**
 * Reads the whole image into a new disk of every point (`disk`: its position, after the VM's disks), opened
 * at once and never from a base (it is always full), under the pool's transfer limit; returns the bytes
 * read.
 */
export function backupMemory(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  { memory, points, disk }: { memory: MemorySource; points: readonly PointWriter[]; disk: number },
  maxBytesPerSecond: number | undefined,
): Promise<number> {
  const size = Number(memory.record.virtual_size)
  const writers = points.map((p) => p.openDisk(MEMORY_DISK_NAME, size, -1, 'memory'))
  const data = { disk, name: MEMORY_DISK_NAME, vdi: String(memory.record.uuid), size, memory: true }
  const run = async (t: TaskContext): Promise<number> => {
    const sink = new ChunkSink(writers, {
      maxBytesPerSecond,
      onProgress: (done, total) => t.progress({ done, total }),
    })
    const transfer = { vdi: memory.vdi, record: memory.record, base: undefined, sink, zeroFill: false }
    const path = await transferDisk(t, xapi, transfer, { changedBlocks: 'full', preferNbd: false })
    t.set({ path, bytesRead: sink.bytesRead })
    return sink.bytesRead
  }
  return task.child('transfer', (t) => limits.transfers.run(() => run(t), t.signal), data)
}

/** VM.create fields of a VM created Suspended on its restored memory image (xapi.md §2.3, API ≥ 1.257). */
export function suspendedFields(memory: PointMemoryMetadata, suspendVdi: Ref): XapiRecord {
  return { ...resumeFields(memory.vm), power_state: 'Suspended', suspend_VDI: suspendVdi }
}

/** Only RESUME_FIELDS, whatever else a record holds. */
function resumeFields(from: XapiRecord): XapiRecord {
  const out: XapiRecord = {}
  for (const field of RESUME_FIELDS) if (from[field] !== undefined) out[field] = from[field]
  return out
}

/**
 * The memory image a restore resumes from: the point's, unless the caller restores without memory (a
 * halted VM). A point whose records name an image its manifest does not hold is refused before anything
 * is made on the pool.
 */
export function memoryToRestore(
  meta: { readonly memory?: PointMemoryMetadata },
  manifest: Manifest,
  pointId: string,
  wanted: boolean,
): PointMemoryMetadata | undefined {
  const memory = meta.memory
  if (memory === undefined || !wanted) return undefined
  const entry = Number.isSafeInteger(memory.disk) ? manifest.disks[memory.disk] : undefined
  if (entry?.role !== 'memory') {
    throw new RestoreError(
      'RESTORE_NO_MEMORY_IMAGE',
      `restore point '${pointId}' names memory image ${String(memory.disk)} but holds none there (restore it without memory)`,
    )
  }
  return memory
}

/** VM.resume of the restored VM; an image the host refuses is the point's fault, said so. */
export async function resumeRestored(
  xapi: XapiClient,
  vm: Ref,
  name: string,
  signal: AbortSignal,
): Promise<void> {
  try {
    await callAsync(xapi, 'VM.resume', [vm, false, false], { signal })
  } catch (error) {
    if (signal.aborted) throw error
    throw new RestoreError(
      'RESTORE_RESUME_FAILED',
      `VM '${name}' does not resume from the memory image of its restore point (${errorMessage(error)}): restore it without memory`,
      { cause: error },
    )
  }
}
