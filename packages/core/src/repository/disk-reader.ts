// Reads one disk of a restore point: chunks by index, in any order and in parallel; zero chunks come back
// as zeros without touching the store. Memory: the index (32 bytes per chunk).
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import { readDiskIndex, readManifest } from './points.js'
import { ID_LENGTH } from './format/constants.js'
import { entryCount, type DiskIndex } from './format/disk-index.js'
import type { PointRef } from './format/layout.js'
import { isZero } from './disk-writer.js'

/** Memory: at most this many chunks kept for reuse. */
const RECENT_CHUNKS = 8

export class DiskReader {
  readonly chunkCount: number
  readonly #recent = new Map<string, Promise<Uint8Array>>()

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

  /** The last few chunks read, by id: disks repeat blocks, and parallel readers hit the same ones. */
  async #read(id: string, signal?: AbortSignal): Promise<Uint8Array> {
    const cached = this.#recent.get(id)
    if (cached !== undefined) {
      this.#recent.delete(id)
      this.#recent.set(id, cached)
      return cached
    }
    const reading = this.repo.readChunk(id, signal)
    this.#recent.set(id, reading)
    if (this.#recent.size > RECENT_CHUNKS) this.#recent.delete(this.#recent.keys().next().value as string)
    reading.catch(() => this.#recent.delete(id))
    return reading
  }

  *nonZeroChunks(): Generator<number> {
    for (let i = 0; i < this.chunkCount; i++) if (this.idOf(i) !== undefined) yield i
  }

  /**
   * Chunk `index` (zeros for a zero chunk). The bytes may be shared with other calls for the same content:
   * callers must not modify them.
   */
  async readChunk(index: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (!Number.isInteger(index) || index < 0 || index >= this.chunkCount) {
      throw new RepositoryError('INVALID_ARGUMENT', `chunk ${index} is outside disk '${this.name}'`)
    }
    const id = this.idOf(index)
    if (id === undefined) return new Uint8Array(this.chunkLength(index))
    const data = await this.#read(id, signal)
    if (data.length !== this.chunkLength(index)) {
      throw new RepositoryError(
        'CORRUPT_OBJECT',
        `${this.repo.describeChunk(id)} has ${data.length} bytes at chunk ${index}`,
      )
    }
    return data
  }
}
