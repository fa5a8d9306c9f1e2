import { describe, expect, it } from 'vitest'
import type { DiskReader } from '../repository/index.js'
import { changedBlocksFromBytes } from '../xapi/index.js'
import { chunksOf } from './differential-cbt.js'

const KiB = 1024
const MiB = 1024 * KiB

/** A CBT bitmap (one bit per 64 KiB, MSB first) with these blocks set. */
function bitmap(size: number, blocks: number[]) {
  const bytes = new Uint8Array(Math.ceil(size / (64 * KiB) / 8))
  for (const b of blocks) bytes[b >> 3]! |= 0x80 >> (b & 7)
  return changedBlocksFromBytes(bytes)
}
const reader = (size: number, chunkSize: number) => ({ size, chunkSize }) as DiskReader

describe('the chunks of a point that CBT says changed', () => {
  it('maps 64 KiB blocks onto larger chunks, each chunk once', () => {
    // 1 MiB chunks: blocks 0-15 are chunk 0, 16-31 chunk 1...
    expect(chunksOf(bitmap(8 * MiB, [0, 3, 15, 16, 100]), reader(8 * MiB, MiB))).toEqual([0, 1, 6])
  })

  it('maps a block onto every chunk it covers when chunks are smaller, or not aligned on it', () => {
    expect(chunksOf(bitmap(MiB, [1]), reader(MiB, 32 * KiB))).toEqual([2, 3])
    // 96 KiB chunks: block 1 (64-128 KiB) lies across chunks 0 and 1.
    expect(chunksOf(bitmap(MiB, [1]), reader(MiB, 96 * KiB))).toEqual([0, 1])
  })

  it('ignores bits past the end of the disk, and clips the last block to it', () => {
    const size = 100 * KiB // the second block is 36 KiB long
    expect(chunksOf(bitmap(1 * MiB, [1, 9, 15]), reader(size, 64 * KiB))).toEqual([1])
  })
})
