// The body of `PUT /import_raw_vdi?format=raw&chunked` (xapi.md §4.3; vhd-tool's chunked.ml): frames of
// {u64 LE offset, u32 LE length, <length bytes>}, each written in place at its offset of the VDI, the
// last one offset=0,length=0. Never change: this is XAPI's wire format. Pure: frame headers and the exact
// body length of a list of ranges, so that Content-Length is known before the first byte.

export const FRAME_HEADER_SIZE = 12
/** A frame's length is a u32. */
export const MAX_FRAME_LENGTH = 0xffff_ffff

/** A byte range of the disk to write. */
export interface FrameRange {
  readonly offset: number
  readonly length: number
}

/** The header of a frame of `length` bytes written at `offset` (a range of at least one byte). */
export function encodeFrameHeader(offset: number, length: number): Uint8Array {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isInteger(length)) {
    throw new RangeError(`a chunked frame at ${offset} of ${length} bytes`)
  }
  // A frame of no bytes at offset 0 would end the body; one elsewhere writes nothing: neither is sent.
  if (length < 1 || length > MAX_FRAME_LENGTH) {
    throw new RangeError(`a chunked frame holds 1 to ${MAX_FRAME_LENGTH} bytes, not ${length}`)
  }
  const header = new Uint8Array(FRAME_HEADER_SIZE)
  const view = new DataView(header.buffer)
  view.setBigUint64(0, BigInt(offset), true)
  view.setUint32(8, length, true)
  return header
}

/** The frame that ends the body. */
export function encodeFrameEnd(): Uint8Array {
  return new Uint8Array(FRAME_HEADER_SIZE)
}

/** Bytes of a body carrying `ranges`, one frame each, and its end. */
export function chunkedBodyLength(ranges: Iterable<FrameRange>): number {
  let length = FRAME_HEADER_SIZE
  for (const r of ranges) length += FRAME_HEADER_SIZE + r.length
  return length
}
