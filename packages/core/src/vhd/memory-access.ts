// A RandomAccess over bytes in memory: for tests, and for callers that already hold a small VHD.
import { VhdError, VhdErrorCode } from './errors.js'
import type { RandomAccess } from './disk.js'

export function memoryAccess(bytes: Uint8Array, name = 'memory'): RandomAccess {
  return {
    size: bytes.length,
    async read(offset, length) {
      if (offset < 0 || offset + length > bytes.length) {
        throw new VhdError(VhdErrorCode.truncated, `${name}: ${length} bytes at ${offset} lie past its end`)
      }
      return bytes.subarray(offset, offset + length)
    },
  }
}

/** Bytes as a stream cut into pieces of the given sizes (cycled), to exercise every chunk boundary. */
export async function* chunkedSource(
  bytes: Uint8Array,
  sizes: readonly number[] = [64 * 1024],
): AsyncGenerator<Uint8Array> {
  let offset = 0
  for (let i = 0; offset < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]!)
    yield bytes.subarray(offset, offset + size)
    offset += size
  }
}

/** Concatenates a byte stream (for small VHDs: tests, metadata). */
export async function collectBytes(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  let length = 0
  for await (const chunk of chunks) {
    parts.push(chunk)
    length += chunk.length
  }
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}
