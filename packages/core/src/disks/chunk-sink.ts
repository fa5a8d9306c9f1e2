// Where a disk source delivers chunks: every target's DiskWriter at once (the source is read once and
// fanned out), under an optional byte rate, with progress in bytes.
import type { DiskWriter } from '../repository/index.js'
import { isZero, sleep } from '../shared/index.js'
import type { ChunkTarget } from './chunk-target.js'

export interface ChunkSinkOptions {
  readonly maxBytesPerSecond?: number
  /** Called with the bytes handed to the writers so far and the bytes expected, when known. */
  readonly onProgress?: (bytes: number, expected: number | undefined) => void
  /** Called once chunk `index` is stored in every writer (resume journals record it). */
  readonly onStored?: (index: number) => void
}

export class ChunkSink implements ChunkTarget {
  readonly #writers: readonly DiskWriter[]
  readonly #options: ChunkSinkOptions
  readonly #started = performance.now()
  #bytesRead = 0
  #expected: number | undefined

  constructor(writers: readonly DiskWriter[], options: ChunkSinkOptions = {}) {
    if (writers.length === 0) throw new RangeError('a chunk sink needs at least one writer')
    this.#writers = writers
    this.#options = options
  }

  get writers(): readonly DiskWriter[] {
    return this.#writers
  }

  get chunkSize(): number {
    return this.#writers[0]!.repo.chunkSize
  }

  get chunkCount(): number {
    return this.#writers[0]!.chunkCount
  }

  get size(): number {
    return this.#writers[0]!.size
  }

  /** Bytes of chunks stored with their data so far (holes not counted). */
  get bytesRead(): number {
    return this.#bytesRead
  }

  /** Bytes the sink expects in all, when a source said so. */
  get expected(): number | undefined {
    return this.#expected
  }

  chunkLength(index: number): number {
    return this.#writers[0]!.chunkLength(index)
  }

  /** Chunks every writer must be given even if unchanged (bad chunks, a resized tail). */
  needed(): number[] {
    return [...new Set(this.#writers.flatMap((w) => w.needed()))].sort((a, b) => a - b)
  }

  /** A source announced `bytes` more to read (a fallback adds its own). */
  expect(bytes: number): void {
    this.#expected = this.#bytesRead + bytes
    this.#options.onProgress?.(this.#bytesRead, this.#expected)
  }

  /** Stores chunk `index` in every target; `data` may be reused once this resolves. */
  async put(index: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    await Promise.all(this.#writers.map((w) => w.putChunk(index, data, signal)))
    this.#options.onStored?.(index)
    this.#bytesRead += data.length
    this.#options.onProgress?.(this.#bytesRead, this.#expected)
    await this.#throttle(signal)
  }

  /**
   * Records chunk `index` as zeros in every target. A writer whose index already says zeros (no base,
   * or a base hole) is left alone: no 2 MiB of zeros scanned per hole of a large sparse disk.
   */
  async putZero(index: number, signal?: AbortSignal): Promise<void> {
    const length = this.chunkLength(index)
    await Promise.all(
      this.#writers.map((w) =>
        isZero(w.idAt(index)) ? undefined : w.putChunk(index, zeros(length), signal),
      ),
    )
    this.#options.onStored?.(index)
  }

  async #throttle(signal?: AbortSignal): Promise<void> {
    const rate = this.#options.maxBytesPerSecond
    if (rate === undefined || rate <= 0) return
    const due = (this.#bytesRead / rate) * 1000 - (performance.now() - this.#started)
    if (due > 0) await sleep(due, signal)
  }
}

let zeroBuffer = Buffer.alloc(0)
function zeros(length: number): Buffer {
  if (zeroBuffer.length < length) zeroBuffer = Buffer.alloc(length)
  return zeroBuffer.subarray(0, length)
}
