// A backup's memory image (XO's "backup with memory"): the suspend VDI of the run's checkpoint, stored as
// one more disk of the restore point with the role 'memory', and the checkpoint's fields a VM created
// Suspended needs to resume (xapi.md §2.3: last_booted_record, last_boot_CPU_flags, and the platform,
// memory and vCPU layout the image was taken with). The image changes completely between runs: it is
// always read whole, by the VHD export (a suspend VDI is no disk xapi-nbd is known to serve); chunks
// already in the repository are still not stored twice.
import { ChunkSink } from '../disks/index.js'
import type { DiskWriter, PointWriter } from '../repository/index.js'
import type { TaskContext } from '../shared/index.js'
import { NULL_REF, record, type Ref, type XapiClient, type XapiRecord } from '../xapi/index.js'
import { transferDisk } from './disk-transfer.js'
import type { PoolLimits } from './limits.js'
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
  const resume: XapiRecord = {}
  for (const field of RESUME_FIELDS) if (checkpoint[field] !== undefined) resume[field] = checkpoint[field]
  return { vdi, record: await record(xapi, 'VDI', vdi, signal), resume }
}

export function memoryMetadata(memory: MemorySource, disk: number): PointMemoryMetadata {
  return { disk, snapshot: String(memory.record.uuid), vdi: memory.record, vm: memory.resume }
}

/** Opens the image's writer in every point, after the VM's disks: never from a base (it is always full). */
export function openMemory(points: readonly PointWriter[], memory: MemorySource): DiskWriter[] {
  const size = Number(memory.record.virtual_size)
  return points.map((p) => p.openDisk(MEMORY_DISK_NAME, size, -1, 'memory'))
}

/** Reads the whole image into its writers, under the pool's transfer limit; returns the bytes read. */
export function backupMemory(
  task: TaskContext,
  xapi: XapiClient,
  limits: PoolLimits,
  source: { memory: MemorySource; writers: DiskWriter[]; disk: number },
  maxBytesPerSecond: number | undefined,
): Promise<number> {
  const { memory, writers, disk } = source
  const data = {
    disk,
    vdi: String(memory.record.uuid),
    size: Number(memory.record.virtual_size),
    memory: true,
  }
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
  return { ...memory.vm, power_state: 'Suspended', suspend_VDI: suspendVdi }
}
