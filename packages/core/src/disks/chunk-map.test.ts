import { describe, expect, it } from 'vitest'
import { allChunks, blocksToChunks, mergeChunks, usedBlocks } from './chunk-map.js'

const KiB = 1024
const MiB = 1024 * KiB

describe('chunk maps', () => {
  it('maps 2 MiB VHD blocks onto smaller, equal and larger chunks', () => {
    expect(blocksToChunks([0, 3], 2 * MiB, 2 * MiB, 10)).toEqual([0, 3])
    expect(blocksToChunks([1], 2 * MiB, 512 * KiB, 100)).toEqual([4, 5, 6, 7])
    expect(blocksToChunks([1, 2, 3], 2 * MiB, 4 * MiB, 100)).toEqual([0, 1])
  })

  it('maps 64 KiB CBT granules and clips at the disk end', () => {
    expect(blocksToChunks([31, 32, 33], 64 * KiB, 2 * MiB, 2)).toEqual([0, 1])
    expect(blocksToChunks([64], 64 * KiB, 2 * MiB, 2)).toEqual([])
  })

  it('lists used BAT entries and merges lists', () => {
    expect(usedBlocks(Uint32Array.from([0xffffffff, 7, 0xffffffff, 9]))).toEqual([1, 3])
    expect(mergeChunks([3, 1], [2, 3])).toEqual([1, 2, 3])
    expect(allChunks(3)).toEqual([0, 1, 2])
  })
})
