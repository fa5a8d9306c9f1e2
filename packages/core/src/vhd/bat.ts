// The Block Allocation Table and the layout checks that keep a hostile BAT from making us read outside
// the file or hand out two blocks that share bytes.
import { BAT_UNUSED, SECTOR_SIZE } from './constants.js'
import { VhdError, VhdErrorCode } from './errors.js'
import { view } from './bytes.js'

/** Decodes `entries` big-endian u32 sector offsets. */
export function parseBat(bytes: Uint8Array, entries: number, what = 'BAT'): Uint32Array {
  if (bytes.length < entries * 4) {
    throw new VhdError(VhdErrorCode.truncated, `${what}: ${bytes.length} bytes for ${entries} entries`)
  }
  const dv = view(bytes)
  const bat = new Uint32Array(entries)
  for (let i = 0; i < entries; i++) bat[i] = dv.getUint32(i * 4)
  return bat
}

export function encodeBat(bat: Uint32Array, size: number): Uint8Array {
  const bytes = new Uint8Array(size).fill(0xff)
  const dv = view(bytes)
  for (let i = 0; i < bat.length; i++) dv.setUint32(i * 4, bat[i]!)
  return bytes
}

export interface Extent {
  start: number
  end: number
  what: string
}

export interface LayoutLimits {
  /** Bytes each block occupies: sector bitmap + data. */
  blockSpan: number
  /** Regions no block may touch (footer copy, header, BAT, locators). */
  metadata: readonly Extent[]
  /** Where blocks must end by (the trailing footer of a file); unknown for a stream. */
  end?: number
  /** Blocks present at indexes beyond this are ignored (beyond the disk's size). */
  blockCount: number
  /** For a stream: where reading has got to once the BAT is read; a block before it can never be reached. */
  streamPosition?: number
  what: string
}

/**
 * Present block indexes sorted by their position in the file, after checking that every block lies
 * inside the file, overlaps no metadata and no other block.
 */
export function blocksInFileOrder(bat: Uint32Array, limits: LayoutLimits): Uint32Array {
  const order = presentIndexes(bat, limits.blockCount)
  if (!isSortedByOffset(bat, order)) order.sort((a, b) => bat[a]! - bat[b]!)
  let previousEnd = 0
  let previous = -1
  for (const index of order) {
    const start = bat[index]! * SECTOR_SIZE
    const end = start + limits.blockSpan
    if (limits.streamPosition !== undefined && start < limits.streamPosition) {
      throw new VhdError(
        VhdErrorCode.blockOrder,
        `${limits.what}: block ${index} at byte ${start} lies behind the BAT (a stream cannot go back)`,
        { details: { block: index, offset: start } },
      )
    }
    if (limits.end !== undefined && end > limits.end) {
      throw new VhdError(
        VhdErrorCode.batOutOfRange,
        `${limits.what}: block ${index} at byte ${start} ends past the data area (${limits.end})`,
        { details: { block: index, offset: start } },
      )
    }
    if (start < previousEnd) {
      throw new VhdError(VhdErrorCode.batOverlap, `${limits.what}: blocks ${previous} and ${index} overlap`, {
        details: { block: index, other: previous },
      })
    }
    const hit = limits.metadata.find((m) => start < m.end && m.start < end)
    if (hit !== undefined) {
      throw new VhdError(VhdErrorCode.batOverlap, `${limits.what}: block ${index} overlaps the ${hit.what}`, {
        details: { block: index, offset: start },
      })
    }
    previousEnd = end
    previous = index
  }
  return order
}

function presentIndexes(bat: Uint32Array, blockCount: number): Uint32Array {
  const limit = Math.min(bat.length, blockCount)
  let count = 0
  for (let i = 0; i < limit; i++) if (bat[i] !== BAT_UNUSED) count++
  const order = new Uint32Array(count)
  let n = 0
  for (let i = 0; i < limit; i++) if (bat[i] !== BAT_UNUSED) order[n++] = i
  return order
}

function isSortedByOffset(bat: Uint32Array, order: Uint32Array): boolean {
  for (let i = 1; i < order.length; i++) if (bat[order[i]!]! < bat[order[i - 1]!]!) return false
  return true
}
