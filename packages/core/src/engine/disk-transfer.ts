// One disk of a backup: the VDI snapshot as a disk source (disks/vdi-source.ts chooses the changed-block
// path and where the bytes come from, with every fallback a warning), copied into every target through
// one ChunkSink. What the engine adds: the task (warnings, progress, the path taken) and the wait for a
// VDI that dom0 still holds.
import {
  copyDisk,
  VdiDiskSource,
  type ChangedBlocksPath,
  type ChunkSink,
  type VdiBase,
} from '../disks/index.js'
import type { TaskContext } from '../shared/index.js'
import { waitOutInUse, type Ref, type XapiClient, type XapiRecord } from '../xapi/index.js'

export type { ChangedBlocksPath } from '../disks/index.js'
export type DiskBase = VdiBase

export interface DiskTransfer {
  readonly vdi: Ref
  readonly record: XapiRecord
  /** Undefined: a full read. */
  readonly base: DiskBase | undefined
  readonly sink: ChunkSink
  /** Some writer starts from a base index: chunks a full read skips must be stored as zeros. */
  readonly zeroFill: boolean
  /** Chunks already in every writer (adopted from an interrupted attempt): never read. */
  readonly skip?: ReadonlySet<number>
}

export interface TransferSettings {
  readonly changedBlocks: 'auto' | ChangedBlocksPath
  readonly preferNbd: boolean
  readonly nbdConnections?: number
  /** Over TLS, NBD reads go straight into chunk buffers where Node allows it (default true). */
  readonly nbdTlsDirectReads?: boolean
}

/** Transfers one disk; returns the path that succeeded. */
export async function transferDisk(
  task: TaskContext,
  xapi: XapiClient,
  job: DiskTransfer,
  settings: TransferSettings,
): Promise<ChangedBlocksPath> {
  const source = new VdiDiskSource({
    xapi,
    vdi: job.vdi,
    record: job.record,
    base: job.base,
    changedBlocks: settings.changedBlocks,
    preferNbd: settings.preferNbd,
    nbdConnections: settings.nbdConnections,
    nbdTlsDirectReads: settings.nbdTlsDirectReads,
    waitOutInUse,
  })
  try {
    const outcome = await copyDisk(source, job.sink, {
      signal: task.signal,
      skip: job.skip,
      complete: job.zeroFill,
      warn: (message, details) => task.warn(message, details),
    })
    task.set({ path: outcome.path, nbd: outcome.via === 'nbd' })
    return outcome.path as ChangedBlocksPath
  } finally {
    await source.close()
  }
}
