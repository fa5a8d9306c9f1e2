// One upload of a VdiImportSink: a planned list of blocks, streamed to /import_raw_vdi while they arrive
// from a source, in one of XAPI's two in-place formats (xapi.md §4.3); the body is chosen when the upload
// starts, so that a pool refusing the first can be sent the second. Both write only what they name and
// leave the rest of the VDI as it is, so a delta applies in place over a clone:
// - chunked raw: a frame per planned range (a block whole, or the 64 KiB runs CBT names when the plan
//   has them): only the changed bytes cross.
// - VHD: a dynamic VHD whose block table names the blocks; XAPI writes the sectors a block's bitmap sets.
//   A block given in parts has only their sectors set and zeros in the rest of its data area (2 MiB
//   cross whatever changed); the VHD read on its own holds the parts and zeros, which qemu and libvhdi
//   read alike.
// Blocks go out in the order of the list (both bodies are read forward only); one that arrives early is
// copied and waits for its turn, and a lent one is given back once the socket took it. A segment closed
// before all its blocks came sends the rest empty: a VHD block with an empty bitmap writes nothing, a
// frame (its length fixed by Content-Length) zeros, which the sink has a later upload overwrite.
import { AbortedError, throwIfAborted } from '../shared/index.js'
import { chunkedBodyLength, encodeFrameEnd, encodeFrameHeader, type FrameRange } from '../xapi/index.js'
import {
  bitmapOfRuns,
  bitmapSize,
  encodeFooter,
  fullBitmap,
  planVhd,
  SECTOR_SIZE,
  type VhdPlan,
} from '../vhd/index.js'
import { DiskError } from './errors.js'

/** A changed byte range of a block (offset from the block's start). */
export interface BlockPart {
  readonly offset: number
  readonly bytes: Uint8Array
}

type Ready =
  | { readonly bytes: Uint8Array; readonly parts?: undefined; readonly taken?: () => void }
  | { readonly parts: readonly BlockPart[]; readonly bytes?: undefined; readonly taken?: () => void }
  | 'empty'

/** Blocks copied ahead of their turn at most; more wait for room (the source is held back). */
const AHEAD_LIMIT = 64

export class ImportSegment {
  readonly plan: VhdPlan
  /** Blocks sent as zero frames because the segment closed before they came (a later upload owes them). */
  readonly missing: number[] = []
  readonly #frames: ReadonlyMap<number, readonly FrameRange[]> | undefined
  /** Bytes of the chunked body. */
  readonly #chunkedLength: number
  readonly #position = new Map<number, number>()
  readonly #ready = new Map<number, Ready>()
  readonly #waiting = new Map<number, { resolve: () => void; reject: (e: unknown) => void }>()
  /** Offers of blocks ahead of their turn waiting for room. */
  #roomWaiters: (() => void)[] = []
  readonly #size: number
  #next = 0
  #closed = false
  #failure: unknown
  #wake: (() => void) | undefined
  #opened = false
  /** The data area of a block in parts, zeros but while it is lent to the upload. */
  #area: Uint8Array | undefined
  /** Bytes of blocks with data sent so far (bitmaps, empty blocks and the VHD's metadata left out). */
  dataBytes = 0

  /**
   * `frames`: of some blocks, the only ranges that changed (relative to the block's start, ascending):
   * the chunked body carries just those; the other blocks go whole.
   */
  constructor(
    indexes: readonly number[],
    size: number,
    blockSize: number,
    frames?: ReadonlyMap<number, readonly FrameRange[]>,
  ) {
    this.plan = planVhd({ size, blockIndexes: indexes, blockSize, creatorApplication: 'strt' })
    this.#size = size
    this.#frames = frames
    indexes.forEach((index, k) => this.#position.set(index, k))
    this.#chunkedLength = chunkedBodyLength(indexes.flatMap((i) => this.#framesOf(i)))
  }

  /** Bytes of the body in `format`. */
  length(format: 'chunked' | 'vhd'): number {
    return format === 'chunked' ? this.#chunkedLength : this.plan.length
  }

  /** The body has been opened (bytes may have been sent): it cannot be sent again in another format. */
  get opened(): boolean {
    return this.#opened
  }

  get count(): number {
    return this.plan.blockIndexes.length
  }

  /** Whether block `index` is one this segment still waits for. */
  wants(index: number): boolean {
    const k = this.#position.get(index)
    return !this.#closed && k !== undefined && k >= this.#next && !this.#ready.has(k)
  }

  /** Every block is in hand (or the segment was closed): the upload needs nothing more. */
  get complete(): boolean {
    return this.#closed || this.#next + this.#ready.size >= this.count
  }

  /**
   * Hands block `index` over. Lent bytes in their turn resolve once the socket took them; bytes ahead of
   * their turn are copied (resolve now). 'empty' sends the block with an empty bitmap.
   */
  offer(index: number, bytes: Uint8Array | 'empty', lent: boolean): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    const k = this.#position.get(index)!
    if (bytes === 'empty' || !lent) return this.#put(k, bytes === 'empty' ? 'empty' : { bytes })
    return this.#offerLent(index, k, { bytes })
  }

  /**
   * Hands over only the changed parts of block `index` (ascending, sector multiples but at the disk's
   * end); the rest of the block is left as the VDI has it. Lent as in offer().
   */
  offerParts(index: number, parts: readonly BlockPart[], lent: boolean): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    const k = this.#position.get(index)!
    const start = index * this.plan.header.blockSize
    let end = 0
    for (const p of parts) {
      const stop = p.offset + p.bytes.length
      const aligned =
        p.offset % SECTOR_SIZE === 0 && (stop % SECTOR_SIZE === 0 || start + stop === this.#size)
      if (!aligned || p.offset < end || start + stop > this.#size || stop > this.plan.header.blockSize) {
        return Promise.reject(
          new DiskError(
            'DISK_SOURCE_INVALID',
            `block ${index}: part ${p.offset}+${p.bytes.length} is not in sector order inside the block`,
          ),
        )
      }
      end = stop
    }
    if (!lent) return this.#put(k, { parts })
    return this.#offerLent(index, k, { parts })
  }

  #offerLent(index: number, k: number, ready: Exclude<Ready, 'empty'>): Promise<void> {
    // Ahead of its turn: copied once there is room, so that a source faster than the upload is held back
    // (its stores stay pending) rather than buffered without bound.
    if (k !== this.#next) return this.#putWhenRoom(index, k, ready)
    return new Promise<void>((resolve, reject) => {
      this.#waiting.set(k, { resolve, reject })
      void this.#put(k, { ...ready, taken: resolve })
    })
  }

  /** No more blocks will be offered: those missing go out empty. */
  close(): void {
    this.#closed = true
    this.#wake?.()
  }

  /** The upload failed: lent blocks waiting for the socket are released with the error. */
  fail(error: unknown): void {
    this.#failure ??= error
    for (const w of this.#waiting.values()) w.reject(this.#failure)
    this.#waiting.clear()
    this.#ready.clear()
    this.#freeRoom()
    this.#wake?.()
  }

  /** The body in `format`; one body of a segment is opened, once (after the host's 200). */
  body(format: 'chunked' | 'vhd', signal: AbortSignal): AsyncGenerator<Uint8Array> {
    if (this.#opened) throw new DiskError('DISK_SOURCE_INVALID', 'an import segment was opened twice')
    this.#opened = true
    return format === 'chunked' ? this.#chunkedBody(signal) : this.#vhdBody(signal)
  }

  /** The frames of the planned ranges, in order, then the end frame. */
  async *#chunkedBody(signal: AbortSignal): AsyncGenerator<Uint8Array> {
    const { blockSize } = this.plan.header
    for (let k = 0; k < this.count; k++) {
      const block = await this.#take(k, signal)
      const index = this.plan.blockIndexes[k]!
      const start = index * blockSize
      const frames = this.#framesOf(index)
      if (block === 'missing') this.missing.push(index)
      if (block === 'empty' || block === 'missing') {
        for (const f of frames) yield* [encodeFrameHeader(start + f.offset, f.length), zeros(f.length)]
        continue
      }
      const pieces = block.parts ?? [{ offset: 0, bytes: block.bytes }]
      if (
        block.parts !== undefined &&
        sum(block.parts, (p) => p.bytes.length) !== sum(frames, (f) => f.length)
      ) {
        throw new DiskError(
          'DISK_SOURCE_INVALID',
          `block ${index}: the parts given are not the planned ranges`,
        )
      }
      for (const f of frames) {
        yield encodeFrameHeader(start + f.offset, f.length)
        yield sliceOf(pieces, f, index)
        this.dataBytes += f.length
      }
      this.#waiting.delete(k)
      block.taken?.()
    }
    yield encodeFrameEnd()
  }

  /** The ranges of block `index` the chunked body carries. */
  #framesOf(index: number): readonly FrameRange[] {
    const start = index * this.plan.header.blockSize
    return (
      this.#frames?.get(index) ?? [
        { offset: 0, length: Math.min(this.plan.header.blockSize, this.#size - start) },
      ]
    )
  }

  async *#vhdBody(signal: AbortSignal): AsyncGenerator<Uint8Array> {
    const { blockSize } = this.plan.header
    const empty = new Uint8Array(bitmapSize(blockSize))
    yield this.plan.head
    for (let k = 0; k < this.count; k++) {
      const block = await this.#take(k, signal)
      const start = this.plan.blockIndexes[k]! * blockSize
      if (block === 'empty' || block === 'missing') {
        yield empty
        yield zeros(blockSize)
        continue
      }
      if (block.parts !== undefined) yield* this.#parts(block.parts, blockSize)
      else {
        yield sectorBitmap(start, block.bytes.length, this.#size, blockSize)
        yield block.bytes
        this.dataBytes += block.bytes.length
        if (block.bytes.length < blockSize) yield zeros(blockSize - block.bytes.length)
      }
      this.#waiting.delete(k)
      block.taken?.()
    }
    yield encodeFooter(this.plan.footer)
  }

  /**
   * A block in parts: the bitmap of their sectors, then its data area, the parts laid into one zeroed
   * buffer of the segment's (two writes to the socket per block, as for a whole one, rather than one per
   * part and gap). The upload lends what it yields until it asks for more: the buffer is cleared then.
   */
  *#parts(parts: readonly BlockPart[], blockSize: number): Generator<Uint8Array> {
    const runs = parts.map(
      (p) => [p.offset / SECTOR_SIZE, Math.ceil((p.offset + p.bytes.length) / SECTOR_SIZE)] as const,
    )
    yield bitmapOfRuns(bitmapSize(blockSize), runs)
    const area = (this.#area ??= new Uint8Array(blockSize))
    for (const p of parts) area.set(p.bytes, p.offset)
    try {
      yield area
    } finally {
      for (const p of parts) area.fill(0, p.offset, p.offset + p.bytes.length)
    }
    this.dataBytes += parts.reduce((n, p) => n + p.bytes.length, 0)
  }

  /**
   * Copies a block ahead of its turn once fewer than AHEAD_LIMIT wait; rejects if the upload failed, or
   * if the upload itself waits for a block that has not come (a source out of order: waiting would hang).
   */
  async #putWhenRoom(index: number, k: number, ready: Exclude<Ready, 'empty'>): Promise<void> {
    // The check and the put happen in the same turn: offers woken together do not all pass.
    while (this.#ready.size >= AHEAD_LIMIT) {
      if (this.#failure !== undefined) throw this.#failure
      if (this.#wake !== undefined) {
        const error = new DiskError(
          'DISK_SOURCE_INVALID',
          `block ${index} came more than ${AHEAD_LIMIT} blocks ahead of block ${this.plan.blockIndexes[this.#next]}`,
        )
        this.fail(error)
        throw error
      }
      await new Promise<void>((resolve) => this.#roomWaiters.push(resolve))
    }
    if (this.#failure !== undefined) throw this.#failure
    this.#ready.set(
      k,
      ready.parts === undefined
        ? { bytes: Buffer.from(ready.bytes) }
        : { parts: ready.parts.map((p) => ({ offset: p.offset, bytes: Buffer.from(p.bytes) })) },
    )
    this.#wake?.()
  }

  #freeRoom(): void {
    const waiters = this.#roomWaiters.splice(0)
    for (const wake of waiters) wake()
  }

  #put(k: number, ready: Ready): Promise<void> {
    this.#ready.set(k, ready)
    this.#wake?.()
    return Promise.resolve()
  }

  /** Block k, or 'missing' when the segment closed before it came. */
  async #take(k: number, signal: AbortSignal): Promise<Ready | 'missing'> {
    for (;;) {
      throwIfAborted(signal)
      if (this.#failure !== undefined) throw this.#failure
      const ready = this.#ready.get(k)
      if (ready !== undefined || this.#closed) {
        this.#ready.delete(k)
        this.#freeRoom()
        this.#next = k + 1
        return ready ?? 'missing'
      }
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve()
        signal.addEventListener('abort', onAbort, { once: true })
        this.#wake = () => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        }
        // Offers held back for room look again: the upload now waits for a block that has not come.
        this.#freeRoom()
      })
      this.#wake = undefined
      if (signal.aborted) throw new AbortedError(signal.reason)
    }
  }
}

/** The sectors of a block that lie inside the disk (the last block of a disk may be short). */
function sectorBitmap(start: number, length: number, size: number, blockSize: number): Uint8Array {
  const sectors = Math.ceil(Math.min(length, size - start) / SECTOR_SIZE)
  return fullBitmap(bitmapSize(blockSize), sectors)
}

/**
 * The bytes of a planned frame out of what was given: the whole block, or parts of which one holds the
 * frame (a source delivers the runs it planned); anything else is a source that broke its plan.
 */
function sliceOf(pieces: readonly BlockPart[], f: FrameRange, index: number): Uint8Array {
  const p = pieces.find((q) => q.offset <= f.offset && f.offset + f.length <= q.offset + q.bytes.length)
  if (p === undefined) {
    throw new DiskError(
      'DISK_SOURCE_INVALID',
      `block ${index}: the parts given do not hold the planned range ${f.offset}+${f.length}`,
    )
  }
  return p.bytes.subarray(f.offset - p.offset, f.offset - p.offset + f.length)
}

function sum<T>(list: readonly T[], of: (item: T) => number): number {
  return list.reduce((n, item) => n + of(item), 0)
}

let zeroBuffer = new Uint8Array(0)
function zeros(length: number): Uint8Array {
  if (zeroBuffer.length < length) zeroBuffer = new Uint8Array(length)
  return zeroBuffer.subarray(0, length)
}
