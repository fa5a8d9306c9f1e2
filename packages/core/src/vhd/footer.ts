// The 512-byte footer: at the end of every VHD, and copied at offset 0 of dynamic and differencing ones.
import * as C from './constants.js'
import { ascii, formatUuid, readU64, vhdChecksum, view, writeAscii, writeU64 } from './bytes.js'
import { VhdError, VhdErrorCode } from './errors.js'
import type { Geometry } from './geometry.js'

export interface VhdFooter {
  features: number
  fileFormatVersion: number
  /** Offset of the dynamic header; undefined for fixed disks. */
  dataOffset: number | undefined
  /** Seconds since 2000-01-01T00:00:00Z. */
  timestamp: number
  creatorApplication: string
  creatorVersion: number
  creatorHostOs: number
  originalSize: number
  /** The disk's virtual size in bytes: the size every reader that matters uses. */
  currentSize: number
  geometry: Geometry
  diskType: C.DiskTypeName
  checksum: number
  uuid: Uint8Array
  savedState: boolean
}

export interface ParsedStruct<T> {
  value: T
  /** False when the stored checksum is wrong (only returned when the caller asked not to verify). */
  checksumOk: boolean
}

const typeNames = new Map<number, C.DiskTypeName>(
  Object.entries(C.DiskType).map(([name, code]) => [code, name as C.DiskTypeName]),
)

export function parseFooter(
  bytes: Uint8Array,
  what = 'VHD footer',
  verifyChecksum = true,
): ParsedStruct<VhdFooter> {
  if (bytes.length < C.FOOTER_SIZE) {
    throw new VhdError(VhdErrorCode.truncated, `${what}: ${bytes.length} bytes, need ${C.FOOTER_SIZE}`)
  }
  const b = bytes.subarray(0, C.FOOTER_SIZE)
  if (ascii(b, C.F_COOKIE, 8) !== C.FOOTER_COOKIE) {
    throw new VhdError(VhdErrorCode.badCookie, `${what}: no 'conectix' cookie`)
  }
  const dv = view(b)
  const checksum = dv.getUint32(C.F_CHECKSUM)
  const checksumOk = vhdChecksum(b, C.F_CHECKSUM) === checksum
  if (!checksumOk && verifyChecksum) {
    throw new VhdError(VhdErrorCode.badChecksum, `${what}: checksum mismatch`, {
      details: { stored: checksum },
    })
  }
  const typeCode = dv.getUint32(C.F_DISK_TYPE)
  const diskType = typeNames.get(typeCode)
  if (diskType === undefined) {
    throw new VhdError(VhdErrorCode.invalid, `${what}: unknown disk type ${typeCode}`)
  }
  const currentSize = readU64(b, C.F_CURRENT_SIZE, `${what} current size`)
  if (currentSize > C.MAX_DISK_SIZE) {
    throw new VhdError(VhdErrorCode.sizeLimit, `${what}: disk size ${currentSize} exceeds 2040 GiB`)
  }
  const rawDataOffset = dv.getBigUint64(C.F_DATA_OFFSET)
  const footer: VhdFooter = {
    features: dv.getUint32(C.F_FEATURES),
    fileFormatVersion: dv.getUint32(C.F_VERSION),
    dataOffset:
      rawDataOffset === C.NO_DATA_OFFSET ? undefined : readU64(b, C.F_DATA_OFFSET, `${what} data offset`),
    timestamp: dv.getUint32(C.F_TIMESTAMP),
    creatorApplication: ascii(b, C.F_CREATOR_APP, 4),
    creatorVersion: dv.getUint32(C.F_CREATOR_VERSION),
    creatorHostOs: dv.getUint32(C.F_CREATOR_HOST_OS),
    originalSize: Number(dv.getBigUint64(C.F_ORIGINAL_SIZE)),
    currentSize,
    geometry: {
      cylinders: dv.getUint16(C.F_CYLINDERS),
      heads: dv.getUint8(C.F_HEADS),
      sectorsPerTrack: dv.getUint8(C.F_SECTORS_PER_TRACK),
    },
    diskType,
    checksum,
    uuid: b.slice(C.F_UUID, C.F_UUID + 16),
    savedState: b[C.F_SAVED_STATE] !== 0,
  }
  if (diskType !== 'fixed' && footer.dataOffset === undefined) {
    throw new VhdError(VhdErrorCode.invalid, `${what}: ${diskType} disk without a header offset`)
  }
  return { value: footer, checksumOk }
}

/** Encodes a footer and computes its checksum (the `checksum` field of the input is ignored). */
export function encodeFooter(footer: VhdFooter): Uint8Array {
  const b = new Uint8Array(C.FOOTER_SIZE)
  const dv = view(b)
  writeAscii(b, C.F_COOKIE, C.FOOTER_COOKIE)
  dv.setUint32(C.F_FEATURES, footer.features)
  dv.setUint32(C.F_VERSION, footer.fileFormatVersion)
  writeU64(b, C.F_DATA_OFFSET, footer.dataOffset ?? C.NO_DATA_OFFSET)
  dv.setUint32(C.F_TIMESTAMP, footer.timestamp)
  writeAscii(b, C.F_CREATOR_APP, footer.creatorApplication.padEnd(4, '\0').slice(0, 4))
  dv.setUint32(C.F_CREATOR_VERSION, footer.creatorVersion)
  dv.setUint32(C.F_CREATOR_HOST_OS, footer.creatorHostOs)
  writeU64(b, C.F_ORIGINAL_SIZE, footer.originalSize)
  writeU64(b, C.F_CURRENT_SIZE, footer.currentSize)
  dv.setUint16(C.F_CYLINDERS, footer.geometry.cylinders)
  dv.setUint8(C.F_HEADS, footer.geometry.heads)
  dv.setUint8(C.F_SECTORS_PER_TRACK, footer.geometry.sectorsPerTrack)
  dv.setUint32(C.F_DISK_TYPE, C.DiskType[footer.diskType])
  b.set(footer.uuid.subarray(0, 16), C.F_UUID)
  b[C.F_SAVED_STATE] = footer.savedState ? 1 : 0
  dv.setUint32(C.F_CHECKSUM, vhdChecksum(b, C.F_CHECKSUM))
  return b
}

export const footerUuid = (footer: VhdFooter): string => formatUuid(footer.uuid)

export function vhdTimestamp(date: Date): number {
  return Math.max(0, Math.floor(date.getTime() / 1000) - C.VHD_EPOCH_OFFSET) >>> 0
}

export const dateOfVhdTimestamp = (seconds: number): Date => new Date((seconds + C.VHD_EPOCH_OFFSET) * 1000)

/** Two footers of one file describe the same disk (timestamps may differ between writers' copies). */
export function sameDisk(a: VhdFooter, b: VhdFooter): boolean {
  return a.currentSize === b.currentSize && a.diskType === b.diskType && Buffer.compare(a.uuid, b.uuid) === 0
}
