// A restore point's disk as an NBD block source, read straight from the repository: chunks are fetched
// and decoded on demand into a bounded cache, sequential streams (one per nbdcopy worker, say) get the
// next chunks read ahead, and block status comes from the disk index alone (a zero chunk is a hole).
// Reads inside one chunk are lent without a copy: the server hands the view back through `release`.
import { setMaxListeners } from 'node:events'
import { STATE_HOLE, STATE_ZERO, mergeExtents, type BlockSource, type Extent } from '../nbd/index.js'
import type { DiskReader } from '../repository/index.js'
import { raceAbort, throwIfAborted } from '../shared/index.js'

export interface PointSourceOptions {
  /** Bytes of decoded chunks kept, read-ahead included. Default 64 MiB (at least 8 chunks). */
  readonly cacheBytes?: number
  /** Chunks read ahead of each sequential stream. Default 4. */
  readonly readAhead?: number
}

/** A chunk in the cache: one reference for the cache, one per waiter and per view lent out. */
interface Entry {
  readonly index: number
  readonly ready: Promise<Uint8Array>
  bytes: Uint8Array | undefined
  release: (() => void) | undefined
  refs: number
}

/** How far past zero chunks read-ahead looks for the next stored one. */
const READ_AHEAD_SPAN = 64
/** The most chunks one block status answer walks (clients ask again from where it stopped). */
const STATUS_CHUNKS = 64 * 1024

export class PointBlockSource implements BlockSource {
  readonly #reader: DiskReader
  readonly #capacity: number
  readonly #readAhead: number
  readonly #cache = new Map<number, Entry>()
  readonly #lent = new WeakMap<Uint8Array, Entry>()
  readonly #ends = new RecentOffsets(256)
  readonly #zeros: Buffer
  readonly #closed = new AbortController()
  /** Entries being fetched: read-ahead stops while half the cache is still on its way. */
  #pending = 0

  constructor(reader: DiskReader, options: PointSourceOptions = {}) {
    this.#reader = reader
    this.#capacity = Math.max(8, Math.floor((options.cacheBytes ?? 64 * 1024 * 1024) / reader.chunkSize))
    this.#readAhead = options.readAhead ?? 4
    this.#zeros = Buffer.alloc(reader.chunkSize)
    // One listener per fetch in flight, and the cache bounds those: not a leak past Node's default 10.
    setMaxListeners(this.#capacity + 16, this.#closed.signal)
  }

  get size(): number {
    return this.#reader.size
  }

  /** Chunks held now (decoded or on their way): never more than the cache's capacity plus lent ones. */
  get cachedChunks(): number {
    return this.#cache.size
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    throwIfAborted(signal)
    const now = this.readNow(offset, length)
    if (now !== undefined) return now
    const chunkSize = this.#reader.chunkSize
    const first = Math.floor(offset / chunkSize)
    const last = Math.floor((offset + length - 1) / chunkSize)
    this.#noteRequest(offset, length, last)
    if (first === last) {
      const entry = this.#take(first)
      try {
        await raceAbort(entry.ready, signal)
      } catch (error) {
        this.#unref(entry)
        throw error
      }
      return this.#lend(entry, offset - first * chunkSize, length)
    }
    const out = Buffer.allocUnsafe(length)
    await Promise.all(
      Array.from({ length: last - first + 1 }, (_, i) => this.#copyInto(out, offset, first + i, signal)),
    )
    return out
  }

  /** `read`'s answer when it needs no I/O (a zero chunk, a chunk in the cache); else undefined. */
  readNow(offset: number, length: number): Uint8Array | undefined {
    const chunkSize = this.#reader.chunkSize
    const index = Math.floor(offset / chunkSize)
    if (Math.floor((offset + length - 1) / chunkSize) !== index) return undefined
    const start = offset - index * chunkSize
    if (this.#reader.idOf(index) === undefined) {
      this.#noteRequest(offset, length, index)
      return this.#zeros.subarray(start, start + length)
    }
    const entry = this.#cache.get(index)
    if (entry?.bytes === undefined) return undefined
    this.#noteRequest(offset, length, index)
    this.#touch(entry)
    entry.refs++
    return this.#lend(entry, start, length)
  }

  async blockStatus(offset: number, length: number): Promise<Extent[]> {
    return this.blockStatusNow(offset, length)
  }

  /** From the index: zero chunks are holes that read as zeros, every stored chunk is data. */
  blockStatusNow(offset: number, length: number): Extent[] {
    const chunkSize = this.#reader.chunkSize
    const end = Math.min(offset + length, this.size)
    const extents: Extent[] = []
    let index = Math.floor(offset / chunkSize)
    for (let at = offset; at < end && extents.length < STATUS_CHUNKS; index++) {
      const next = Math.min(end, (index + 1) * chunkSize)
      const zero = this.#reader.idOf(index) === undefined
      extents.push({ offset: at, length: next - at, flags: zero ? STATE_HOLE | STATE_ZERO : 0 })
      at = next
    }
    return mergeExtents(extents)
  }

  release(data: Uint8Array): void {
    const entry = this.#lent.get(data)
    if (entry === undefined) return
    this.#lent.delete(data)
    this.#unref(entry)
  }

  /** Stops fetches in flight and lets go of the cache (views still lent stay valid until released). */
  close(): void {
    this.#closed.abort(new Error('restore point source closed'))
    for (const entry of this.#cache.values()) this.#unref(entry)
    this.#cache.clear()
  }

  async #copyInto(out: Buffer, offset: number, index: number, signal?: AbortSignal): Promise<void> {
    const chunkStart = index * this.#reader.chunkSize
    const from = Math.max(offset, chunkStart)
    const to = Math.min(offset + out.length, chunkStart + this.#reader.chunkLength(index))
    if (this.#reader.idOf(index) === undefined) {
      out.fill(0, from - offset, to - offset)
      return
    }
    const entry = this.#take(index)
    try {
      const bytes = await raceAbort(entry.ready, signal)
      out.set(bytes.subarray(from - chunkStart, to - chunkStart), from - offset)
    } finally {
      this.#unref(entry)
    }
  }

  /** The cache entry of a stored chunk, fetched if needed, with a reference for the caller. */
  #take(index: number): Entry {
    const entry = this.#cache.get(index) ?? this.#fetch(index)
    this.#touch(entry)
    entry.refs++
    return entry
  }

  #fetch(index: number): Entry {
    this.#pending++
    const lease = this.#reader.leaseChunk(index, this.#closed.signal)
    const entry: Entry = {
      index,
      ready: lease.then(
        (l) => ((entry.bytes = l.bytes), (entry.release = l.release), l.bytes),
        (error: unknown) => {
          if (this.#cache.get(index) === entry) this.#cache.delete(index) // the next read tries again
          throw error
        },
      ),
      bytes: undefined,
      release: undefined,
      refs: 1,
    }
    entry.ready.catch(() => {}).finally(() => this.#pending--)
    this.#cache.set(index, entry)
    this.#evict()
    return entry
  }

  #touch(entry: Entry): void {
    if (this.#cache.get(entry.index) !== entry) return
    this.#cache.delete(entry.index)
    this.#cache.set(entry.index, entry)
  }

  #evict(): void {
    for (const [index, entry] of this.#cache) {
      if (this.#cache.size <= this.#capacity) return
      this.#cache.delete(index)
      this.#unref(entry)
    }
  }

  #unref(entry: Entry): void {
    if (--entry.refs > 0) return
    if (entry.release !== undefined) entry.release()
    // Still on its way: released once it arrives, as nobody holds it any more.
    else entry.ready.then(() => entry.refs === 0 && entry.release?.()).catch(() => {})
  }

  #lend(entry: Entry, start: number, length: number): Uint8Array {
    const bytes = entry.bytes!
    const view = Buffer.from(bytes.buffer, bytes.byteOffset + start, length)
    this.#lent.set(view, entry)
    return view
  }

  /**
   * Remembers where the request ended; one that starts where another ended continues a sequential
   * stream, so the next stored chunks after its own are fetched now, ready when the stream gets there.
   */
  #noteRequest(offset: number, length: number, index: number): void {
    const sequential = this.#ends.has(offset)
    this.#ends.add(offset + length)
    if (!sequential) return
    let wanted = this.#readAhead
    const stop = Math.min(this.#reader.chunkCount, index + 1 + READ_AHEAD_SPAN)
    for (let next = index + 1; next < stop && wanted > 0; next++) {
      if (this.#reader.idOf(next) === undefined) continue
      wanted--
      if (this.#cache.has(next)) continue
      if (this.#pending * 2 >= this.#capacity) return
      this.#unref(this.#take(next)) // the cache keeps its own reference
    }
  }
}

/** The last `capacity` offsets added, for "did a recent request end here?". */
class RecentOffsets {
  readonly #set = new Set<number>()
  readonly #order: number[] = []

  constructor(readonly capacity: number) {}

  add(offset: number): void {
    if (this.#set.has(offset)) return
    this.#set.add(offset)
    this.#order.push(offset)
    if (this.#order.length > this.capacity) this.#set.delete(this.#order.shift()!)
  }

  has(offset: number): boolean {
    return this.#set.has(offset)
  }
}
