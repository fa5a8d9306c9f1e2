// Copies a whole export to a file (or /dev/null), like nbdcopy: extents first when the server offers
// block status, so that zero runs are neither read nor written; data read over every connection.
import { open } from 'node:fs/promises'
import { throwIfAborted } from '../shared/abort.js'
import type { ByteRange, NbdClient } from './client.js'
import { STATE_ZERO } from './codec/constants.js'

export interface CopyOptions {
  /** Ask the server which ranges read as zeros and skip them (default true when offered). */
  useExtents?: boolean
  signal?: AbortSignal
  onProgress?: (bytesDone: number, size: number) => void
}

export interface CopyResult {
  size: number
  /** Bytes read over NBD. */
  bytesRead: number
  /** Bytes skipped because the server said they read as zeros. */
  zeroBytesSkipped: number
  seconds: number
}

const isDevice = (path: string): boolean => path.startsWith('/dev/')

export async function copyToFile(
  client: NbdClient,
  path: string,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const started = performance.now()
  const { signal } = options
  const ranges = await dataRanges(client, options.useExtents ?? true, signal)
  const file = await open(path, isDevice(path) ? 'w' : 'w+')
  let bytesRead = 0
  try {
    // A regular file gets its size first: skipped zero ranges then stay holes.
    if (!isDevice(path)) await file.truncate(client.size)
    for await (const piece of client.readRanges(ranges, { ordered: false, signal })) {
      await file.write(piece.data, 0, piece.data.length, isDevice(path) ? null : piece.offset)
      bytesRead += piece.data.length
      client.recycle(piece.data)
      options.onProgress?.(bytesRead, client.size)
    }
  } finally {
    await file.close()
  }
  throwIfAborted(signal)
  return {
    size: client.size,
    bytesRead,
    zeroBytesSkipped: client.size - bytesRead,
    seconds: (performance.now() - started) / 1000,
  }
}

async function dataRanges(
  client: NbdClient,
  useExtents: boolean,
  signal?: AbortSignal,
): Promise<ByteRange[]> {
  if (!useExtents || !client.info.contexts.has('base:allocation')) return [{ offset: 0, length: client.size }]
  const extents = await client.blockStatus(0, client.size, { signal })
  return extents
    .filter((e) => (e.flags & STATE_ZERO) === 0)
    .map((e) => ({ offset: e.offset, length: e.length }))
}
