// Positional reads and writes of whole ranges: the kernel may move fewer bytes than asked in one call.
import type { FileHandle } from 'node:fs/promises'

/**
 * Reads into `buffer[at, at + length)` from `position` until it is full or the file ends; returns
 * the bytes read (fewer only at the end of the file).
 */
export async function readFully(
  handle: FileHandle,
  buffer: Uint8Array,
  at: number,
  length: number,
  position: number,
): Promise<number> {
  let done = 0
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, at + done, length - done, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}

/** Writes all of `data` at `position`. */
export async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.length;) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done)
    done += bytesWritten
  }
}
