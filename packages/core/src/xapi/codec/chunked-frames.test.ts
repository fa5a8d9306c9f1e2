import { describe, expect, it } from 'vitest'
import { chunkedBodyLength, encodeFrameEnd, encodeFrameHeader, MAX_FRAME_LENGTH } from './chunked-frames.js'

describe('chunked frames', () => {
  it('encodes a header as u64 LE offset then u32 LE length', () => {
    const header = Buffer.from(encodeFrameHeader(0x1_0203_0405, 0x0a0b0c))
    expect(header.toString('hex')).toBe('0504030201000000' + '0c0b0a00')
    const far = Buffer.from(encodeFrameHeader(Number.MAX_SAFE_INTEGER, MAX_FRAME_LENGTH))
    expect(far.readBigUInt64LE(0)).toBe(BigInt(Number.MAX_SAFE_INTEGER))
    expect(far.readUInt32LE(8)).toBe(MAX_FRAME_LENGTH)
  })

  it('ends the body with offset 0, length 0, and never encodes a frame that would look like it', () => {
    expect(Buffer.from(encodeFrameEnd())).toEqual(Buffer.alloc(12))
    expect(() => encodeFrameHeader(0, 0)).toThrow(RangeError)
    expect(() => encodeFrameHeader(4096, 0)).toThrow(RangeError)
    expect(() => encodeFrameHeader(0, MAX_FRAME_LENGTH + 1)).toThrow(RangeError)
    expect(() => encodeFrameHeader(-512, 512)).toThrow(RangeError)
    expect(() => encodeFrameHeader(2 ** 53, 512)).toThrow(RangeError)
  })

  it('counts a body exactly: a header per range, its bytes, and the end', () => {
    expect(chunkedBodyLength([])).toBe(12)
    const ranges = [
      { offset: 0, length: 65536 },
      { offset: 2 * 1024 * 1024, length: 131072 },
    ]
    expect(chunkedBodyLength(ranges)).toBe(12 + 65536 + 12 + 131072 + 12)
  })
})
