// The streaming writer: a dynamic or differencing VHD of known total length, produced front to back
// from the list of present blocks and an iterator of their data (what /import_raw_vdi consumes). Layout:
// footer copy, header, parent locators, BAT, blocks in index order (full bitmap + data), footer.
import { throwIfAborted } from '../shared/abort.js'
import * as C from './constants.js'
import { encodeBat } from './bat.js'
import { fullBitmap } from './bitmap.js'
import { roundUp } from './bytes.js'
import { VhdError, VhdErrorCode } from './errors.js'
import { encodeFooter, vhdTimestamp, type VhdFooter } from './footer.js'
import { geometryFor } from './geometry.js'
import {
  batSize,
  bitmapSize,
  checkBlockSize,
  encodeHeader,
  type ParentLocatorEntry,
  type VhdHeader,
} from './header.js'
import type { LocatorPayload } from './locators.js'

export interface VhdWriterParent {
  /** The parent's footer UUID. */
  uuid: Uint8Array
  /** The parent's footer timestamp (VHD seconds). */
  timestamp: number
  /** Stored as the header's parent name (conventionally the parent's file name). */
  unicodeName: string
  locators?: LocatorPayload[]
}

export interface VhdPlanOptions {
  /** Virtual size in bytes, a multiple of 512. */
  size: number
  /** Present blocks, ascending, each below ceil(size / blockSize). */
  blockIndexes: ArrayLike<number>
  blockSize?: number
  uuid?: Uint8Array
  /** Footer timestamp in VHD seconds; defaults to now. */
  timestamp?: number
  creatorApplication?: string
  /** Makes a differencing disk over this parent. */
  parent?: VhdWriterParent
}

export interface VhdPlan {
  /** Exact byte length of the stream (what a PUT needs as Content-Length). */
  readonly length: number
  readonly footer: VhdFooter
  readonly header: VhdHeader
  readonly blockIndexes: Uint32Array
  /** Footer copy, header, locators and BAT: everything before the first block. */
  readonly head: Uint8Array
}

export interface VhdWriteBlock {
  index: number
  /** Up to blockSize bytes; a shorter last block is padded with zeros. */
  data: Uint8Array
}

export function planVhd(options: VhdPlanOptions): VhdPlan {
  const blockSize = options.blockSize ?? C.DEFAULT_BLOCK_SIZE
  checkBlockSize(blockSize, 'VHD writer')
  const { size } = options
  if (!Number.isSafeInteger(size) || size <= 0 || size % C.SECTOR_SIZE !== 0 || size > C.MAX_DISK_SIZE) {
    throw new VhdError(
      VhdErrorCode.writerInput,
      `VHD writer: size ${size} is not a sector multiple up to 2040 GiB`,
    )
  }
  const entries = Math.ceil(size / blockSize)
  const blockIndexes = checkIndexes(options.blockIndexes, entries)
  const locators = options.parent?.locators ?? []
  let cursor = C.FOOTER_SIZE + C.HEADER_SIZE
  const locatorEntries: ParentLocatorEntry[] = locators.map((l) => {
    const entry = {
      platform: l.platform,
      dataSpace: roundUp(l.data.length, C.SECTOR_SIZE),
      dataLength: l.data.length,
      dataOffset: cursor,
    }
    cursor += entry.dataSpace
    return entry
  })
  const tableOffset = cursor
  const firstBlock = tableOffset + batSize(entries)
  const span = bitmapSize(blockSize) + blockSize
  const bat = new Uint32Array(entries).fill(C.BAT_UNUSED)
  blockIndexes.forEach((index, k) => (bat[index] = (firstBlock + k * span) / C.SECTOR_SIZE))
  const footer = makeFooter(options, size)
  const header: VhdHeader = {
    tableOffset,
    headerVersion: C.HEADER_VERSION,
    maxTableEntries: entries,
    blockSize,
    checksum: 0,
    parentUuid: options.parent?.uuid ?? new Uint8Array(16),
    parentTimestamp: options.parent?.timestamp ?? 0,
    parentUnicodeName: options.parent?.unicodeName ?? '',
    parentLocators: locatorEntries,
  }
  const head = new Uint8Array(firstBlock)
  head.set(encodeFooter(footer), 0)
  head.set(encodeHeader(header), C.FOOTER_SIZE)
  locators.forEach((l, i) => head.set(l.data, locatorEntries[i]!.dataOffset))
  head.set(encodeBat(bat, batSize(entries)), tableOffset)
  return {
    length: firstBlock + blockIndexes.length * span + C.FOOTER_SIZE,
    footer,
    header,
    blockIndexes,
    head,
  }
}

/**
 * The VHD's bytes, in order. `blocks` must yield exactly the planned indexes, ascending; anything else
 * is a VHD_WRITER_INPUT error (the stream's announced length would be wrong).
 */
export async function* writeVhd(
  plan: VhdPlan,
  blocks: AsyncIterable<VhdWriteBlock> | Iterable<VhdWriteBlock>,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const { blockSize } = plan.header
  const bitmap = fullBitmap(bitmapSize(blockSize), blockSize / C.SECTOR_SIZE)
  yield plan.head
  let k = 0
  for await (const block of blocks) {
    throwIfAborted(signal)
    const expected = plan.blockIndexes[k]
    if (block.index !== expected) {
      throw new VhdError(
        VhdErrorCode.writerInput,
        `VHD writer: got block ${block.index}, expected ${expected ?? 'the end'}`,
      )
    }
    if (block.data.length > blockSize) {
      throw new VhdError(
        VhdErrorCode.writerInput,
        `VHD writer: block ${block.index} has ${block.data.length} bytes`,
      )
    }
    yield bitmap
    yield block.data
    if (block.data.length < blockSize) yield new Uint8Array(blockSize - block.data.length)
    k++
  }
  if (k !== plan.blockIndexes.length) {
    throw new VhdError(
      VhdErrorCode.writerInput,
      `VHD writer: ${plan.blockIndexes.length - k} planned blocks never came`,
    )
  }
  yield encodeFooter(plan.footer)
}

function makeFooter(options: VhdPlanOptions, size: number): VhdFooter {
  return {
    features: C.FEATURES_RESERVED,
    fileFormatVersion: C.FILE_FORMAT_VERSION,
    dataOffset: C.FOOTER_SIZE,
    timestamp: options.timestamp ?? vhdTimestamp(new Date()),
    creatorApplication: options.creatorApplication ?? 'strt',
    creatorVersion: 0x00010000,
    creatorHostOs: 0,
    originalSize: size,
    currentSize: size,
    geometry: geometryFor(size),
    diskType: options.parent === undefined ? 'dynamic' : 'differencing',
    checksum: 0,
    uuid: options.uuid ?? randomUuid(),
    savedState: false,
  }
}

function checkIndexes(indexes: ArrayLike<number>, entries: number): Uint32Array {
  const out = Uint32Array.from(indexes as ArrayLike<number>)
  for (let i = 0; i < out.length; i++) {
    const index = indexes[i]!
    if (!Number.isInteger(index) || index < 0 || index >= entries || (i > 0 && index <= out[i - 1]!)) {
      throw new VhdError(
        VhdErrorCode.writerInput,
        `VHD writer: block list must ascend within 0..${entries - 1} (got ${index})`,
      )
    }
  }
  return out
}

function randomUuid(): Uint8Array {
  return new Uint8Array(Buffer.from(crypto.randomUUID().replace(/-/g, ''), 'hex'))
}
