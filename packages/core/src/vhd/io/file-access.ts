// Files as VHD sources: positional reads (RandomAccess) and a sequential chunk stream with one read in
// flight ahead of the consumer, so that disk reads overlap parsing and writing.
import { open, type FileHandle } from 'node:fs/promises'
import { throwIfAborted } from '../../shared/abort.js'
import { readFully } from '../../shared/file-io.js'
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
    const filled = await readFully(this.handle, buffer, 0, length, offset)
    if (filled < length) {
      throw new VhdError(
        VhdErrorCode.truncated,
        `${this.path}: ends at ${offset + filled}, wanted ${length} bytes at ${offset}`,
      )
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
   * fresh memory). Only for consumers that are done with a chunk before `recycle - 1 - readAhead`
   * further chunks have been read (readAhead are in flight, one is being consumed). 0: every chunk
   * is fresh memory.
   */
  recycle?: number
  /** Reads in flight ahead of the consumer (default 1); more lets the page-cache copies run in parallel. */
  readAhead?: number
  signal?: AbortSignal
}

/** The file's bytes in order, reading the next chunks while the consumer handles the current one. */
export async function* readFileChunks(
  path: string,
  options: FileChunksOptions = {},
): AsyncGenerator<Uint8Array> {
  const chunkSize = options.chunkSize ?? 8 * 1024 * 1024
  const ahead = Math.max(1, options.readAhead ?? 1)
  const ring: Buffer[] = []
  const recycle = options.recycle ?? 0
  let n = 0
  const nextBuffer = (size: number): Buffer => {
    if (recycle < 2 + ahead || size !== chunkSize) return Buffer.allocUnsafe(size)
    const slot = n++ % recycle
    return (ring[slot] ??= Buffer.allocUnsafe(chunkSize))
  }
  const handle = await open(path, 'r')
  let pending: { read: Promise<Uint8Array>; position: number; length: number }[] = []
  try {
    const { size } = await handle.stat()
    let next = 0 // where the next read starts
    const queue = (length: number): void => {
      pending.push({ read: readChunk(handle, next, nextBuffer(length)), position: next, length })
      next += length
    }
    queue(options.firstChunkSize ?? chunkSize)
    for (;;) {
      // Reads ahead stop at the size seen at open; past it, one read at a time finds the end.
      while (pending.length < ahead && next < size) queue(chunkSize)
      throwIfAborted(options.signal)
      const { read, position, length } = pending.shift()!
      const chunk = await read
      if (chunk.length === 0) return
      if (chunk.length < length) {
        // A short read is the end of the file as it was then: the reads queued past it are void.
        await Promise.allSettled(pending.map((p) => p.read))
        pending = []
        next = position + chunk.length
      }
      if (pending.length === 0) queue(chunkSize)
      yield chunk
    }
  } finally {
    await Promise.allSettled(pending.map((p) => p.read))
    await handle.close()
  }
}

function readChunk(handle: FileHandle, position: number, buffer: Buffer): Promise<Uint8Array> {
  const read = readChunkNow(handle, position, buffer)
  read.catch(() => undefined) // awaited by the loop; this only keeps a failure during a slow consumer "handled"
  return read
}

async function readChunkNow(handle: FileHandle, position: number, buffer: Buffer): Promise<Uint8Array> {
  return buffer.subarray(0, await readFully(handle, buffer, 0, buffer.length, position))
}
