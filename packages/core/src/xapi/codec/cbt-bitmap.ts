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
  /** Number of changed 64 KiB blocks. */
  readonly changedCount: number
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
      if (blockSize % CBT_BLOCK_SIZE !== 0 || blockSize <= 0) {
        throw new RangeError(`block size ${blockSize} is not a multiple of 64 KiB`)
      }
      const per = blockSize / CBT_BLOCK_SIZE
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
  }
}

/** Encodes a bitmap (the lab's side): `bits` holds one bit per 64 KiB block, MSB first. */
export function encodeCbtBitmap(bits: Uint8Array): string {
  return Buffer.from(bits).toString('base64')
}
