// Small byte helpers for the VHD structs: big-endian u64 as safe numbers, checksums, UUIDs, strings.
import { VhdError, VhdErrorCode } from './errors.js'

export function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** A u64 that must fit a JS number; larger values can only be garbage in a VHD, so they are errors. */
export function readU64(bytes: Uint8Array, offset: number, what: string): number {
  const value = view(bytes).getBigUint64(offset)
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new VhdError(VhdErrorCode.sizeLimit, `${what} ${value} is beyond any VHD`, {
      details: { field: what, value: value.toString() },
    })
  }
  return Number(value)
}

export function writeU64(bytes: Uint8Array, offset: number, value: number | bigint): void {
  view(bytes).setBigUint64(offset, BigInt(value))
}

/** One's complement of the byte sum, skipping the 4-byte checksum field itself. */
export function vhdChecksum(bytes: Uint8Array, checksumOffset: number): number {
  let sum = 0
  for (let i = 0; i < bytes.length; i++) {
    if (i >= checksumOffset && i < checksumOffset + 4) continue
    sum += bytes[i]!
  }
  return ~sum >>> 0
}

export function ascii(bytes: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(offset, offset + length))
}

export function writeAscii(bytes: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i) & 0xff
}

export function formatUuid(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

export function parseUuid(text: string): Uint8Array {
  const hex = text.replace(/-/g, '')
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new VhdError(VhdErrorCode.invalid, `'${text}' is not a UUID`)
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

export { isZero } from '../shared/bytes.js'

export const roundUp = (value: number, multiple: number): number => Math.ceil(value / multiple) * multiple
