// The streaming reader: consumes a dynamic or differencing VHD once, in order, as XAPI's
// /export_raw_vdi?format=vhd sends it (footer, header, BAT, blocks, footer). Opening reads only the
// metadata, so a caller can learn which blocks changed from the BAT and close the stream; iterating
// `blocks()` then yields each present block with its sector bitmap, one at a time.
import { throwIfAborted } from '../shared/abort.js'
import { FOOTER_SIZE, HEADER_SIZE } from './constants.js'
import { ByteReader } from './byte-reader.js'
import { blocksInFileOrder, parseBat } from './bat.js'
import { countUnsetSectors, isFullBitmap, maskUnsetSectors, zeroUnsetSectors } from './bitmap.js'
import { VhdError, VhdErrorCode } from './errors.js'
import { parseFooter, sameDisk, type VhdFooter } from './footer.js'
import { bitmapSize, parseHeader, type VhdHeader } from './header.js'

export interface VhdBlock {
  index: number
  /** One bit per sector, most significant first; see bitmap.ts for what a clear bit means. */
  bitmap: Uint8Array
  /** `blockSize` bytes, including any part past the disk's end. May be a view into a source chunk. */
  data: Uint8Array
  /** True when every sector of the block is present (always, for what XAPI, qemu and we write). */
  full: boolean
}

export interface VhdBlocksOptions {
  /** Reuse a ring of `reuse + 1` buffers for the blocks' data (see blocks()). */
  reuse?: number
  /**
   * Where the reused buffers come from (default: new memory). The caller owns what it allocates: the
   * stream neither frees nor gives back buffers (shared memory, for worker threads to read in place).
   */
  allocate?: (length: number) => Uint8Array
  /**
   * Yield the partial blocks of a differencing stream as stored, for a caller that lays each block over
   * its parent's data sector by sector (an import onto a clone of the parent). Without it they are
   * refused: their clear sectors are the parent's, which a stream read alone does not have.
   */
  keepPartial?: boolean
}

export interface VhdStreamOptions {
  signal?: AbortSignal
  /** Names the stream in error messages, e.g. "export of VDI 3fa2…". */
  name?: string
}

export class VhdStream {
  readonly footer: VhdFooter
  readonly header: VhdHeader
  /** Sector offset of each block, BAT_UNUSED where absent; indexed by block number. */
  readonly bat: Uint32Array
  /** Present blocks (within the disk's size) in the order they arrive in the stream. */
  readonly blockOrder: Uint32Array
  readonly #reader: ByteReader
  readonly #name: string
  #consumed = false

  constructor(reader: ByteReader, name: string, footer: VhdFooter, header: VhdHeader, bat: Uint32Array) {
    this.#reader = reader
    this.#name = name
    this.footer = footer
    this.header = header
    this.bat = bat
    this.blockOrder = checkStreamLayout(reader.position, name, footer, header, bat)
  }

  get size(): number {
    return this.footer.currentSize
  }
  get blockSize(): number {
    return this.header.blockSize
  }
  get blockCount(): number {
    return Math.ceil(this.footer.currentSize / this.header.blockSize)
  }
  get isDifferencing(): boolean {
    return this.footer.diskType === 'differencing'
  }

  /**
   * Yields the present blocks in stream order, then checks the trailing footer. Can run once. Each
   * block's buffers stay valid after the next one is read (they are never reused), unless `reuse` is
   * set: then a block's data may be overwritten once `reuse` more blocks have been read (1: when the
   * loop asks for the next block). A consumer with at most `reuse` blocks in hand then saves a fresh
   * allocation (and its page faults, and the collections they bring) per block. With `allocate`, those
   * reused buffers come from the caller (shared memory, which worker threads read without a copy).
   *
   * A block whose sector bitmap is partial: in a dynamic disk its clear sectors are yielded as zeros
   * (what the disk holds there), never as the bytes stored in the file; in a differencing disk it is a
   * VHD_PARTIAL_BLOCK error unless `keepPartial` (see VhdBlocksOptions).
   */
  async *blocks(signal?: AbortSignal, options: VhdBlocksOptions = {}): AsyncGenerator<VhdBlock> {
    if (this.#consumed)
      throw new VhdError(VhdErrorCode.unsupported, `${this.#name}: blocks() can run only once`)
    this.#consumed = true
    const reader = this.#reader
    const mapSize = bitmapSize(this.blockSize)
    const sectors = this.blockSize / 512
    const ring: Uint8Array[] = []
    let turn = 0
    try {
      for (const index of this.blockOrder) {
        throwIfAborted(signal)
        await reader.skip(this.bat[index]! * 512 - reader.position, 'gap before a block', signal)
        const bitmap = await reader.read(mapSize, `bitmap of block ${index}`, signal)
        let scratch: Uint8Array | undefined
        if (options.reuse !== undefined && options.reuse > 0) {
          scratch = ring[turn] ??= options.allocate?.(this.blockSize) ?? new Uint8Array(this.blockSize)
          turn = (turn + 1) % (options.reuse + 1) // the one being filled, and `reuse` still in hand
        }
        const data = await reader.read(this.blockSize, `block ${index}`, signal, scratch)
        const full = isFullBitmap(bitmap, sectors)
        yield {
          index,
          bitmap,
          data: full ? data : this.#partial(index, bitmap, data, scratch, options),
          full,
        }
      }
      await this.#checkTrailingFooter(signal)
    } finally {
      // Whether the caller finished, broke out or failed, the source is no longer needed.
      await reader.close()
    }
  }

  /** The data a partial block yields (see blocks()): zeros where a dynamic disk has no sector. */
  #partial(
    index: number,
    bitmap: Uint8Array,
    data: Uint8Array,
    scratch: Uint8Array | undefined,
    options: VhdBlocksOptions,
  ): Uint8Array {
    const sectors = this.blockSize / 512
    if (this.isDifferencing) {
      if (options.keepPartial === true) return data
      const missingSectors = countUnsetSectors(bitmap, sectors)
      throw new VhdError(
        VhdErrorCode.partialBlock,
        `${this.#name}: block ${index} holds ${sectors - missingSectors} of its ${sectors} sectors; the ` +
          `other ${missingSectors} are its parent's, which this delta read alone does not have`,
        { details: { block: index, missingSectors } },
      )
    }
    // The reused buffer is ours to change; a view into the source's bytes is not.
    if (scratch === undefined || data.buffer !== scratch.buffer)
      return maskUnsetSectors(data, bitmap, sectors)
    zeroUnsetSectors(data, bitmap, sectors)
    return data
  }

  /** Stops reading; the source is released. Safe to call at any time, also after blocks(). */
  close(): Promise<void> {
    return this.#reader.close()
  }

  async #checkTrailingFooter(signal?: AbortSignal): Promise<void> {
    const { tail } = await this.#reader.readToEnd(FOOTER_SIZE, signal)
    if (tail.length < FOOTER_SIZE) {
      throw new VhdError(VhdErrorCode.truncated, `${this.#name}: stream ends without its trailing footer`)
    }
    const trailing = parseFooter(tail, `${this.#name} trailing footer`).value
    if (!sameDisk(trailing, this.footer)) {
      throw new VhdError(VhdErrorCode.footerMismatch, `${this.#name}: trailing footer describes another disk`)
    }
  }
}

/** Reads footer, header and BAT from the stream. Blocks are not read until `blocks()` is iterated. */
export async function openVhdStream(
  source: AsyncIterable<Uint8Array>,
  options: VhdStreamOptions = {},
): Promise<VhdStream> {
  const name = options.name ?? 'VHD stream'
  const { signal } = options
  const reader = new ByteReader(source, name)
  try {
    const footer = parseFooter(await reader.read(FOOTER_SIZE, 'footer', signal), `${name} footer`).value
    if (footer.diskType === 'fixed') {
      throw new VhdError(
        VhdErrorCode.unsupported,
        `${name}: a fixed VHD starts with its data; it cannot be streamed`,
      )
    }
    const headerOffset = footer.dataOffset!
    if (headerOffset < FOOTER_SIZE) {
      throw new VhdError(VhdErrorCode.blockOrder, `${name}: header at ${headerOffset} lies inside the footer`)
    }
    await reader.skip(headerOffset - reader.position, 'gap before the header', signal)
    const header = parseHeader(
      await reader.read(HEADER_SIZE, 'header', signal),
      footer.currentSize,
      `${name} header`,
    ).value
    if (header.tableOffset < reader.position) {
      throw new VhdError(
        VhdErrorCode.blockOrder,
        `${name}: BAT at ${header.tableOffset} lies behind the header`,
      )
    }
    await reader.skip(header.tableOffset - reader.position, 'gap before the BAT', signal)
    const entries = header.maxTableEntries
    const bat = parseBat(await reader.read(entries * 4, 'BAT', signal), entries, `${name} BAT`)
    return new VhdStream(reader, name, footer, header, bat)
  } catch (error) {
    await reader.close().catch(() => undefined)
    throw error
  }
}

function checkStreamLayout(
  position: number,
  name: string,
  footer: VhdFooter,
  header: VhdHeader,
  bat: Uint32Array,
): Uint32Array {
  return blocksInFileOrder(bat, {
    blockSpan: bitmapSize(header.blockSize) + header.blockSize,
    metadata: [],
    blockCount: Math.ceil(footer.currentSize / header.blockSize),
    streamPosition: position,
    what: name,
  })
}
