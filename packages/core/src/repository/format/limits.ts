// What a reader accepts as the plaintext length of each kind of object (its envelope header declares
// it): a hostile or corrupt object must not make a reader allocate more than an honest writer could
// have written. Reader policy, not layout: raising a limit changes no byte of the format.
import {
  ID_LENGTH,
  INDEX_HEADER_LENGTH,
  KIND_CHUNK,
  KIND_INDEX,
  KIND_POINT_SEGMENT,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
} from './constants.js'

/** The largest disk an index may describe: 64 TiB (XAPI's VHD limit is 2040 GiB; qcow2 SRs go to 16 TiB). */
export const MAX_INDEXED_DISK_SIZE = 64 * 1024 ** 4
/** A manifest is JSON with the VM's metadata: a few KiB to a few hundred KiB in practice. */
export const MAX_MANIFEST_LENGTH = 16 * 1024 * 1024
/** A point index segment: a few hundred bytes per point; 1 GiB is over a million points. */
export const MAX_SEGMENT_LENGTH = 1024 ** 3
/** The envelope's length field is 32 bits. */
const MAX_ENVELOPE_PLAIN = 2 ** 32 - 1

/**
 * The longest plaintext an object of `kind` may declare in a repository of `chunkSize` (by default the
 * size that allows the most: the largest chunk, the smallest chunks for an index).
 */
export function maxPlainLength(kind: number, chunkSize?: number): number {
  if (kind === KIND_CHUNK) return chunkSize ?? MAX_CHUNK_SIZE
  if (kind === KIND_INDEX) {
    const entries = Math.ceil(MAX_INDEXED_DISK_SIZE / (chunkSize ?? MIN_CHUNK_SIZE))
    return Math.min(MAX_ENVELOPE_PLAIN, INDEX_HEADER_LENGTH + ID_LENGTH * entries)
  }
  if (kind === KIND_POINT_SEGMENT) return MAX_SEGMENT_LENGTH
  return MAX_MANIFEST_LENGTH
}
