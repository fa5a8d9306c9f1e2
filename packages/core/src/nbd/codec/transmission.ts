// Transmission-phase messages: requests, simple replies, structured reply chunks. Handles are u64 on the
// wire; Strata's own handles stay below 2^53 so that they fit a JS number.
import { protocolError } from '../errors.js'
import type { Extent } from './extent.js'
import {
  ReplyFlag,
  ReplyType,
  REQUEST_MAGIC,
  REQUEST_SIZE,
  SIMPLE_REPLY_MAGIC,
  SIMPLE_REPLY_SIZE,
  STRUCTURED_REPLY_HEADER_SIZE,
  STRUCTURED_REPLY_MAGIC,
} from './constants.js'

export interface Request {
  readonly flags: number
  readonly type: number
  readonly handle: number
  readonly offset: number
  readonly length: number
}

export function writeHandle(b: Buffer, handle: number, at: number): void {
  b.writeUInt32BE(Math.floor(handle / 2 ** 32), at)
  b.writeUInt32BE(handle >>> 0, at + 4)
}

export function readHandle(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * 2 ** 32 + b.readUInt32BE(at + 4)
}

/** Writes a 28-byte request into `b` at `at` (so that several can share one buffer). */
export function encodeRequest(r: Request, b: Buffer = Buffer.allocUnsafe(REQUEST_SIZE), at = 0): Buffer {
  b.writeUInt32BE(REQUEST_MAGIC, at)
  b.writeUInt16BE(r.flags, at + 4)
  b.writeUInt16BE(r.type, at + 6)
  writeHandle(b, r.handle, at + 8)
  b.writeUInt32BE(Math.floor(r.offset / 2 ** 32), at + 16)
  b.writeUInt32BE(r.offset >>> 0, at + 20)
  b.writeUInt32BE(r.length, at + 24)
  return b
}

/** The server's view of a request. `handle` is kept as raw bytes: clients may use all 64 bits. */
export interface WireRequest extends Omit<Request, 'handle'> {
  readonly handle: Buffer
}

export function decodeRequest(b: Buffer): WireRequest {
  if (b.readUInt32BE(0) !== REQUEST_MAGIC) throw protocolError('bad request magic')
  const high = b.readUInt32BE(16)
  if (high >= 2 ** 21) throw protocolError('request offset out of range') // beyond 2^53 - 1
  return {
    flags: b.readUInt16BE(4),
    type: b.readUInt16BE(6),
    handle: Buffer.from(b.subarray(8, 16)),
    offset: high * 2 ** 32 + b.readUInt32BE(20),
    length: b.readUInt32BE(24),
  }
}

export function encodeSimpleReply(error: number, handle: Buffer): Buffer {
  const b = Buffer.allocUnsafe(SIMPLE_REPLY_SIZE)
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0)
  b.writeUInt32BE(error, 4)
  handle.copy(b, 8)
  return b
}

export function encodeStructuredHeader(
  flags: number,
  type: number,
  handle: Buffer,
  length: number,
  b: Buffer = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_SIZE),
): Buffer {
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0)
  b.writeUInt16BE(flags, 4)
  b.writeUInt16BE(type, 6)
  handle.copy(b, 8)
  b.writeUInt32BE(length, 16)
  return b
}

/** A final OFFSET_DATA chunk's header and offset in one buffer: what precedes `dataLength` bytes of data. */
export function encodeOffsetDataHeader(handle: Buffer, offset: number, dataLength: number): Buffer {
  const b = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_SIZE + 8)
  encodeStructuredHeader(ReplyFlag.DONE, ReplyType.OFFSET_DATA, handle, 8 + dataLength, b)
  b.writeUInt32BE(Math.floor(offset / 2 ** 32), STRUCTURED_REPLY_HEADER_SIZE)
  b.writeUInt32BE(offset >>> 0, STRUCTURED_REPLY_HEADER_SIZE + 4)
  return b
}

/** Payload of NBD_REPLY_TYPE_OFFSET_DATA's prefix or NBD_REPLY_TYPE_OFFSET_HOLE: a u64 offset (+ u32 length). */
export function encodeOffset(offset: number, holeLength?: number): Buffer {
  const b = Buffer.allocUnsafe(holeLength === undefined ? 8 : 12)
  b.writeBigUInt64BE(BigInt(offset), 0)
  if (holeLength !== undefined) b.writeUInt32BE(holeLength, 8)
  return b
}

/** NBD_REPLY_TYPE_ERROR payload: error, message length, message. */
export function encodeErrorPayload(error: number, message: string): Buffer {
  const text = Buffer.from(message.slice(0, 1024), 'utf8')
  const b = Buffer.alloc(6 + text.length)
  b.writeUInt32BE(error, 0)
  b.writeUInt16BE(text.length, 4)
  text.copy(b, 6)
  return b
}

export function decodeErrorPayload(b: Buffer): { error: number; message: string; offset?: number } {
  if (b.length < 6) throw protocolError('structured error chunk shorter than 6 bytes')
  const messageLength = b.readUInt16BE(4)
  if (6 + messageLength > b.length) throw protocolError('structured error message longer than its chunk')
  const message = b.toString('utf8', 6, 6 + messageLength)
  const rest = b.length - 6 - messageLength
  const offset = rest === 8 ? Number(b.readBigUInt64BE(6 + messageLength)) : undefined
  return { error: b.readUInt32BE(0), message, offset }
}

export function encodeBlockStatusPayload(
  contextId: number,
  extents: readonly Extent[],
  b: Buffer = Buffer.allocUnsafe(4 + 8 * extents.length),
  at = 0,
): Buffer {
  b.writeUInt32BE(contextId, at)
  extents.forEach((e, i) => {
    b.writeUInt32BE(e.length, at + 4 + 8 * i)
    b.writeUInt32BE(e.flags, at + 8 + 8 * i)
  })
  return b
}

/** A final BLOCK_STATUS chunk, header and payload, in one buffer. */
export function encodeBlockStatusReply(
  handle: Buffer,
  contextId: number,
  extents: readonly Extent[],
): Buffer {
  const length = 4 + 8 * extents.length
  const b = Buffer.allocUnsafe(STRUCTURED_REPLY_HEADER_SIZE + length)
  encodeStructuredHeader(ReplyFlag.DONE, ReplyType.BLOCK_STATUS, handle, length, b)
  return encodeBlockStatusPayload(contextId, extents, b, STRUCTURED_REPLY_HEADER_SIZE)
}

/** Block status descriptors, placed from `offset`. A zero-length descriptor is a protocol error. */
export function decodeBlockStatusPayload(
  b: Buffer,
  offset: number,
): { contextId: number; extents: Extent[] } {
  if (b.length < 12 || (b.length - 4) % 8 !== 0)
    throw protocolError(`block status chunk of ${b.length} bytes`)
  const extents: Extent[] = []
  let at = offset
  for (let i = 4; i < b.length; i += 8) {
    const length = b.readUInt32BE(i)
    if (length === 0) throw protocolError('block status descriptor of length 0')
    extents.push({ offset: at, length, flags: b.readUInt32BE(i + 4) })
    at += length
  }
  return { contextId: b.readUInt32BE(0), extents }
}
