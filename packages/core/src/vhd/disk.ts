// The random-access reader: one VHD file (fixed, dynamic or differencing) behind a small read interface,
// with its structures checked on open so that every later read stays inside the file.
import { DEFAULT_BLOCK_SIZE, FOOTER_SIZE, HEADER_SIZE, BAT_UNUSED, SECTOR_SIZE } from './constants.js'
import { blocksInFileOrder, parseBat, type Extent } from './bat.js'
import { isFullBitmap } from './bitmap.js'
import { VhdError, VhdErrorCode } from './errors.js'
import { type VhdFooter } from './footer.js'
import { batSize, bitmapSize, parseHeader, type VhdHeader } from './header.js'
import { decodeLocatorPath } from './locators.js'
import { readFooters, type VhdChecks } from './footers.js'
import type { RandomAccess } from './random-access.js'
import type { VhdBlock } from './stream-reader.js'

export type { RandomAccess, VhdChecks }

export interface OpenVhdOptions {
  /** Names the disk in errors (a file path). */
  name?: string
  /** When false, bad checksums and a damaged footer copy are reported in `checks` instead of thrown. */
  strict?: boolean
  signal?: AbortSignal
}

export class VhdDisk {
  readonly blockSize: number
  readonly #bitmapSize: number
  readonly #bitmapSectors: number

  constructor(
    readonly access: RandomAccess,
    readonly name: string,
    readonly footer: VhdFooter,
    readonly header: VhdHeader | undefined,
    readonly bat: Uint32Array | undefined,
    readonly checks: VhdChecks,
  ) {
    this.blockSize = header?.blockSize ?? DEFAULT_BLOCK_SIZE
    this.#bitmapSize = bitmapSize(this.blockSize)
    this.#bitmapSectors = this.blockSize / SECTOR_SIZE
  }

  get size(): number {
    return this.footer.currentSize
  }
  get blockCount(): number {
    return Math.ceil(this.size / this.blockSize)
  }
  get isDifferencing(): boolean {
    return this.footer.diskType === 'differencing'
  }

  hasBlock(index: number): boolean {
    if (index < 0 || index >= this.blockCount) return false
    return this.bat === undefined || this.bat[index] !== BAT_UNUSED
  }

  /** Blocks allocated in the file (for a fixed disk: all of them). */
  get allocatedBlocks(): number {
    if (this.bat === undefined) return this.blockCount
    let count = 0
    for (let i = 0; i < this.blockCount; i++) if (this.bat[i] !== BAT_UNUSED) count++
    return count
  }

  /**
   * Block `index` as stored, or undefined when this file does not hold it. A fixed disk serves blocks
   * of `blockSize` bytes (any power of two, to line up with a child's blocks), zero-padded at the end.
   */
  async readBlock(
    index: number,
    signal?: AbortSignal,
    blockSize = this.blockSize,
  ): Promise<VhdBlock | undefined> {
    if (this.bat === undefined) return this.#readFixedBlock(index, blockSize, signal)
    if (!this.hasBlock(index)) return undefined
    const offset = this.bat[index]! * SECTOR_SIZE
    const bytes = await this.access.read(offset, this.#bitmapSize + this.blockSize, signal)
    const bitmap = bytes.subarray(0, this.#bitmapSize)
    return {
      index,
      bitmap,
      data: bytes.subarray(this.#bitmapSize),
      full: isFullBitmap(bitmap, this.#bitmapSectors),
    }
  }

  async #readFixedBlock(
    index: number,
    blockSize: number,
    signal?: AbortSignal,
  ): Promise<VhdBlock | undefined> {
    const start = index * blockSize
    if (index < 0 || start >= this.size) return undefined
    const length = Math.min(blockSize, this.size - start)
    let data = await this.access.read(start, length, signal)
    if (length < blockSize) {
      const padded = new Uint8Array(blockSize)
      padded.set(data)
      data = padded
    }
    return { index, bitmap: new Uint8Array(0), data, full: true }
  }

  /** Paths the parent locators name, in slot order (unreadable or out-of-file locators are skipped). */
  async locatorPaths(signal?: AbortSignal): Promise<string[]> {
    const paths: string[] = []
    for (const locator of this.header?.parentLocators ?? []) {
      const { dataOffset, dataLength, platform } = locator
      if (dataLength === 0 || dataLength > 64 * 1024 || dataOffset + dataLength > this.access.size) continue
      const path = decodeLocatorPath(platform, await this.access.read(dataOffset, dataLength, signal))
      if (path !== undefined) paths.push(path)
    }
    return paths
  }

  async close(): Promise<void> {
    await this.access.close?.()
  }
}

export async function openVhd(access: RandomAccess, options: OpenVhdOptions = {}): Promise<VhdDisk> {
  const name = options.name ?? 'VHD'
  const strict = options.strict ?? true
  const { signal } = options
  const { footer, checks } = await readFooters(access, name, strict, signal)
  if (footer.diskType === 'fixed') {
    if (access.size < footer.currentSize + FOOTER_SIZE) {
      throw new VhdError(
        VhdErrorCode.truncated,
        `${name}: ${access.size} bytes cannot hold a ${footer.currentSize}-byte fixed disk`,
      )
    }
    return new VhdDisk(access, name, footer, undefined, undefined, checks)
  }
  const dataEnd = access.size - FOOTER_SIZE
  const headerOffset = footer.dataOffset!
  requireInside(headerOffset, HEADER_SIZE, dataEnd, `${name} header`)
  const parsed = parseHeader(
    await access.read(headerOffset, HEADER_SIZE, signal),
    footer.currentSize,
    `${name} header`,
    strict,
  )
  const header = parsed.value
  checks.header = parsed.checksumOk
  const entries = header.maxTableEntries
  requireInside(header.tableOffset, entries * 4, dataEnd, `${name} BAT`)
  const bat = parseBat(await access.read(header.tableOffset, entries * 4, signal), entries, `${name} BAT`)
  blocksInFileOrder(bat, {
    blockSpan: bitmapSize(header.blockSize) + header.blockSize,
    metadata: metadataExtents(headerOffset, header, access.size),
    end: dataEnd,
    blockCount: Math.ceil(footer.currentSize / header.blockSize),
    what: name,
  })
  return new VhdDisk(access, name, footer, header, bat, checks)
}

function requireInside(offset: number, length: number, end: number, what: string): void {
  if (offset + length > end) {
    throw new VhdError(
      VhdErrorCode.truncated,
      `${what} (${length} bytes at ${offset}) lies past the end of the file`,
    )
  }
}

function metadataExtents(headerOffset: number, header: VhdHeader, fileSize: number): Extent[] {
  const extents: Extent[] = [
    { start: 0, end: FOOTER_SIZE, what: 'footer copy' },
    { start: headerOffset, end: headerOffset + HEADER_SIZE, what: 'header' },
    { start: header.tableOffset, end: header.tableOffset + batSize(header.maxTableEntries), what: 'BAT' },
  ]
  for (const l of header.parentLocators) {
    if (l.dataLength > 0 && l.dataOffset + l.dataLength <= fileSize) {
      extents.push({
        start: l.dataOffset,
        end: l.dataOffset + l.dataLength,
        what: `${l.platform} parent locator`,
      })
    }
  }
  return extents
}
