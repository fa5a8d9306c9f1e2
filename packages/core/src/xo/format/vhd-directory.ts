// A VhdDirectory (xo-backups.md §2.5): a VHD split into files, `footer`, `header`, `bat`, optional
// `chunk-filters.json`, and one file per block under `blocks/<id / 1000>/<id % 1000>`. Its `bat` is a
// bit array (bit i, MSB first: block i is present), not the VHD's table of sector offsets. Each file
// except chunk-filters.json goes through the filters (compression), then the remote's encryption.
import { XoError } from '../errors.js'

export type ChunkFilter = 'gzip' | 'brotli'

export const FOOTER_FILE = 'footer'
export const HEADER_FILE = 'header'
export const BAT_FILE = 'bat'
export const FILTERS_FILE = 'chunk-filters.json'

/** Path of block `index` in the VhdDirectory at `dir`. */
export const blockPath = (dir: string, index: number): string =>
  `${dir}/blocks/${Math.floor(index / 1000)}/${index % 1000}`

/** The bat, checked to cover the disk's `blockCount` blocks (bits past them are ignored). */
export function checkBatBits(bytes: Uint8Array, blockCount: number, what: string): Uint8Array {
  const needed = Math.ceil(blockCount / 8)
  if (bytes.length < needed) {
    throw new XoError(
      'XO_VHD_DIRECTORY_INVALID',
      `${what}: its bat holds ${bytes.length} bytes, ${needed} are needed for ${blockCount} blocks`,
    )
  }
  return bytes.subarray(0, needed)
}

/** Bit `index` of a bat: the block is present. */
export const batHas = (bits: Uint8Array, index: number): boolean =>
  ((bits[index >> 3]! >> (7 - (index & 7))) & 1) === 1

/** chunk-filters.json: absent means none; otherwise a list of known filters, applied in order on write. */
export function parseChunkFilters(bytes: Uint8Array | undefined, what: string): ChunkFilter[] {
  if (bytes === undefined) return []
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'))
  } catch (error) {
    throw new XoError('XO_VHD_DIRECTORY_INVALID', `${what}: chunk-filters.json is not JSON`, { cause: error })
  }
  if (!Array.isArray(value) || value.length > 4) {
    throw new XoError('XO_VHD_DIRECTORY_INVALID', `${what}: chunk-filters.json is not a list of filters`)
  }
  return value.map((f: unknown) => {
    if (f === 'gzip' || f === 'brotli') return f
    throw new XoError(
      'XO_VHD_DIRECTORY_INVALID',
      `${what}: unknown chunk filter ${JSON.stringify(f)} (gzip and brotli are known)`,
    )
  })
}
