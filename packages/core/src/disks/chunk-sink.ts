// Where a disk source delivers chunks: every target's DiskWriter at once (the source is read once and
// fanned out), under an optional byte rate, with progress in bytes.
import type { DiskWriter } from '../repository/index.js'
import { sleep } from '../shared/index.js'

export interface ChunkSinkOptions {
  readonly maxBytesPerSecond?: number
  /** Called with the bytes handed to the writers so far and the bytes expected, when known. */
  readonly onProgress?: (bytes: number, expected: number | undefined) => void
  /** Called once chunk `index` is stored in every writer (resume journals record it). */
  readonly onStored?: (index: number) => void
}

export class ChunkSink {
  bytesRead = 0
  /** Bytes the current source expects to deliver (for progress), when known. */
  expected: number | undefined
  readonly #started = performance.now()

  constructor(
    readonly writers: readonly DiskWriter[],
    readonly options: ChunkSinkOptions = {},
  ) {
    if (writers.length === 0) throw new RangeError('a chunk sink needs at least one writer')
  }

  get chunkSize(): number {
    return this.writers[0]!.repo.chunkSize
  }

  get chunkCount(): number {
    return this.writers[0]!.chunkCount
  }

  get size(): number {
    return this.writers[0]!.size
  }

  chunkLength(index: number): number {
    return this.writers[0]!.chunkLength(index)
  }

  /** Chunks every writer must be given even if unchanged (bad chunks, a resized tail). */
  needed(): number[] {
    return [...new Set(this.writers.flatMap((w) => w.needed()))].sort((a, b) => a - b)
  }

  /** Stores chunk `index` in every target; `data` may be reused once this resolves. */
  async put(index: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    await Promise.all(this.writers.map((w) => w.putChunk(index, data, signal)))
    this.options.onStored?.(index)
    this.bytesRead += data.length
    this.options.onProgress?.(this.bytesRead, this.expected)
    await this.#throttle(signal)
  }

  async #throttle(signal?: AbortSignal): Promise<void> {
    const rate = this.options.maxBytesPerSecond
    if (rate === undefined || rate <= 0) return
    const due = (this.bytesRead / rate) * 1000 - (performance.now() - this.#started)
    if (due > 0) await sleep(due, signal)
  }
}
