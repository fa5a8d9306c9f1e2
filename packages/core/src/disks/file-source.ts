// A raw disk image as a disk source. Node has no lseek(SEEK_DATA), so the file's allocation map comes
// from FIEMAP through `filefrag` (nbd/server/allocation-map.ts): only chunks that hold allocated data are
// read, holes cost nothing, and the cost of a backup follows the data, not the disk size. Without a map
// (no filefrag, a file system without FIEMAP such as tmpfs) every chunk is read, with a warning.
import { open, type FileHandle } from 'node:fs/promises'
import { readAllocationMap, type AllocatedRun } from '../nbd/index.js'
import { BufferPool, readFully, throwIfAborted } from '../shared/index.js'
import { allChunks, mergeChunks } from './chunk-map.js'
import { chunkCountOf, chunkLengthOf } from './disk-source.js'
import type { ChunkRequest, DiskChunk, DiskSource, SourceOutcome } from './disk-source.js'
import { DiskError } from './errors.js'

export interface FileSourceOptions {
  /**
   * The chunks that may differ from the consumer's base (e.g. a changed list): others are not
   * delivered. Default: all of them.
   */
  readonly changed?: readonly number[]
  /** Reads in flight. Default 6. */
  readonly inFlight?: number
  /** The allocation map to use instead of asking filefrag (tests; null: none known). */
  readonly allocation?: readonly AllocatedRun[] | null
}

export class FileDiskSource implements DiskSource {
  readonly description: string
  outcome: SourceOutcome | undefined
  readonly #handle: FileHandle
  readonly #options: FileSourceOptions

  private constructor(
    readonly path: string,
    handle: FileHandle,
    readonly size: number,
    options: FileSourceOptions,
  ) {
    this.description = `file ${path}`
    this.#handle = handle
    this.#options = options
  }

  static async open(path: string, options: FileSourceOptions = {}): Promise<FileDiskSource> {
    const handle = await open(path, 'r')
    try {
      const stat = await handle.stat()
      if (!stat.isFile()) throw new DiskError('DISK_SOURCE_INVALID', `${path} is not a regular file`)
      return new FileDiskSource(path, handle, stat.size, options)
    } catch (error) {
      await handle.close()
      throw error
    }
  }

  async *chunks(request: ChunkRequest): AsyncGenerator<DiskChunk> {
    const { chunkSize } = request
    const count = chunkCountOf(this.size, chunkSize)
    const warnings: string[] = []
    const runs =
      this.#options.allocation === undefined ? await readAllocationMap(this.path) : this.#options.allocation
    if (runs === null || runs === undefined) {
      const message = `no allocation map for ${this.description} (filefrag or FIEMAP unavailable): every chunk is read`
      warnings.push(message)
      request.events?.warn?.(message)
    }
    const changed = this.#options.changed ?? allChunks(count)
    const allocated =
      runs === null || runs === undefined ? undefined : allocatedChunks(runs, chunkSize, count)
    const skip = request.skip
    const candidates = mergeChunks(changed, request.needed).filter((i) => skip?.has(i) !== true)
    const read = allocated === undefined ? candidates : candidates.filter((i) => allocated.has(i))
    const bytes = read.reduce((n, i) => n + chunkLengthOf(i, this.size, chunkSize), 0)
    request.events?.planned?.(read.length, bytes)
    yield* this.#read(read, chunkSize, request.signal)
    let holes = 0
    // Holes of a changed list, or of the whole disk when the consumer starts from an older index.
    if (allocated !== undefined) {
      const maybeStale = request.complete || this.#options.changed !== undefined
      for (const index of maybeStale ? candidates : []) {
        if (allocated.has(index)) continue
        holes++
        yield { index, lease: undefined }
      }
    }
    const path = allocated === undefined ? 'full' : 'allocation-map'
    this.outcome = { path, via: 'file', chunks: read.length, holes, warnings }
  }

  async close(): Promise<void> {
    await this.#handle.close().catch(() => undefined)
  }

  /** Reads the chunks with a few reads in flight, in order, into pooled shared memory. */
  async *#read(list: readonly number[], chunkSize: number, signal: AbortSignal): AsyncGenerator<DiskChunk> {
    const pool = new BufferPool({ shared: true })
    const window: Promise<DiskChunk>[] = []
    let next = 0
    const start = (): void => {
      const index = list[next++]!
      const p = this.#readChunk(pool, index, chunkSize)
      p.catch(() => {}) // observed when taken from the window
      window.push(p)
    }
    const inFlight = Math.max(1, this.#options.inFlight ?? 6)
    try {
      while (next < list.length || window.length > 0) {
        throwIfAborted(signal)
        while (next < list.length && window.length < inFlight) start()
        yield await window.shift()!
      }
    } finally {
      // Stopped early: the chunks still being read go back once read.
      for (const p of window)
        p.then(
          (c) => c.lease?.release(),
          () => {},
        )
    }
  }

  async #readChunk(pool: BufferPool, index: number, chunkSize: number): Promise<DiskChunk> {
    const length = chunkLengthOf(index, this.size, chunkSize)
    const lease = pool.lease(length)
    try {
      const n = await readFully(this.#handle, lease.bytes, 0, length, index * chunkSize)
      if (n !== length) {
        throw new DiskError(
          'DISK_SOURCE_INVALID',
          `${this.description} changed size while reading chunk ${index}`,
        )
      }
      return { index, lease }
    } catch (error) {
      lease.release()
      throw error
    }
  }
}

/** Chunks holding any allocated, written byte (unwritten extents read as zeros). */
export function allocatedChunks(
  runs: readonly AllocatedRun[],
  chunkSize: number,
  count: number,
): Set<number> {
  const out = new Set<number>()
  for (const run of runs) {
    if (run.unwritten) continue
    const last = Math.min(count - 1, Math.floor((run.end - 1) / chunkSize))
    for (let c = Math.floor(run.start / chunkSize); c <= last; c++) out.add(c)
  }
  return out
}
