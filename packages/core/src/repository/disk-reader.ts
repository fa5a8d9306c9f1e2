// Reads one disk of a restore point: chunks by index, in any order and in parallel; zero chunks come back
// as zeros without touching the store. Memory: the index (32 bytes per chunk).
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { readDiskIndex, readManifest } from './points.js'
import { ID_LENGTH } from './format/constants.js'
import { entryCount, type DiskIndex } from './format/disk-index.js'
import type { PointRef } from './format/layout.js'
import { isZero } from './disk-writer.js'

export class DiskReader {
  readonly chunkCount: number

  constructor(
    readonly repo: Repository,
    readonly name: string,
    readonly index: DiskIndex,
  ) {
    this.chunkCount = entryCount(index.diskSize, index.chunkSize)
  }

  static async open(repo: Repository, ref: PointRef, disk = 0, signal?: AbortSignal): Promise<DiskReader> {
    const manifest = await readManifest(repo, ref, signal)
    const entry = manifest.disks[disk]
    if (entry === undefined) {
      throw new RepositoryError('INVALID_ARGUMENT', `restore point '${ref.pointId}' has no disk ${disk}`)
    }
    return new DiskReader(repo, entry.name, await readDiskIndex(repo, entry.index, signal))
  }

  get size(): number {
    return this.index.diskSize
  }

  get chunkSize(): number {
    return this.index.chunkSize
  }

  chunkLength(index: number): number {
    return Math.min(this.chunkSize, this.size - index * this.chunkSize)
  }

  /** Hex id of chunk `index`, or undefined for a zero chunk. */
  idOf(index: number): string | undefined {
    const id = this.index.ids.subarray(index * ID_LENGTH, (index + 1) * ID_LENGTH)
    return isZero(id) ? undefined : Buffer.from(id).toString('hex')
  }

  *nonZeroChunks(): Generator<number> {
    for (let i = 0; i < this.chunkCount; i++) if (this.idOf(i) !== undefined) yield i
  }

  async readChunk(index: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (!Number.isInteger(index) || index < 0 || index >= this.chunkCount) {
      throw new RepositoryError('INVALID_ARGUMENT', `chunk ${index} is outside disk '${this.name}'`)
    }
    const id = this.idOf(index)
    if (id === undefined) return new Uint8Array(this.chunkLength(index))
    const data = await this.repo.readChunk(id, signal)
    if (data.length !== this.chunkLength(index)) {
      throw new RepositoryError(
        'CORRUPT_OBJECT',
        `${this.repo.describeChunk(id)} has ${data.length} bytes at chunk ${index}`,
      )
    }
    return data
  }
}
