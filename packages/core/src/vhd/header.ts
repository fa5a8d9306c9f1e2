// The 1024-byte dynamic header of dynamic and differencing disks: where the BAT is, the block size, and
// for differencing disks who the parent is (UUID, timestamp, name, locators).
import * as C from './constants.js'
import { ascii, readU64, vhdChecksum, view, writeAscii, writeU64 } from './bytes.js'
import { VhdError, VhdErrorCode } from './errors.js'
import type { ParsedStruct } from './footer.js'

export interface ParentLocatorEntry {
  /** Four-character platform code, e.g. 'MacX', 'W2ru', 'W2ku'. */
  platform: string
  /** As stored: sectors per the specification, bytes for some writers. We never rely on it. */
  dataSpace: number
  dataLength: number
  dataOffset: number
}

export interface VhdHeader {
  tableOffset: number
  headerVersion: number
  maxTableEntries: number
  blockSize: number
  checksum: number
  /** All zeros for a dynamic disk. */
  parentUuid: Uint8Array
  parentTimestamp: number
  parentUnicodeName: string
  /** The non-empty locator slots, in slot order. */
  parentLocators: ParentLocatorEntry[]
}

/** Bytes of a sector bitmap for a block size: one bit per sector, padded to whole sectors. */
export const bitmapSize = (blockSize: number): number =>
  Math.ceil(blockSize / C.SECTOR_SIZE / 8 / C.SECTOR_SIZE) * C.SECTOR_SIZE

/** Bytes of the BAT on disk: 4 per entry, padded to whole sectors. */
export const batSize = (entries: number): number => Math.ceil((entries * 4) / C.SECTOR_SIZE) * C.SECTOR_SIZE

export function checkBlockSize(blockSize: number, what: string): void {
  const powerOfTwo = blockSize > 0 && (blockSize & (blockSize - 1)) === 0
  if (!powerOfTwo || blockSize < C.MIN_BLOCK_SIZE || blockSize > C.MAX_BLOCK_SIZE) {
    throw new VhdError(VhdErrorCode.sizeLimit, `${what}: unsupported block size ${blockSize}`, {
      details: { blockSize },
    })
  }
}

export function parseHeader(
  bytes: Uint8Array,
  currentSize: number,
  what = 'VHD header',
  verifyChecksum = true,
): ParsedStruct<VhdHeader> {
  if (bytes.length < C.HEADER_SIZE) {
    throw new VhdError(VhdErrorCode.truncated, `${what}: ${bytes.length} bytes, need ${C.HEADER_SIZE}`)
  }
  const b = bytes.subarray(0, C.HEADER_SIZE)
  if (ascii(b, C.H_COOKIE, 8) !== C.HEADER_COOKIE) {
    throw new VhdError(VhdErrorCode.badCookie, `${what}: no 'cxsparse' cookie`)
  }
  const dv = view(b)
  const checksum = dv.getUint32(C.H_CHECKSUM)
  const checksumOk = vhdChecksum(b, C.H_CHECKSUM) === checksum
  if (!checksumOk && verifyChecksum) {
    throw new VhdError(VhdErrorCode.badChecksum, `${what}: checksum mismatch`, {
      details: { stored: checksum },
    })
  }
  const blockSize = dv.getUint32(C.H_BLOCK_SIZE)
  checkBlockSize(blockSize, what)
  const maxTableEntries = dv.getUint32(C.H_MAX_TABLE_ENTRIES)
  if (maxTableEntries > Math.ceil(C.MAX_DISK_SIZE / blockSize)) {
    throw new VhdError(
      VhdErrorCode.sizeLimit,
      `${what}: ${maxTableEntries} BAT entries is beyond a 2040 GiB disk`,
    )
  }
  if (maxTableEntries * blockSize < currentSize) {
    throw new VhdError(
      VhdErrorCode.invalid,
      `${what}: ${maxTableEntries} blocks of ${blockSize} bytes cannot hold a ${currentSize}-byte disk`,
    )
  }
  const header: VhdHeader = {
    tableOffset: readU64(b, C.H_TABLE_OFFSET, `${what} table offset`),
    headerVersion: dv.getUint32(C.H_VERSION),
    maxTableEntries,
    blockSize,
    checksum,
    parentUuid: b.slice(C.H_PARENT_UUID, C.H_PARENT_UUID + 16),
    parentTimestamp: dv.getUint32(C.H_PARENT_TIMESTAMP),
    parentUnicodeName: decodeUtf16be(b.subarray(C.H_PARENT_NAME, C.H_PARENT_NAME + C.H_PARENT_NAME_SIZE)),
    parentLocators: parseLocatorEntries(b),
  }
  return { value: header, checksumOk }
}

function parseLocatorEntries(b: Uint8Array): ParentLocatorEntry[] {
  const dv = view(b)
  const entries: ParentLocatorEntry[] = []
  for (let i = 0; i < C.LOCATOR_COUNT; i++) {
    const at = C.H_LOCATORS + i * C.LOCATOR_ENTRY_SIZE
    if (dv.getUint32(at) === C.PlatformCode.none) continue
    entries.push({
      platform: ascii(b, at, 4),
      dataSpace: dv.getUint32(at + 4),
      dataLength: dv.getUint32(at + 8),
      // A garbage offset only makes that locator unusable; it must not fail the whole header.
      dataOffset: Number(dv.getBigUint64(at + 16)),
    })
  }
  return entries
}

/** Encodes a header and computes its checksum (the `checksum` field of the input is ignored). */
export function encodeHeader(header: VhdHeader): Uint8Array {
  const b = new Uint8Array(C.HEADER_SIZE)
  const dv = view(b)
  writeAscii(b, C.H_COOKIE, C.HEADER_COOKIE)
  writeU64(b, C.H_DATA_OFFSET, C.NO_DATA_OFFSET)
  writeU64(b, C.H_TABLE_OFFSET, header.tableOffset)
  dv.setUint32(C.H_VERSION, header.headerVersion)
  dv.setUint32(C.H_MAX_TABLE_ENTRIES, header.maxTableEntries)
  dv.setUint32(C.H_BLOCK_SIZE, header.blockSize)
  b.set(header.parentUuid.subarray(0, 16), C.H_PARENT_UUID)
  dv.setUint32(C.H_PARENT_TIMESTAMP, header.parentTimestamp)
  b.set(encodeUtf16be(header.parentUnicodeName, C.H_PARENT_NAME_SIZE), C.H_PARENT_NAME)
  header.parentLocators.slice(0, C.LOCATOR_COUNT).forEach((entry, i) => {
    const at = C.H_LOCATORS + i * C.LOCATOR_ENTRY_SIZE
    writeAscii(b, at, entry.platform)
    dv.setUint32(at + 4, entry.dataSpace)
    dv.setUint32(at + 8, entry.dataLength)
    writeU64(b, at + 16, entry.dataOffset)
  })
  dv.setUint32(C.H_CHECKSUM, vhdChecksum(b, C.H_CHECKSUM))
  return b
}

function decodeUtf16be(bytes: Uint8Array): string {
  const swapped = Buffer.from(bytes).swap16().toString('utf16le')
  const end = swapped.indexOf('\0')
  return end === -1 ? swapped : swapped.slice(0, end)
}

function encodeUtf16be(text: string, size: number): Uint8Array {
  const encoded = Buffer.from(text, 'utf16le')
  if (encoded.length > size) {
    throw new VhdError(VhdErrorCode.invalid, `parent name '${text}' is longer than ${size / 2} UTF-16 units`)
  }
  const out = Buffer.alloc(size)
  encoded.copy(out)
  return out.swap16()
}
