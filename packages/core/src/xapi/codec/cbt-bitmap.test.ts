import { describe, expect, it } from 'vitest'
import { decodeCbtBitmap, encodeCbtBitmap } from './cbt-bitmap.js'

describe('CBT bitmap', () => {
  it('reads bits most significant first: 0xC0 means 64 KiB blocks 0 and 1', () => {
    const blocks = decodeCbtBitmap(Buffer.from([0xc0, 0, 0, 0, 0, 0, 0, 0x01]).toString('base64'))
    expect(blocks.isChanged(0)).toBe(true)
    expect(blocks.isChanged(1)).toBe(true)
    expect(blocks.isChanged(2)).toBe(false)
    expect(blocks.isChanged(63)).toBe(true)
    expect(blocks.changedCount).toBe(3)
    expect(blocks.blockCount).toBe(64)
  })

  it('maps 64 KiB bits to 2 MiB chunks (32 bits each)', () => {
    const bits = new Uint8Array(16) // 128 granules = 4 chunks of 2 MiB
    bits[4] = 0x01 // granule 39 → chunk 1
    bits[12] = 0x80 // granule 96 → chunk 3
    const blocks = decodeCbtBitmap(encodeCbtBitmap(bits))
    expect(blocks.changedBlocks(2 * 1024 * 1024)).toEqual([1, 3])
    expect(() => blocks.changedBlocks(1000)).toThrow(RangeError)
  })

  it('names the changed byte ranges inside each 2 MiB chunk, runs cut at chunk ends and at the disk end', () => {
    const bits = new Uint8Array(16) // 128 granules = 4 chunks of 2 MiB
    bits[0] = 0b0110_0000 // granules 1, 2 → chunk 0, one run
    bits[3] = 0b0000_0011 // granules 30, 31 ...
    bits[4] = 0b1000_0001 // ... 32 (chunk 1: a run cut at the chunk boundary), 39
    bits[15] = 0xff // granules 120..127: chunk 3, clipped to a disk ending 100 KiB into granule 120
    const blocks = decodeCbtBitmap(encodeCbtBitmap(bits))
    const K = 64 * 1024
    const size = 3 * 2 * 1024 * 1024 + 24 * K + 100 * 1024
    const extents = blocks.changedExtents(2 * 1024 * 1024, size)
    expect([...extents.keys()]).toEqual([0, 1, 3])
    expect(extents.get(0)).toEqual([
      { offset: K, length: 2 * K },
      { offset: 30 * K, length: 2 * K },
    ])
    expect(extents.get(1)).toEqual([
      { offset: 0, length: K },
      { offset: 7 * K, length: K },
    ])
    expect(extents.get(3)).toEqual([{ offset: 24 * K, length: 100 * 1024 }])
    expect(() => blocks.changedExtents(1000, size)).toThrow(RangeError)
  })

  it('rejects text that is not base64', () => {
    expect(() => decodeCbtBitmap('not base64!')).toThrow(RangeError)
  })
})
