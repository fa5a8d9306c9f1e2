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

  it('rejects text that is not base64', () => {
    expect(() => decodeCbtBitmap('not base64!')).toThrow(RangeError)
  })
})
