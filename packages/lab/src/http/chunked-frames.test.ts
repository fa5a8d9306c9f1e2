import { describe, expect, it } from 'vitest'
import { ChunkedFrameParser, type FramePiece } from './chunked-frames.js'

/** A frame as vhd-tool reads it: u64 LE offset, u32 LE length, the bytes. */
function frame(offset: number | bigint, data: Buffer, length = data.length): Buffer {
  const head = Buffer.alloc(12)
  head.writeBigUInt64LE(BigInt(offset), 0)
  head.writeUInt32LE(length, 8)
  return Buffer.concat([head, data])
}
const END = frame(0, Buffer.alloc(0))

/** Feeds `body` in pieces of `step` bytes; returns what was to be written, merged by offset. */
function parse(body: Buffer, size: number, step = body.length, pieceSize?: number): FramePiece[] {
  const parser = new ChunkedFrameParser(size, pieceSize)
  const out: FramePiece[] = []
  for (let k = 0; k < body.length; k += step) out.push(...parser.push(body.subarray(k, k + step)))
  parser.end()
  return out
}

describe('ChunkedFrameParser', () => {
  const a = Buffer.alloc(3000, 0xa1)
  const b = Buffer.alloc(100, 0xb2)
  const body = Buffer.concat([frame(4096, a), frame(0, b), frame(9000, Buffer.alloc(0)), END])

  it('gives each frame at its offset, however the body is split', () => {
    for (const step of [1, 5, 12, 13, 4000, body.length]) {
      const pieces = parse(body, 16384, step)
      expect(pieces.map((p) => [p.offset, p.data.length])).toEqual([
        [4096, 3000],
        [0, 100],
      ])
      expect(Buffer.concat(pieces.map((p) => p.data))).toEqual(Buffer.concat([a, b]))
    }
  })

  it('cuts a large frame at multiples of the piece size (whole aligned blocks come out whole)', () => {
    const data = Buffer.alloc(10_000)
    for (let i = 0; i < data.length; i++) data[i] = i % 251
    const pieces = parse(Buffer.concat([frame(1000, data), END]), 20_000, 777, 4096)
    expect(pieces.map((p) => [p.offset, p.data.length])).toEqual([
      [1000, 3096],
      [4096, 4096],
      [8192, 2808],
    ])
    expect(Buffer.concat(pieces.map((p) => p.data))).toEqual(data)
  })

  it('refuses a frame past the end of the VDI, at once', () => {
    const parser = new ChunkedFrameParser(8192)
    expect(() => parser.push(frame(8000, Buffer.alloc(200)))).toThrow(
      expect.objectContaining({ code: 'CHUNKED_BEYOND_END' }),
    )
    const after = new ChunkedFrameParser(8192)
    expect(after.push(Buffer.concat([frame(0, b), frame(8000, Buffer.alloc(200))]))).toHaveLength(1)
    expect(() => after.push(END)).toThrow(expect.objectContaining({ code: 'CHUNKED_BEYOND_END' }))
    const huge = new ChunkedFrameParser(8192)
    expect(() => huge.push(frame(2n ** 63n, Buffer.alloc(0), 1))).toThrow(
      expect.objectContaining({ code: 'CHUNKED_BEYOND_END' }),
    )
    expect(parse(Buffer.concat([frame(8000, Buffer.alloc(192)), END]), 8192)).toHaveLength(1)
  })

  it('refuses a body that ends inside a frame, its header or its data', () => {
    for (const cut of [5, 12 + 10, body.length - 6]) {
      const parser = new ChunkedFrameParser(16384)
      parser.push(body.subarray(0, cut))
      expect(() => parser.end()).toThrow(expect.objectContaining({ code: 'CHUNKED_TRUNCATED' }))
    }
  })

  it('refuses a body that ends without the terminating frame', () => {
    const parser = new ChunkedFrameParser(16384)
    parser.push(body.subarray(0, body.length - END.length))
    expect(() => parser.end()).toThrow(expect.objectContaining({ code: 'CHUNKED_UNTERMINATED' }))
    expect(() => new ChunkedFrameParser(16384).end()).toThrow(
      expect.objectContaining({ code: 'CHUNKED_UNTERMINATED' }),
    )
  })

  it('refuses bytes after the terminating frame, once the frames before them are out', () => {
    const parser = new ChunkedFrameParser(16384)
    expect(parser.push(Buffer.concat([body, Buffer.from([0])]))).toHaveLength(2)
    expect(() => parser.end()).toThrow(expect.objectContaining({ code: 'CHUNKED_TRAILING' }))
    expect(() => new ChunkedFrameParser(16384).push(Buffer.concat([END, END]))).toThrow(
      expect.objectContaining({ code: 'CHUNKED_TRAILING' }),
    )
    const late = new ChunkedFrameParser(16384)
    late.push(body)
    expect(late.done).toBe(true)
    expect(() => late.push(frame(0, b))).toThrow(expect.objectContaining({ code: 'CHUNKED_TRAILING' }))
  })
})
