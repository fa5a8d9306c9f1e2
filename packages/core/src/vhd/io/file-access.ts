// Files as VHD sources: positional reads (RandomAccess) and a sequential chunk stream with one read in
// flight ahead of the consumer, so that disk reads overlap parsing and writing.
import { open, type FileHandle } from 'node:fs/promises'
import { throwIfAborted } from '../../shared/abort.js'
import { VhdError, VhdErrorCode } from '../errors.js'
import type { RandomAccess } from '../disk.js'

export class FileAccess implements RandomAccess {
  private constructor(
    readonly handle: FileHandle,
    readonly size: number,
    readonly path: string,
  ) {}

  static async open(path: string): Promise<FileAccess> {
    const handle = await open(path, 'r')
    try {
      const { size } = await handle.stat()
      return new FileAccess(handle, size, path)
    } catch (error) {
      await handle.close()
      throw error
    }
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal)
    const buffer = Buffer.allocUnsafe(length)
    let filled = 0
    while (filled < length) {
      const { bytesRead } = await this.handle.read(buffer, filled, length - filled, offset + filled)
      if (bytesRead === 0) {
        throw new VhdError(
          VhdErrorCode.truncated,
          `${this.path}: ends at ${offset + filled}, wanted ${length} bytes at ${offset}`,
        )
      }
      filled += bytesRead
    }
    return buffer
  }

  close(): Promise<void> {
    return this.handle.close()
  }
}

export interface FileChunksOptions {
  /** Bytes per read; large reads keep syscalls off the profile. */
  chunkSize?: number
  /** Size of the first read, to line later reads up with the file's layout (e.g. VHD blocks). */
  firstChunkSize?: number
  /**
   * Reuse a ring of this many buffers instead of allocating one per chunk (saves the page faults of
   * fresh memory). Only for consumers that are done with a chunk before `recycle - 2` further chunks
   * have been read (one is in flight ahead, one is being consumed). 0: every chunk is fresh memory.
   */
  recycle?: number
  signal?: AbortSignal
}

/** The file's bytes in order, reading the next chunk while the consumer handles the current one. */
export async function* readFileChunks(
  path: string,
  options: FileChunksOptions = {},
): AsyncGenerator<Uint8Array> {
  const chunkSize = options.chunkSize ?? 8 * 1024 * 1024
  const ring: Buffer[] = []
  const recycle = options.recycle ?? 0
  let n = 0
  const nextBuffer = (size: number): Buffer => {
    if (recycle < 3 || size !== chunkSize) return Buffer.allocUnsafe(size)
    const slot = n++ % recycle
    return (ring[slot] ??= Buffer.allocUnsafe(chunkSize))
  }
  const handle = await open(path, 'r')
  let pending: Promise<Uint8Array> | undefined
  try {
    let position = 0
    pending = readChunk(handle, position, nextBuffer(options.firstChunkSize ?? chunkSize))
    for (;;) {
      throwIfAborted(options.signal)
      const chunk = await pending
      if (chunk.length === 0) return
      position += chunk.length
      pending = readChunk(handle, position, nextBuffer(chunkSize))
      yield chunk
    }
  } finally {
    await pending?.catch(() => undefined)
    await handle.close()
  }
}

function readChunk(handle: FileHandle, position: number, buffer: Buffer): Promise<Uint8Array> {
  const read = readChunkNow(handle, position, buffer)
  read.catch(() => undefined) // awaited by the loop; this only keeps a failure during a slow consumer "handled"
  return read
}

async function readChunkNow(handle: FileHandle, position: number, buffer: Buffer): Promise<Uint8Array> {
  let filled = 0
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, position + filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return buffer.subarray(0, filled)
}
