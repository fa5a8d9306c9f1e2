// Handshake messages (fixed newstyle negotiation): encoders and decoders for both ends. Bytes in, values
// out; a malformed message from the peer is an NbdError, never an assertion.
import { NbdError, protocolError } from '../errors.js'
import { IHAVEOPT, Info, MAX_STRING, NBDMAGIC, OPTION_REPLY_MAGIC } from './constants.js'

export const GREETING_SIZE = 18
export const OPTION_HEADER_SIZE = 16
export const OPTION_REPLY_HEADER_SIZE = 20

export function encodeGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.alloc(GREETING_SIZE)
  b.writeBigUInt64BE(NBDMAGIC, 0)
  b.writeBigUInt64BE(IHAVEOPT, 8)
  b.writeUInt16BE(handshakeFlags, 16)
  return b
}

/** The server's first 18 bytes: returns its handshake flags. Oldstyle servers are refused. */
export function decodeGreeting(b: Buffer): number {
  if (b.readBigUInt64BE(0) !== NBDMAGIC) {
    throw new NbdError('NBD_BAD_MAGIC', 'not an NBD server: the greeting does not start with NBDMAGIC')
  }
  if (b.readBigUInt64BE(8) !== IHAVEOPT) {
    throw new NbdError(
      'NBD_UNSUPPORTED',
      'the server speaks the oldstyle protocol, which Strata does not support',
    )
  }
  return b.readUInt16BE(16)
}

export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(OPTION_HEADER_SIZE + data.length)
  b.writeBigUInt64BE(IHAVEOPT, 0)
  b.writeUInt32BE(option, 8)
  b.writeUInt32BE(data.length, 12)
  data.copy(b, OPTION_HEADER_SIZE)
  return b
}

export interface OptionHeader {
  readonly option: number
  readonly length: number
}

/** A client's option header, as the server reads it. */
export function decodeOptionHeader(b: Buffer): OptionHeader {
  if (b.readBigUInt64BE(0) !== IHAVEOPT) throw protocolError('option request without IHAVEOPT magic')
  return { option: b.readUInt32BE(8), length: b.readUInt32BE(12) }
}

export interface OptionReplyHeader {
  readonly option: number
  readonly type: number
  readonly length: number
}

export function encodeOptionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(OPTION_REPLY_HEADER_SIZE + data.length)
  b.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0)
  b.writeUInt32BE(option, 8)
  b.writeUInt32BE(type >>> 0, 12)
  b.writeUInt32BE(data.length, 16)
  data.copy(b, OPTION_REPLY_HEADER_SIZE)
  return b
}

export function decodeOptionReplyHeader(b: Buffer, expectedOption: number): OptionReplyHeader {
  if (b.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) {
    throw new NbdError('NBD_BAD_MAGIC', `bad option reply magic to option ${expectedOption}`)
  }
  const header = { option: b.readUInt32BE(8), type: b.readUInt32BE(12), length: b.readUInt32BE(16) }
  if (header.option !== expectedOption) {
    throw protocolError(`option reply for option ${header.option} while waiting for ${expectedOption}`)
  }
  return header
}

function encodeString32(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8')
  if (bytes.length > MAX_STRING)
    throw new NbdError('NBD_INVALID_ARGUMENT', `string longer than ${MAX_STRING} bytes`)
  const b = Buffer.alloc(4 + bytes.length)
  b.writeUInt32BE(bytes.length, 0)
  bytes.copy(b, 4)
  return b
}

/** NBD_OPT_INFO / NBD_OPT_GO payload: export name and the information items requested. */
export function encodeGoPayload(exportName: string, infos: readonly number[]): Buffer {
  const items = Buffer.alloc(2 + 2 * infos.length)
  items.writeUInt16BE(infos.length, 0)
  infos.forEach((info, i) => items.writeUInt16BE(info, 2 + 2 * i))
  return Buffer.concat([encodeString32(exportName), items])
}

export interface GoRequest {
  readonly exportName: string
  readonly infos: number[]
}

export function decodeGoPayload(b: Buffer): GoRequest {
  if (b.length < 6) throw protocolError('NBD_OPT_GO payload too short')
  const nameLength = b.readUInt32BE(0)
  if (nameLength > MAX_STRING || 4 + nameLength + 2 > b.length) throw protocolError('NBD_OPT_GO name length')
  const exportName = b.toString('utf8', 4, 4 + nameLength)
  const count = b.readUInt16BE(4 + nameLength)
  if (4 + nameLength + 2 + 2 * count !== b.length) throw protocolError('NBD_OPT_GO information request count')
  const infos = Array.from({ length: count }, (_, i) => b.readUInt16BE(4 + nameLength + 2 + 2 * i))
  return { exportName, infos }
}

/** NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT payload. */
export function encodeMetaContextPayload(exportName: string, queries: readonly string[]): Buffer {
  const count = Buffer.alloc(4)
  count.writeUInt32BE(queries.length, 0)
  return Buffer.concat([encodeString32(exportName), count, ...queries.map(encodeString32)])
}

export function decodeMetaContextPayload(b: Buffer): { exportName: string; queries: string[] } {
  let pos = 0
  const readString = (): string => {
    if (pos + 4 > b.length) throw protocolError('meta context payload too short')
    const n = b.readUInt32BE(pos)
    if (n > MAX_STRING || pos + 4 + n > b.length) throw protocolError('meta context string length')
    const s = b.toString('utf8', pos + 4, pos + 4 + n)
    pos += 4 + n
    return s
  }
  const exportName = readString()
  if (pos + 4 > b.length) throw protocolError('meta context payload too short')
  const count = b.readUInt32BE(pos)
  pos += 4
  if (count > 1024) throw protocolError('too many meta context queries')
  const queries = Array.from({ length: count }, readString)
  if (pos !== b.length) throw protocolError('trailing bytes in meta context payload')
  return { exportName, queries }
}

export function encodeMetaContextReply(id: number, name: string): Buffer {
  const bytes = Buffer.from(name, 'utf8')
  const b = Buffer.alloc(4 + bytes.length)
  b.writeUInt32BE(id, 0)
  bytes.copy(b, 4)
  return b
}

export function decodeMetaContextReply(b: Buffer): { id: number; name: string } {
  if (b.length < 4 || b.length > 4 + MAX_STRING) throw protocolError('malformed NBD_REP_META_CONTEXT')
  return { id: b.readUInt32BE(0), name: b.toString('utf8', 4) }
}

export interface ExportInfo {
  readonly size: number
  readonly flags: number
  /** From NBD_INFO_BLOCK_SIZE when the server sends it. */
  readonly minimumBlockSize?: number
  readonly preferredBlockSize?: number
  readonly maximumBlockSize?: number
}

const MAX_SAFE_SIZE = BigInt(Number.MAX_SAFE_INTEGER)

export function readSize(b: Buffer, offset: number): number {
  const size = b.readBigUInt64BE(offset)
  if (size > MAX_SAFE_SIZE) throw protocolError(`export size ${size} is beyond what Strata can address`)
  return Number(size)
}

/** One NBD_REP_INFO payload merged into what we know of the export. */
export function applyInfo(info: Partial<ExportInfo>, b: Buffer): Partial<ExportInfo> {
  if (b.length < 2) throw protocolError('NBD_REP_INFO payload too short')
  const type = b.readUInt16BE(0)
  if (type === Info.EXPORT) {
    if (b.length !== 12) throw protocolError('NBD_INFO_EXPORT payload is not 12 bytes')
    return { ...info, size: readSize(b, 2), flags: b.readUInt16BE(10) }
  }
  if (type === Info.BLOCK_SIZE) {
    if (b.length !== 14) throw protocolError('NBD_INFO_BLOCK_SIZE payload is not 14 bytes')
    const [min, preferred, max] = [b.readUInt32BE(2), b.readUInt32BE(6), b.readUInt32BE(10)]
    if (min === 0 || (min & (min - 1)) !== 0 || max < min) throw protocolError('invalid NBD_INFO_BLOCK_SIZE')
    return { ...info, minimumBlockSize: min, preferredBlockSize: preferred, maximumBlockSize: max }
  }
  return info // NAME, DESCRIPTION and future items are informative only
}

export function encodeInfoExport(size: number, flags: number): Buffer {
  const b = Buffer.alloc(12)
  b.writeUInt16BE(Info.EXPORT, 0)
  b.writeBigUInt64BE(BigInt(size), 2)
  b.writeUInt16BE(flags, 10)
  return b
}

export function encodeInfoBlockSize(min: number, preferred: number, max: number): Buffer {
  const b = Buffer.alloc(14)
  b.writeUInt16BE(Info.BLOCK_SIZE, 0)
  b.writeUInt32BE(min, 2)
  b.writeUInt32BE(preferred, 6)
  b.writeUInt32BE(max, 10)
  return b
}

/** The reply to NBD_OPT_EXPORT_NAME: size, flags and (without NO_ZEROES) 124 zero bytes. */
export function encodeExportNameReply(size: number, flags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134)
  b.writeBigUInt64BE(BigInt(size), 0)
  b.writeUInt16BE(flags, 8)
  return b
}

export function decodeExportNameReply(b: Buffer): ExportInfo {
  return { size: readSize(b, 0), flags: b.readUInt16BE(8) }
}
