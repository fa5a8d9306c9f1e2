// A VDI as the target of a disk source: the chunks it delivers are written in place through XAPI's
// /import_raw_vdi onto the existing VDI, as a chunked raw body (frames of the changed byte ranges) or, on
// a pool that refuses chunked, as a VHD. Both name what they write before its bytes and must announce
// their length, so the sink asks the source for ordered delivery and for each list (and the 64 KiB runs
// CBT names in its chunks) before the bytes (`plan`): one upload per list, streamed while the source
// reads. Over a clone of the previous state this writes just the changed blocks (replication), and of
// those, in chunked frames, only the runs that changed: the VHD carries each block's whole 2 MiB, its
// bitmap setting the runs. Onto a new VDI, every allocated block. Chunks outside any list (a source that
// names none) are copied and sent in batches. Uploads to one VDI run one after the other; the first
// failure fails every later call.
import { sleep, throwIfAborted } from '../shared/index.js'
import { DEFAULT_BLOCK_SIZE } from '../vhd/index.js'
import {
  XapiTransferError,
  importVdi,
  isXapiError,
  type FrameRange,
  type Ref,
  type XapiClient,
} from '../xapi/index.js'
import type { ChunkTarget } from './chunk-target.js'
import { chunkCountOf, chunkLengthOf } from './disk-source.js'
import { DiskError } from './errors.js'
import { ImportSegment, type BlockPart } from './import-segment.js'

export interface VdiImportSinkOptions {
  readonly xapi: XapiClient
  readonly vdi: Ref
  /** Bytes of the disk (the VDI is at least this large). */
  readonly size: number
  /**
   * Holes are written as zeros: the VDI holds older data (a clone of the previous state). Else they are
   * left out, a new VDI reading as zeros already.
   */
  readonly zeroHoles: boolean
  readonly signal: AbortSignal
  readonly maxBytesPerSecond?: number
  readonly onProgress?: (bytes: number, expected: number | undefined) => void
  /** How the uploads go: 'chunked' (default; VHD on a pool that refuses it) or always 'vhd'. */
  readonly format?: 'chunked' | 'vhd'
  /** A fallback (the pool refuses chunked imports): said once per sink. */
  readonly warn?: (message: string, details?: Record<string, unknown>) => void
}

/** Pools (their clients) that refused a chunked import: later uploads to them go as VHD at once. */
const refusesChunked = new WeakSet<XapiClient>()

/** Chunks outside any list, copied, are sent once this many are in hand (32 MiB of 2 MiB chunks). */
const LOOSE_BATCH = 16

export interface ImportFigures {
  /** Bytes of chunk data sent (zeros of holes included when written). */
  readonly bytesWritten: number
  /** Bytes of the HTTP bodies (frame headers and data; of VHDs, metadata, bitmaps, whole blocks). */
  readonly bytesSent: number
  /** Blocks sent with data, and uploads made. */
  readonly blocks: number
  readonly uploads: number
  /** The body of the uploads: 'chunked', 'vhd', or 'mixed' (a fallback after a chunked one). */
  readonly format: 'chunked' | 'vhd' | 'mixed'
}

export class VdiImportSink implements ChunkTarget {
  readonly chunkSize = DEFAULT_BLOCK_SIZE
  readonly chunkCount: number
  readonly size: number
  readonly ordered = true
  /** Over an older state (a clone), a chunk's changed parts are all that must cross. */
  readonly partial: boolean
  readonly #o: VdiImportSinkOptions
  readonly #started = performance.now()
  readonly #loose = new Map<number, Uint8Array | readonly BlockPart[]>()
  readonly #uploads: ImportSegment[] = []
  #segment: ImportSegment | undefined
  #chain: Promise<void> = Promise.resolve()
  #failure: unknown
  #bytesRead = 0
  #expected: number | undefined
  #bytesSent = 0
  #blocks = 0
  readonly #formats = new Set<'chunked' | 'vhd'>()
  #fellBack = false
  /** Per chunk, the upload (its rank in #uploads) it was last given to. */
  readonly #givenTo = new Map<number, number>()

  constructor(options: VdiImportSinkOptions) {
    this.#o = options
    this.size = options.size
    this.partial = options.zeroHoles
    this.chunkCount = chunkCountOf(options.size, this.chunkSize)
  }

  get bytesRead(): number {
    return this.#bytesRead
  }

  get expected(): number | undefined {
    return this.#expected
  }

  get figures(): ImportFigures {
    const bytesWritten = this.#uploads.reduce((n, s) => n + s.dataBytes, 0)
    const formats = [...this.#formats]
    const format = formats.length > 1 ? 'mixed' : (formats[0] ?? this.#o.format ?? 'chunked')
    const { length: uploads } = this.#uploads
    return { bytesWritten, bytesSent: this.#bytesSent, blocks: this.#blocks, uploads, format }
  }

  chunkLength(index: number): number {
    return chunkLengthOf(index, this.size, this.chunkSize)
  }

  needed(): number[] {
    return []
  }

  expect(bytes: number): void {
    this.#expected = this.#bytesRead + bytes
    this.#o.onProgress?.(this.#bytesRead, this.#expected)
  }

  /**
   * The source's next list, and of some of its chunks the only ranges it will deliver: the open upload
   * (a fallback's predecessor) is closed, a new one starts.
   */
  plan(indexes: readonly number[], parts?: ReadonlyMap<number, readonly FrameRange[]>): void {
    this.#closeSegment()
    const list = indexes.filter((i) => !this.#loose.has(i) && i >= 0 && i < this.chunkCount)
    if (list.length > 0) this.#segment = this.#start(list, parts)
  }

  async put(index: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    this.#check(signal)
    if (this.#wanted(index)) await this.#segment!.offer(index, data, true)
    else this.#keepLoose(index, Buffer.from(data))
    this.#bytesRead += data.length
    this.#o.onProgress?.(this.#bytesRead, this.#expected)
    await this.#throttle(signal)
  }

  async putParts(index: number, parts: readonly BlockPart[], signal?: AbortSignal): Promise<void> {
    this.#check(signal)
    if (this.#wanted(index)) await this.#segment!.offerParts(index, parts, true)
    else
      this.#keepLoose(
        index,
        parts.map((p) => ({ offset: p.offset, bytes: Buffer.from(p.bytes) })),
      )
    this.#bytesRead += parts.reduce((n, p) => n + p.bytes.length, 0)
    this.#o.onProgress?.(this.#bytesRead, this.#expected)
    await this.#throttle(signal)
  }

  async putZero(index: number, signal?: AbortSignal): Promise<void> {
    this.#check(signal)
    const planned = this.#wanted(index)
    if (!this.#o.zeroHoles) {
      if (planned) await this.#segment!.offer(index, 'empty', false)
      return
    }
    const zeros = new Uint8Array(this.chunkLength(index))
    if (planned) await this.#segment!.offer(index, zeros, false)
    else this.#keepLoose(index, zeros)
  }

  /** Sends what is left and waits for every upload; throws the first failure. */
  async finish(): Promise<ImportFigures> {
    this.#closeSegment()
    this.#flushLoose()
    await this.#chain
    if (this.#failure !== undefined) throw this.#failure
    this.#checkOwed()
    return this.figures
  }

  /**
   * Stops the uploads after a failure elsewhere (the source's): their connections close and this
   * resolves once they have. What was written stays written.
   */
  async abort(reason: unknown): Promise<void> {
    this.#failure ??= reason
    for (const s of this.#uploads) s.fail(this.#failure)
    await this.#chain
  }

  /** Whether the open upload takes chunk `index` now (else it is kept loose); noted if so. */
  #wanted(index: number): boolean {
    if (this.#segment?.wants(index) !== true) return false
    this.#givenTo.set(index, this.#uploads.length - 1)
    return true
  }

  #start(list: readonly number[], parts?: ReadonlyMap<number, readonly FrameRange[]>): ImportSegment {
    const segment = new ImportSegment(list, this.size, this.chunkSize, parts)
    this.#uploads.push(segment)
    this.#chain = this.#chain.then(() => this.#upload(segment))
    return segment
  }

  async #upload(segment: ImportSegment): Promise<void> {
    if (this.#failure !== undefined) return segment.fail(this.#failure)
    const { xapi, vdi, signal } = this.#o
    let format: 'chunked' | 'vhd' = this.#o.format ?? 'chunked'
    if (format === 'chunked' && refusesChunked.has(xapi)) {
      format = 'vhd'
      this.#warnVhd('the pool refused chunked raw imports earlier')
    }
    for (;;) {
      const length = segment.length(format)
      const body = { open: () => segment.body(format, signal), length, afterResponse: true }
      try {
        const chunked = format === 'chunked'
        await importVdi(xapi, vdi, body, { format: chunked ? 'raw' : 'vhd', chunked, signal })
        this.#formats.add(format)
        this.#bytesSent += length
        this.#blocks += segment.count
        return
      } catch (error) {
        // Refused before the body was opened: nothing was written, the same upload goes as a VHD.
        if (format === 'chunked' && !segment.opened && refusedChunked(error)) {
          this.#fallBack(error)
          format = 'vhd'
          continue
        }
        this.#failure ??= error
        segment.fail(this.#failure)
        return
      }
    }
  }

  #fallBack(error: unknown): void {
    refusesChunked.add(this.#o.xapi)
    this.#warnVhd(`the pool refuses chunked raw imports (${(error as Error).message})`)
  }

  /** Says once that this VDI is written by VHD imports since the pool refuses chunked ones. */
  #warnVhd(why: string): void {
    if (this.#fellBack) return
    this.#fellBack = true
    this.#o.warn?.(`${why}: VDI ${this.#o.vdi} is written by VHD imports, whole 2 MiB blocks crossing`, {
      code: 'CHUNKED_IMPORT_REFUSED',
    })
  }

  /**
   * Chunks an upload sent as zero frames (closed before they came: a fallback of the source's) must
   * have been given to a later upload, else the VDI holds zeros where the source has data.
   */
  #checkOwed(): void {
    this.#uploads.forEach((segment, rank) => {
      const owed = segment.missing.find((index) => (this.#givenTo.get(index) ?? -1) <= rank)
      if (owed !== undefined) {
        throw new DiskError(
          'DISK_SOURCE_INVALID',
          `chunk ${owed} of VDI ${this.#o.vdi} was planned and never delivered`,
        )
      }
    })
  }

  #closeSegment(): void {
    this.#segment?.close()
    this.#segment = undefined
  }

  #keepLoose(index: number, bytes: Uint8Array | readonly BlockPart[]): void {
    this.#loose.set(index, bytes)
    if (this.#loose.size >= LOOSE_BATCH && this.#segment?.complete !== false) this.#flushLoose()
  }

  /** The loose chunks as one upload of their own (after the upload in progress). */
  #flushLoose(): void {
    if (this.#loose.size === 0) return
    const entries = [...this.#loose.entries()].sort(([a], [b]) => a - b)
    this.#loose.clear()
    this.#closeSegment()
    const parts = new Map<number, FrameRange[]>()
    for (const [index, bytes] of entries) {
      if (!(bytes instanceof Uint8Array))
        parts.set(
          index,
          bytes.map((p) => ({ offset: p.offset, length: p.bytes.length })),
        )
    }
    const segment = this.#start(
      entries.map(([i]) => i),
      parts,
    )
    for (const [index, bytes] of entries) {
      this.#givenTo.set(index, this.#uploads.length - 1)
      void (bytes instanceof Uint8Array
        ? segment.offer(index, bytes, false)
        : segment.offerParts(index, bytes, false))
    }
    segment.close()
  }

  #check(signal: AbortSignal | undefined): void {
    throwIfAborted(signal)
    if (this.#failure !== undefined) throw this.#failure
  }

  async #throttle(signal?: AbortSignal): Promise<void> {
    const rate = this.#o.maxBytesPerSecond
    if (rate === undefined || rate <= 0) return
    const due = (this.#bytesRead / rate) * 1000 - (performance.now() - this.#started)
    if (due > 0) await sleep(due, signal)
  }
}

/** The pool's answer to a chunked import it cannot handle (xapi: 404 and "Cannot handle chunked"). */
function refusedChunked(error: unknown): boolean {
  if (isXapiError(error)) return error.params.some((p) => /cannot handle chunked/i.test(p))
  return (
    error instanceof XapiTransferError &&
    error.code === 'XAPI_HTTP_ERROR' &&
    (error.details as { status?: number } | undefined)?.status === 404
  )
}
