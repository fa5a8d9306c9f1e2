// Differential restore, apart from any pool: which chunks of a disk as it is now differ from a restore
// point (compared by the repository's chunk ids: a keyed hash in an encrypted repository, as the backup
// computed them), and the VHD holding only the point's blocks that cover those chunks. Imported into the
// disk (XAPI's import_raw_vdi with format=vhd writes the blocks a VHD holds and leaves the others), it
// makes the disk byte-identical to the point while writing about as much as changed.
import { diskVhdBytes } from '../disks/index.js'
import type { DiskReader, Repository } from '../repository/index.js'
import { StrataError, throwIfAborted, type StrataErrorOptions } from '../shared/index.js'
import { isZero, planVhd, type VhdPlan } from '../vhd/index.js'

const BLOCK = 2 * 1024 * 1024

/**
 * DISK_SIZE_MISMATCH: the disk is not the point's size; VDI_NOT_FOUND: no such VDI on the pool;
 * VDI_IN_USE_BY_VM: a VM that is not halted has the VDI; NBD_UNAVAILABLE: the VDI cannot be read to
 * compare it (no network with an NBD purpose). Onto a VM's own disks: NOT_A_VM_POINT, VM_NOT_FOUND,
 * VM_NOT_HALTED, VM_DISKS_CHANGED (a disk of the point is no longer one of the VM's).
 */
export type DifferentialRestoreErrorCode =
  | 'DISK_SIZE_MISMATCH'
  | 'VDI_NOT_FOUND'
  | 'VDI_IN_USE_BY_VM'
  | 'NBD_UNAVAILABLE'
  | 'NOT_A_VM_POINT'
  | 'VM_NOT_FOUND'
  | 'VM_NOT_HALTED'
  | 'VM_DISKS_CHANGED'

export class DifferentialRestoreError extends StrataError {
  declare readonly code: DifferentialRestoreErrorCode
  constructor(code: DifferentialRestoreErrorCode, message: string, options: StrataErrorOptions = {}) {
    super(code, message, options)
  }
}

/** The disk being restored onto, as it is now (a VDI read over NBD, a file). */
export interface CurrentDisk {
  readonly size: number
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>
}

export interface Differences {
  /** Chunk indexes whose bytes differ from the point's, ascending. */
  readonly chunks: number[]
  readonly comparedBytes: number
  /** The bytes of the differing chunks. */
  readonly differingBytes: number
}

export interface CompareOptions {
  /** Chunks read and hashed at once. Default 4. */
  readonly parallel?: number
  readonly signal?: AbortSignal
  readonly onProgress?: (comparedBytes: number) => void
}

/** Reads the whole current disk once, hashing each chunk as the backup did. */
export async function findDifferences(
  repository: Repository,
  reader: DiskReader,
  current: CurrentDisk,
  options: CompareOptions = {},
): Promise<Differences> {
  if (current.size !== reader.size)
    throw new DifferentialRestoreError(
      'DISK_SIZE_MISMATCH',
      `the disk is ${current.size} bytes and the restore point's ${reader.size}: a differential restore needs the same size`,
    )
  const differs = new Array<boolean>(reader.chunkCount).fill(false)
  let compared = 0
  let next = 0
  const worker = async (): Promise<void> => {
    for (let i = next++; i < reader.chunkCount; i = next++) {
      throwIfAborted(options.signal)
      const bytes = await current.read(i * reader.chunkSize, reader.chunkLength(i), options.signal)
      const id = isZero(bytes) ? undefined : (await repository.chunkIdOf(bytes)).toString('hex')
      differs[i] = id !== reader.idOf(i)
      compared += bytes.length
      options.onProgress?.(compared)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, options.parallel ?? 4) }, worker))
  const chunks = differs.flatMap((d, i) => (d ? [i] : []))
  const differingBytes = chunks.reduce((sum, i) => sum + reader.chunkLength(i), 0)
  return { chunks, comparedBytes: compared, differingBytes }
}

/** The VHD of the point's blocks covering `chunks`: what to import into the disk. */
export function planDifferentialVhd(reader: DiskReader, chunks: readonly number[]): VhdPlan {
  const blocks = new Set<number>()
  for (const chunk of chunks) {
    const start = chunk * reader.chunkSize
    const end = start + reader.chunkLength(chunk) - 1
    for (let b = Math.floor(start / BLOCK); b <= Math.floor(end / BLOCK); b++) blocks.add(b)
  }
  return planVhd({
    size: reader.size,
    blockSize: BLOCK,
    blockIndexes: [...blocks].sort((a, b) => a - b),
  })
}

/** The planned VHD's bytes (lent: each piece valid until the next is asked for). */
export function differentialVhdBytes(
  reader: DiskReader,
  plan: VhdPlan,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  return diskVhdBytes(reader, plan, 4, signal)
}
