// A VDI as the target of a disk source: the chunks it delivers are written in place through XAPI's VHD
// import (/import_raw_vdi?format=vhd onto the existing VDI). A VHD names its blocks before their bytes,
// so the sink asks the source for ordered delivery and for each list before the bytes (`plan`): one
// upload per list, streamed while the source reads. Only the blocks delivered cross: over a clone of the
// previous state this writes just the changed blocks (replication), and of those only the parts that
// changed when the source knows them (CBT's 64 KiB runs: the block's sector bitmap sets only theirs);
// onto a new VDI, every allocated block. Chunks outside any list (a source that names none) are copied
// and sent in batches. Uploads to one VDI run one after the other; the first failure fails every later
// call.
import { sleep, throwIfAborted } from '../shared/index.js'
import { DEFAULT_BLOCK_SIZE } from '../vhd/index.js'
import { importVdi, type Ref, type XapiClient } from '../xapi/index.js'
import type { ChunkTarget } from './chunk-target.js'
import { chunkCountOf, chunkLengthOf } from './disk-source.js'
import { VhdSegment, type BlockPart } from './vhd-segment.js'

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
}

/** Chunks outside any list, copied, are sent once this many are in hand (32 MiB of 2 MiB chunks). */
const LOOSE_BATCH = 16

export interface ImportFigures {
  /** Bytes of chunk data sent (zeros of holes included when written). */
  readonly bytesWritten: number
  /** Bytes of the HTTP bodies (the VHDs: metadata, bitmaps, data). */
  readonly bytesSent: number
  /** Blocks sent with data, and uploads made. */
  readonly blocks: number
  readonly uploads: number
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
  readonly #uploads: VhdSegment[] = []
  #segment: VhdSegment | undefined
  #chain: Promise<void> = Promise.resolve()
  #failure: unknown
  #bytesRead = 0
  #expected: number | undefined
  #bytesSent = 0
  #blocks = 0

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
    return { bytesWritten, bytesSent: this.#bytesSent, blocks: this.#blocks, uploads: this.#uploads.length }
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

  /** The source's next list: the open upload (a fallback's predecessor) is closed, a new one starts. */
  plan(indexes: readonly number[]): void {
    this.#closeSegment()
    const list = indexes.filter((i) => !this.#loose.has(i) && i >= 0 && i < this.chunkCount)
    if (list.length > 0) this.#segment = this.#start(list)
  }

  async put(index: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    this.#check(signal)
    if (this.#segment?.wants(index) === true) await this.#segment.offer(index, data, true)
    else this.#keepLoose(index, Buffer.from(data))
    this.#bytesRead += data.length
    this.#o.onProgress?.(this.#bytesRead, this.#expected)
    await this.#throttle(signal)
  }

  async putParts(index: number, parts: readonly BlockPart[], signal?: AbortSignal): Promise<void> {
    this.#check(signal)
    if (this.#segment?.wants(index) === true) await this.#segment.offerParts(index, parts, true)
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
    const planned = this.#segment?.wants(index) === true
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

  #start(list: readonly number[]): VhdSegment {
    const segment = new VhdSegment(list, this.size, this.chunkSize)
    this.#uploads.push(segment)
    this.#chain = this.#chain.then(() => this.#upload(segment))
    return segment
  }

  async #upload(segment: VhdSegment): Promise<void> {
    if (this.#failure !== undefined) return segment.fail(this.#failure)
    const { xapi, vdi, signal } = this.#o
    const body = { open: () => segment.body(signal), length: segment.plan.length, afterResponse: true }
    try {
      await importVdi(xapi, vdi, body, { format: 'vhd', signal })
      this.#bytesSent += segment.plan.length
      this.#blocks += segment.count
    } catch (error) {
      this.#failure ??= error
      segment.fail(this.#failure)
    }
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
    const segment = this.#start(entries.map(([i]) => i))
    for (const [index, bytes] of entries) {
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
