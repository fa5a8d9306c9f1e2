// Copies a whole export to a file or device, like nbdcopy: extents first when the server offers block
// status, so that zero runs are not read. A regular file gets its size up front and zero runs stay holes;
// anything else (a block device, /dev/null) gets them written as zeros, since it may hold old data.
// `null:` (as nbdcopy spells it) reads everything and discards it: the client's own speed.
import { open, type FileHandle } from 'node:fs/promises'
import { throwIfAborted } from '../../shared/abort.js'
import type { ByteRange, NbdClient } from './client.js'
import { STATE_ZERO } from '../codec/constants.js'

export interface CopyOptions {
  /** Ask the server which ranges read as zeros and do not read them (default true when offered). */
  useExtents?: boolean
  signal?: AbortSignal
  onProgress?: (bytesDone: number, size: number) => void
}

export interface CopyResult {
  size: number
  /** Bytes read over NBD. */
  bytesRead: number
  /** Bytes not read because the server said they read as zeros. */
  zeroBytesSkipped: number
  seconds: number
}

const ZERO_WRITE = 2 * 1024 * 1024
/** The output that discards what is read. */
export const NULL_OUTPUT = 'null:'

export async function copyToFile(
  client: NbdClient,
  path: string,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const started = performance.now()
  const { signal } = options
  const { data, zeros } = await plan(client, options.useExtents ?? true, signal)
  if (path === NULL_OUTPUT) return discard(client, data, started, options)
  // Not 'w' for everything: truncating is right for a file and meaningless (or refused) for a device.
  const file = await open(path, 'r+').catch(() => open(path, 'w'))
  let bytesRead = 0
  try {
    if ((await file.stat()).isFile()) {
      await file.truncate(0) // old contents must not survive in the ranges we leave as holes
      await file.truncate(client.size)
    } else await writeZeros(file, zeros, signal)
    for await (const piece of client.readRanges(data, { ordered: false, signal })) {
      try {
        await file.write(piece.bytes, 0, piece.bytes.length, piece.offset)
      } finally {
        piece.release()
      }
      bytesRead += piece.bytes.length
      options.onProgress?.(bytesRead, client.size)
    }
  } finally {
    await file.close()
  }
  throwIfAborted(signal)
  const seconds = (performance.now() - started) / 1000
  return { size: client.size, bytesRead, zeroBytesSkipped: client.size - bytesRead, seconds }
}

async function discard(
  client: NbdClient,
  data: ByteRange[],
  started: number,
  options: CopyOptions,
): Promise<CopyResult> {
  let bytesRead = 0
  for await (const piece of client.readRanges(data, { ordered: false, signal: options.signal })) {
    bytesRead += piece.bytes.length
    piece.release()
    options.onProgress?.(bytesRead, client.size)
  }
  const seconds = (performance.now() - started) / 1000
  return { size: client.size, bytesRead, zeroBytesSkipped: client.size - bytesRead, seconds }
}

async function plan(
  client: NbdClient,
  useExtents: boolean,
  signal?: AbortSignal,
): Promise<{ data: ByteRange[]; zeros: ByteRange[] }> {
  if (!useExtents || !client.info.contexts.has('base:allocation')) {
    return { data: [{ offset: 0, length: client.size }], zeros: [] }
  }
  const extents = await client.blockStatus(0, client.size, { signal })
  const range = (e: ByteRange): ByteRange => ({ offset: e.offset, length: e.length })
  return {
    data: extents.filter((e) => (e.flags & STATE_ZERO) === 0).map(range),
    zeros: extents.filter((e) => (e.flags & STATE_ZERO) !== 0).map(range),
  }
}

async function writeZeros(file: FileHandle, zeros: ByteRange[], signal?: AbortSignal): Promise<void> {
  const buffer = Buffer.alloc(ZERO_WRITE)
  for (const { offset, length } of zeros) {
    for (let at = offset; at < offset + length; at += ZERO_WRITE) {
      throwIfAborted(signal)
      await file.write(buffer, 0, Math.min(ZERO_WRITE, offset + length - at), at)
    }
  }
}
