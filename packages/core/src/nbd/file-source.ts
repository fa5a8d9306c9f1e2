// A file (raw image, sparse or not) as a block source. Node cannot ask the kernel where the holes are
// (no lseek SEEK_DATA), so block status reads the range and reports all-zero granules as STATE_ZERO:
// honest (never "hole" for what may be allocated), and what lets clients skip zeros.
import { open, type FileHandle } from 'node:fs/promises'
import { throwIfAborted } from '../shared/abort.js'
import type { BlockSource } from './block-source.js'
import { STATE_ZERO } from './codec/constants.js'
import { mergeExtents, type Extent } from './codec/extent.js'

const GRANULE = 64 * 1024
/** Largest range one block status request scans: big, since clients wait for the answer before reading. */
const SCAN_PIECE = 32 * 1024 * 1024
const ZEROES = Buffer.alloc(GRANULE)

export class FileBlockSource implements BlockSource {
  readonly write?: (offset: number, data: Uint8Array, signal?: AbortSignal) => Promise<void>
  /** Scan buffers reused across block status requests (fresh 32 MiB allocations cost page faults). */
  readonly #scanBuffers: Buffer[] = []

  private constructor(
    readonly path: string,
    readonly size: number,
    readonly handle: FileHandle,
    writable: boolean,
  ) {
    if (writable) this.write = (offset, data) => this.#write(offset, data)
  }

  static async open(path: string, options: { writable?: boolean } = {}): Promise<FileBlockSource> {
    const handle = await open(path, options.writable === true ? 'r+' : 'r')
    try {
      const { size } = await handle.stat()
      return new FileBlockSource(path, size, handle, options.writable === true)
    } catch (error) {
      await handle.close()
      throw error
    }
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    return this.#readInto(Buffer.allocUnsafe(length), offset, signal)
  }

  async #readInto(buffer: Buffer, offset: number, signal?: AbortSignal): Promise<Buffer> {
    throwIfAborted(signal)
    const length = buffer.length
    let done = 0
    while (done < length) {
      const { bytesRead } = await this.handle.read(buffer, done, length - done, offset + done)
      if (bytesRead === 0) {
        buffer.fill(0, done) // the file shrank under us: read as zeros, like a sparse tail
        break
      }
      done += bytesRead
    }
    return buffer
  }

  async blockStatus(offset: number, length: number, signal?: AbortSignal): Promise<Extent[]> {
    const end = Math.min(offset + Math.min(length, SCAN_PIECE), this.size)
    const scan = this.#scanBuffers.pop() ?? Buffer.allocUnsafe(SCAN_PIECE)
    try {
      return scanZeroes(await this.#readInto(scan.subarray(0, end - offset), offset, signal), offset)
    } finally {
      this.#scanBuffers.push(scan)
    }
  }

  async flush(): Promise<void> {
    await this.handle.datasync()
  }

  async close(): Promise<void> {
    await this.handle.close()
  }

  async #write(offset: number, data: Uint8Array): Promise<void> {
    let done = 0
    while (done < data.length) {
      const { bytesWritten } = await this.handle.write(data, done, data.length - done, offset + done)
      done += bytesWritten
    }
  }
}

/** Extents of `data` (read at `offset`): all-zero granules, aligned on the file, are STATE_ZERO. */
function scanZeroes(data: Buffer, offset: number): Extent[] {
  const extents: Extent[] = []
  for (let at = 0; at < data.length;) {
    // Granules aligned on the file, so that neighbouring requests agree.
    const next = Math.min(data.length, GRANULE - ((offset + at) % GRANULE) + at)
    const zero = data.subarray(at, next).equals(ZEROES.subarray(0, next - at))
    extents.push({ offset: offset + at, length: next - at, flags: zero ? STATE_ZERO : 0 })
    at = next
  }
  return mergeExtents(extents)
}
