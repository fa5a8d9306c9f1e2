// A file (raw image, sparse or not) as a block source. Block status: unallocated ranges (from the
// allocation map, refreshed whenever the file's mtime changes) are holes and cost nothing; allocated
// ranges are read and all-zero granules reported as STATE_ZERO, so that clients skip written zeros too.
// Without an allocation map (no filefrag, no FIEMAP), every range is read. The served file must not be
// changed by others while it is served (as with any NBD server); changes are noticed within a second.
import { open, type FileHandle } from 'node:fs/promises'
import { throwIfAborted } from '../../shared/abort.js'
import { readFully, writeFully } from '../../shared/file-io.js'
import type { BlockSource } from './block-source.js'
import { STATE_HOLE, STATE_ZERO } from '../codec/constants.js'
import { readAllocationMap, type AllocatedRun } from './allocation-map.js'
import { mergeExtents, type Extent } from '../codec/extent.js'
import { RecentReads } from './recent-reads.js'
import { BufferSlab } from './buffer-slab.js'

const GRANULE = 64 * 1024
/** Largest range one block status request scans: big, since clients wait for the answer before reading. */
const SCAN_PIECE = 32 * 1024 * 1024
const ZEROES = Buffer.alloc(GRANULE)
/** Scans up to this size keep their data for the read that follows (see RecentReads). */
const KEEP_SCAN = 4 * 1024 * 1024
/** How long an allocation map is trusted before the file's mtime is checked again (own writes reset it). */
const MAP_CHECK_MS = 1000
/**
 * Sequential requests are served from aligned units of this size, each read once: nbdcopy's 256 KiB
 * requests then cost one file read (and one thread-pool round trip) per 2 MiB instead of eight.
 */
const READ_UNIT = 2 * 1024 * 1024
/**
 * What recent reads keep: the unit being served, the two read ahead, a kept scan. More only costs: V8
 * and the allocator hand back what a large cache churns through, and fresh memory costs page faults.
 */
const RECENT_BYTES = 16 * 1024 * 1024
/** How far past a hole reading ahead looks for the next data. */
const READ_AHEAD_LIMIT = 64 * 1024 * 1024

export class FileBlockSource implements BlockSource {
  readonly write?: (offset: number, data: Uint8Array, signal?: AbortSignal) => Promise<void>
  /** Scan buffers reused across block status requests (fresh 32 MiB allocations cost page faults). */
  readonly #scanBuffers: Buffer[] = []
  #map: { runs: AllocatedRun[]; mtimeNs: bigint; size: bigint; checkedAt: number } | undefined
  #mapUnavailable = false
  readonly #slab = new BufferSlab()
  readonly #recent = new RecentReads(RECENT_BYTES, (data) => this.#slab.release(data))
  /** Units being read, by start offset: requests that fall in one wait for it instead of reading too. */
  readonly #unitReads = new Map<number, Promise<void>>()
  /** Where recent requests ended: a request that starts at one of them is part of a sequential stream. */
  readonly #ends = new RecentOffsets(64)
  /** Bumped by every change, so that a unit read that raced a write is not cached. */
  #generation = 0

  private constructor(
    readonly path: string,
    readonly size: number,
    readonly handle: FileHandle,
    writable: boolean,
  ) {
    if (writable) this.write = (offset, data) => this.#write(offset, data)
  }

  static async open(path: string, options: { writable?: boolean } = {}): Promise<FileBlockSource> {
    const handle = await open(path, options.writable === true ? 'r+' : 'r')
    try {
      const { size } = await handle.stat()
      return new FileBlockSource(path, size, handle, options.writable === true)
    } catch (error) {
      await handle.close()
      throw error
    }
  }

  /** The bytes at [offset, offset + length): a view the caller hands back with `release`. */
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    const now = this.readNow(offset, length)
    if (now !== undefined) return now
    const unit = this.#noteRequest(offset, length)
    if (unit !== undefined) {
      const cached = this.#cached(offset, length)
      if (cached !== undefined) return cached
      await this.#readUnit(unit)
    }
    return this.#cached(offset, length) ?? this.#readInto(this.#slab.take(length), offset, signal)
  }

  /** `read`'s answer when recent reads hold the range (as they do for sequential requests), else undefined. */
  readNow(offset: number, length: number): Buffer | undefined {
    if (this.#recent.find(offset, length) === undefined) return undefined
    this.#noteRequest(offset, length)
    return this.#cached(offset, length)
  }

  /**
   * Remembers where a request ended; for a request within one unit that continues a sequential stream
   * (or falls in a unit being read), returns that unit, after starting to read the next units ahead:
   * a client that asks block status before each read (nbdcopy) then finds its answer in memory instead
   * of waiting for the disk.
   */
  #noteRequest(offset: number, length: number): number | undefined {
    const sequential = this.#ends.has(offset)
    this.#ends.add(offset + length)
    const unit = offset - (offset % READ_UNIT)
    if (offset + length > unit + READ_UNIT || !(sequential || this.#unitReads.has(unit))) return undefined
    if (sequential) this.#readAhead(unit, 2)
    return unit
  }

  #cached(offset: number, length: number): Buffer | undefined {
    const recent = this.#recent.find(offset, length)
    if (recent !== undefined) this.#slab.retain(recent) // one reference for the cache, one for the caller
    return recent
  }

  /**
   * Reads the next `count` units after `unit` that hold data. Holes are skipped: a client that asks block
   * status reads none of them, and a sparse image has many, so the read after a hole is ready too.
   */
  #readAhead(unit: number, count: number): void {
    for (let n = 0, from = unit + READ_UNIT; n < count && from < this.size; n++) {
      const next = this.#nextDataUnit(from)
      if (next === undefined || next - unit > READ_AHEAD_LIMIT) return
      if (
        !this.#unitReads.has(next) &&
        this.#recent.find(next, Math.min(READ_UNIT, this.size - next)) === undefined
      ) {
        void this.#readUnit(next)
      }
      from = next + READ_UNIT
    }
  }

  /** The first unit from `from` (aligned) that the allocation map shows written data in; `from` without a map. */
  #nextDataUnit(from: number): number | undefined {
    const runs = this.#map?.runs
    if (runs === undefined) return from
    for (let i = firstRunEndingAfter(runs, from); i < runs.length; i++) {
      const run = runs[i]!
      if (run.unwritten) continue
      const start = Math.max(from, run.start)
      return start - (start % READ_UNIT)
    }
    return undefined
  }

  /** Reads one unit into the cache, once however many requests wait for it (no signal: it is shared). */
  #readUnit(unit: number): Promise<void> {
    let pending = this.#unitReads.get(unit)
    if (pending === undefined) {
      const generation = this.#generation
      const length = Math.min(READ_UNIT, this.size - unit)
      pending = this.#readInto(this.#slab.take(length), unit).then(
        (data) => {
          if (generation === this.#generation) this.#recent.add(unit, data)
          else this.#slab.release(data)
        },
        () => undefined, // each waiter then reads its own range and meets the error itself
      )
      this.#unitReads.set(unit, pending)
      void pending.finally(() => this.#unitReads.delete(unit))
    }
    return pending
  }

  async #readInto(buffer: Buffer, offset: number, signal?: AbortSignal): Promise<Buffer> {
    throwIfAborted(signal)
    const done = await readFully(this.handle, buffer, 0, buffer.length, offset)
    buffer.fill(0, done) // short only if the file shrank under us: read as zeros, like a sparse tail
    return buffer
  }

  async blockStatus(offset: number, length: number, signal?: AbortSignal): Promise<Extent[]> {
    const now = this.blockStatusNow(offset, length)
    if (now !== undefined) return now
    const end = Math.min(offset + length, this.size)
    this.#ends.add(end) // the read or status request after it continues a sequential stream
    const runs = await this.#allocation()
    if (runs === undefined) return this.#scan(offset, Math.min(end, offset + SCAN_PIECE), signal)
    const out: Extent[] = []
    for (const piece of pieces(runs, offset, end)) {
      if (piece.flags !== DATA) out.push(piece)
      else out.push(...(await this.#scan(piece.offset, piece.offset + piece.length, signal)))
    }
    return mergeExtents(out)
  }

  /**
   * `blockStatus`'s answer when the allocation map is fresh and recent reads hold every allocated piece
   * of the range (as they do when a client asks block status just ahead of its reads), else undefined.
   */
  blockStatusNow(offset: number, length: number): Extent[] | undefined {
    const map = this.#map
    if (map === undefined || performance.now() - map.checkedAt >= MAP_CHECK_MS) return undefined
    const end = Math.min(offset + length, this.size)
    const found = pieces(map.runs, offset, end)
    const cached = (p: Extent): boolean =>
      p.flags !== DATA || (p.length <= READ_UNIT && this.#recent.find(p.offset, p.length) !== undefined)
    if (!found.every(cached)) return undefined
    this.#ends.add(end)
    const out: Extent[] = []
    for (const piece of found) {
      if (piece.flags !== DATA) out.push(piece)
      else {
        const data = this.readNow(piece.offset, piece.length)!
        out.push(...scanZeroes(data, piece.offset))
        this.#slab.release(data) // the cache keeps its own reference
      }
    }
    return mergeExtents(out)
  }

  async #scan(offset: number, end: number, signal?: AbortSignal): Promise<Extent[]> {
    if (end - offset <= READ_UNIT) {
      const data = await this.read(offset, end - offset, signal)
      try {
        return scanZeroes(data, offset)
      } finally {
        // Kept for the read that usually follows (the cache takes our reference), unless a unit has it.
        if (this.#recent.find(offset, data.length) === undefined) this.#recent.add(offset, data)
        else this.#slab.release(data)
      }
    }
    if (end - offset <= KEEP_SCAN) {
      const data = await this.#readInto(this.#slab.take(end - offset), offset, signal)
      this.#recent.add(offset, data)
      return scanZeroes(data, offset)
    }
    const scan = this.#scanBuffers.pop() ?? Buffer.allocUnsafe(SCAN_PIECE)
    try {
      return scanZeroes(await this.#readInto(scan.subarray(0, end - offset), offset, signal), offset)
    } finally {
      this.#scanBuffers.push(scan)
    }
  }

  /** The allocation map, taken again when the file changed since (its mtime or size moved). */
  async #allocation(): Promise<AllocatedRun[] | undefined> {
    if (this.#mapUnavailable) return undefined
    const map = this.#map
    if (map !== undefined && performance.now() - map.checkedAt < MAP_CHECK_MS) return map.runs
    const { mtimeNs, size } = await this.handle.stat({ bigint: true })
    if (map !== undefined && map.mtimeNs === mtimeNs && map.size === size) {
      map.checkedAt = performance.now()
      return map.runs
    }
    this.#generation++
    this.#recent.clear() // the file changed under us: what was read before is stale too
    const runs = await readAllocationMap(this.path)
    if (runs === undefined) this.#mapUnavailable = true
    else this.#map = { runs, mtimeNs, size, checkedAt: performance.now() }
    return runs
  }

  release(data: Uint8Array): void {
    this.#slab.release(data)
  }

  async flush(): Promise<void> {
    await this.handle.datasync()
  }

  async close(): Promise<void> {
    await this.handle.close()
  }

  async #write(offset: number, data: Uint8Array): Promise<void> {
    this.#map = undefined
    this.#generation++
    this.#recent.clear()
    try {
      await writeFully(this.handle, data, offset)
    } finally {
      // Again once written: whatever was read during the write (a unit read ahead) may hold old bytes.
      this.#generation++
      this.#recent.clear()
    }
  }
}

/** Not a wire flag: a piece of allocated data that must be read to tell zero granules from data. */
const DATA = -1

/**
 * [offset, end) cut along the allocation map: holes, unwritten (zero) extents, and allocated pieces
 * (flags DATA) of at most SCAN_PIECE bytes in all, the most one block status answer scans.
 */
function pieces(runs: readonly AllocatedRun[], offset: number, end: number): Extent[] {
  const out: Extent[] = []
  let scanned = 0
  for (let at = offset; at < end && scanned < SCAN_PIECE;) {
    const run = runs[firstRunEndingAfter(runs, at)]
    if (run === undefined || run.start > at) {
      const stop = Math.min(end, run?.start ?? end)
      out.push({ offset: at, length: stop - at, flags: STATE_HOLE | STATE_ZERO })
      at = stop
      continue
    }
    const stop = Math.min(end, run.end, at + SCAN_PIECE - scanned)
    out.push({ offset: at, length: stop - at, flags: run.unwritten ? STATE_ZERO : DATA })
    scanned += stop - at
    at = stop
  }
  return out
}

/** Extents of `data` (read at `offset`): all-zero granules, aligned on the file, are STATE_ZERO. */
function scanZeroes(data: Buffer, offset: number): Extent[] {
  const extents: Extent[] = []
  for (let at = 0; at < data.length;) {
    // Granules aligned on the file, so that neighbouring requests agree.
    const next = Math.min(data.length, GRANULE - ((offset + at) % GRANULE) + at)
    const zero = data.subarray(at, next).equals(ZEROES.subarray(0, next - at))
    extents.push({ offset: offset + at, length: next - at, flags: zero ? STATE_ZERO : 0 })
    at = next
  }
  return mergeExtents(extents)
}

/** Index of the first run that ends after `at` (runs are sorted and disjoint). */
function firstRunEndingAfter(runs: readonly AllocatedRun[], at: number): number {
  let lo = 0
  let hi = runs.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (runs[mid]!.end <= at) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** A small ring of offsets, for "did a recent request end here?". */
class RecentOffsets {
  readonly #ring: number[] = []
  #next = 0

  constructor(readonly capacity: number) {}

  add(offset: number): void {
    this.#ring[this.#next] = offset
    this.#next = (this.#next + 1) % this.capacity
  }

  has(offset: number): boolean {
    return this.#ring.includes(offset)
  }
}
