// The bitmap of VDI.list_changed_blocks: base64, one bit per 64 KiB block, most significant bit first
// (block k is bit 7 - k%8 of byte k/8). Pure.

export const CBT_BLOCK_SIZE = 64 * 1024

export interface ChangedBlocks {
  /** Bytes covered by one bit. */
  readonly granularity: number
  /** Number of 64 KiB blocks the bitmap describes (bytes × 8; trailing bits beyond the disk are 0). */
  readonly blockCount: number
  isChanged(block: number): boolean
  /** Indexes of changed blocks of `blockSize` bytes (a multiple of 64 KiB, e.g. a 2 MiB chunk). */
  changedBlocks(blockSize: number): number[]
  /**
   * Per changed block of `blockSize` bytes (as changedBlocks), the byte ranges inside it that changed:
   * runs of changed 64 KiB blocks, relative to the block's start, clipped to a disk of `size` bytes.
   */
  changedExtents(blockSize: number, size: number): Map<number, BlockExtent[]>
  /** Number of changed 64 KiB blocks. */
  readonly changedCount: number
}

/** A byte range inside a larger block (offset relative to the block's start). */
export interface BlockExtent {
  readonly offset: number
  readonly length: number
}

export function decodeCbtBitmap(base64: string): ChangedBlocks {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64.trim())) throw new RangeError('CBT bitmap is not base64')
  return changedBlocksFromBytes(Buffer.from(base64, 'base64'))
}

export function changedBlocksFromBytes(bytes: Uint8Array): ChangedBlocks {
  const isChanged = (block: number): boolean => {
    const byte = bytes[block >> 3]
    return byte !== undefined && (byte & (0x80 >> (block & 7))) !== 0
  }
  let changedCount = 0
  for (const byte of bytes) for (let b = byte; b !== 0; b &= b - 1) changedCount++
  return {
    granularity: CBT_BLOCK_SIZE,
    blockCount: bytes.length * 8,
    changedCount,
    isChanged,
    changedBlocks(blockSize: number): number[] {
      const per = granulesPer(blockSize)
      const out: number[] = []
      for (let first = 0; first < bytes.length * 8; first += per) {
        for (let k = first; k < first + per; k++) {
          if (isChanged(k)) {
            out.push(first / per)
            break
          }
        }
      }
      return out
    },
    changedExtents(blockSize: number, size: number): Map<number, BlockExtent[]> {
      const per = granulesPer(blockSize)
      const out = new Map<number, BlockExtent[]>()
      const granules = Math.min(bytes.length * 8, Math.ceil(size / CBT_BLOCK_SIZE))
      for (let k = 0; k < granules;) {
        if (!isChanged(k)) {
          k++
          continue
        }
        // A run ends at the first unchanged granule or at the end of its block.
        const block = Math.floor(k / per)
        const first = k
        while (k < granules && k < (block + 1) * per && isChanged(k)) k++
        const start = first * CBT_BLOCK_SIZE
        const end = Math.min(k * CBT_BLOCK_SIZE, size)
        const list = out.get(block) ?? []
        list.push({ offset: start - block * blockSize, length: end - start })
        out.set(block, list)
      }
      return out
    },
  }
}

function granulesPer(blockSize: number): number {
  if (blockSize % CBT_BLOCK_SIZE !== 0 || blockSize <= 0) {
    throw new RangeError(`block size ${blockSize} is not a multiple of 64 KiB`)
  }
  return blockSize / CBT_BLOCK_SIZE
}

/** Encodes a bitmap (the lab's side): `bits` holds one bit per 64 KiB block, MSB first. */
export function encodeCbtBitmap(bits: Uint8Array): string {
  return Buffer.from(bits).toString('base64')
}
