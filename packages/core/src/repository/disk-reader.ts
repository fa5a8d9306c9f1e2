// Reads one disk of a restore point: chunks by index, in any order and in parallel; zero chunks come back
// as zeros without touching the store. Memory: the index (32 bytes per chunk) and a few recent chunks.
import { RepositoryError } from './errors.js'
import type { Repository } from './repository.js'
import type { SharedBytes } from './codec-pool.js'
import { SharedSlots } from './shared-slots.js'
import { readDiskIndex, readManifest } from './points.js'
import { ID_LENGTH } from './format/constants.js'
import { entryCount, type DiskIndex } from './format/disk-index.js'
import type { PointRef } from './format/layout.js'
import { isZero } from './disk-writer.js'

/** Memory: at most this many chunks kept for reuse. */
const RECENT_CHUNKS = 8

/** A chunk being read or read, shared by its readers: its memory goes back when the last one lets go. */
interface Held {
  readonly ready: Promise<SharedBytes>
  /** The cache's reference while the chunk is in it, plus one per lease not yet released. */
  refs: number
}

export class DiskReader {
  readonly chunkCount: number
  readonly #recent = new Map<string, Held>()
  /** The memory chunks are decoded into: reused, never more buffers than chunks lent or cached at once. */
  readonly #slots: SharedSlots
  /** And the memory their stored bytes are read into, free again once decoded. */
  readonly #storedSlots: SharedSlots

  constructor(
    readonly repo: Repository,
    readonly name: string,
    readonly index: DiskIndex,
  ) {
    this.chunkCount = entryCount(index.diskSize, index.chunkSize)
    this.#slots = new SharedSlots(index.chunkSize)
    this.#storedSlots = new SharedSlots(repo.storedChunkMax)
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

  /**
   * The last few chunks read, by id: disks repeat blocks, and parallel readers hit the same ones. The
   * reference is taken before anything is awaited, so an eviction meanwhile cannot free the memory.
   */
  async #lease(id: string, signal?: AbortSignal): Promise<SharedBytes> {
    let held = this.#recent.get(id)
    if (held !== undefined) {
      this.#recent.delete(id)
      this.#recent.set(id, held)
    } else {
      const out = this.#slots.take()
      const stored = this.#storedSlots.take()
      const ready = this.repo.readChunkInto(id, out, signal, stored).then(
        (bytes) => {
          this.#storedSlots.give(stored)
          return { bytes, release: () => this.#slots.give(out) }
        },
        (error: unknown) => {
          this.#storedSlots.give(stored)
          this.#slots.give(out)
          throw error
        },
      )
      const entry: Held = { ready, refs: 1 }
      held = entry
      this.#recent.set(id, entry)
      if (this.#recent.size > RECENT_CHUNKS) {
        const [oldestId, oldest] = this.#recent.entries().next().value as [string, Held]
        this.#recent.delete(oldestId)
        unref(oldest)
      }
      ready.catch(() => {
        if (this.#recent.get(id) === entry) this.#recent.delete(id)
      })
    }
    held.refs++
    const { bytes } = await held.ready
    const lent = held
    let released = false
    return {
      bytes,
      release: () => {
        if (!released) unref(lent)
        released = true
      },
    }
  }

  /**
   * Lets go of the recent chunks: their memory goes back to the process's shared memory once no lease
   * holds it (kept with a dropped reader, it would stay alive in the codec threads: shared-memory.ts).
   * The reader still reads afterwards; only its cache starts empty again.
   */
  close(): void {
    for (const held of this.#recent.values()) unref(held)
    this.#recent.clear()
  }

  /** close() at the end of a `using` block: whoever opens a reader gives its memory back on every path. */
  [Symbol.dispose](): void {
    this.close()
  }

  /** Chunk buffers made so far: the most ever lent or cached at once (for tests and diagnostics). */
  get buffersMade(): number {
    return this.#slots.made
  }

  *nonZeroChunks(): Generator<number> {
    for (let i = 0; i < this.chunkCount; i++) if (this.idOf(i) !== undefined) yield i
  }

  /** Chunk `index` (zeros for a zero chunk), in a buffer of its own. */
  async readChunk(index: number, signal?: AbortSignal): Promise<Uint8Array> {
    const lease = await this.leaseChunk(index, signal)
    try {
      return Uint8Array.from(lease.bytes)
    } finally {
      lease.release()
    }
  }

  /**
   * Chunk `index` without a copy: its bytes may be shared with other leases of the same content and
   * are reused once released. Callers must not modify them, must `release()` once done, and must not
   * touch them after.
   */
  async leaseChunk(index: number, signal?: AbortSignal): Promise<SharedBytes> {
    if (!Number.isInteger(index) || index < 0 || index >= this.chunkCount) {
      throw new RepositoryError('INVALID_ARGUMENT', `chunk ${index} is outside disk '${this.name}'`)
    }
    const id = this.idOf(index)
    if (id === undefined) return { bytes: new Uint8Array(this.chunkLength(index)), release: () => {} }
    const lease = await this.#lease(id, signal)
    if (lease.bytes.length !== this.chunkLength(index)) {
      lease.release()
      throw new RepositoryError(
        'CORRUPT_OBJECT',
        `${this.repo.describeChunk(id)} has ${lease.bytes.length} bytes at chunk ${index}`,
      )
    }
    return lease
  }
}

function unref(held: Held): void {
  if (--held.refs === 0)
    held.ready.then(
      (shared) => shared.release(),
      () => {},
    )
}
