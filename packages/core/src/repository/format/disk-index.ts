// The fixed disk index: a 64-byte header, then one 32-byte chunk id per chunk of the disk, in order.
// An all-zero entry is the reserved id of an all-zero chunk. Pure layout code.
//
//   0  u32 BE magic 'SIDX'    8  u32 BE chunk size      16  u64 BE disk size in bytes
//   4  u8 version (1)        12  u32 reserved (0)        24  u64 BE entry count = ceil(size / chunk size)
//   5  3 bytes reserved (0)  32  SHA-256 of the entries (lets a later backup check its base cheaply)
import { createHash } from 'node:crypto'
import { RepositoryError } from '../errors.js'
import { ID_LENGTH, INDEX_HEADER_LENGTH, INDEX_MAGIC, INDEX_VERSION } from './constants.js'

export interface DiskIndex {
  readonly chunkSize: number
  readonly diskSize: number
  /** entryCount × 32 bytes of ids. */
  readonly ids: Uint8Array
}

export function entryCount(diskSize: number, chunkSize: number): number {
  return Math.ceil(diskSize / chunkSize)
}

export function indexChecksum(ids: Uint8Array): Uint8Array {
  return createHash('sha256').update(ids).digest()
}

export function encodeDiskIndex(index: DiskIndex): Uint8Array {
  const count = entryCount(index.diskSize, index.chunkSize)
  if (index.ids.length !== count * ID_LENGTH)
    throw new RangeError(`index of ${count} entries has wrong length`)
  const out = new Uint8Array(INDEX_HEADER_LENGTH + index.ids.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, INDEX_MAGIC)
  out[4] = INDEX_VERSION
  view.setUint32(8, index.chunkSize)
  view.setBigUint64(16, BigInt(index.diskSize))
  view.setBigUint64(24, BigInt(count))
  out.set(indexChecksum(index.ids), 32)
  out.set(index.ids, INDEX_HEADER_LENGTH)
  return out
}

export function decodeDiskIndex(bytes: Uint8Array, what: string): DiskIndex {
  const corrupt = (why: string): RepositoryError =>
    new RepositoryError('CORRUPT_OBJECT', `${what} is corrupt: ${why}`)
  if (bytes.length < INDEX_HEADER_LENGTH) throw corrupt('shorter than its header')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint32(0) !== INDEX_MAGIC) throw corrupt('bad magic')
  if (bytes[4] !== INDEX_VERSION)
    throw new RepositoryError('UNSUPPORTED_VERSION', `${what} has version ${bytes[4]}`)
  const chunkSize = view.getUint32(8)
  const diskSize = Number(view.getBigUint64(16))
  const count = Number(view.getBigUint64(24))
  if (chunkSize === 0 || !Number.isSafeInteger(diskSize) || count !== entryCount(diskSize, chunkSize)) {
    throw corrupt(`inconsistent sizes (chunk ${chunkSize}, disk ${diskSize}, entries ${count})`)
  }
  if (bytes.length !== INDEX_HEADER_LENGTH + count * ID_LENGTH) throw corrupt(`length ${bytes.length}`)
  const ids = bytes.subarray(INDEX_HEADER_LENGTH)
  if (!Buffer.from(indexChecksum(ids)).equals(bytes.subarray(32, 64)))
    throw corrupt('entry checksum mismatch')
  return { chunkSize, diskSize, ids }
}
