// The NBD client most code wants: several connections to one export, requests split at the server's
// limit and spread over the least loaded connection, retries after a dropped connection (through the one
// retry loop, shared/retry.ts), and ranges streamed back in order or as they arrive, each piece lent
// (a Lease from the injected allocator) until its reader releases it.
import { AbortedError, isRetryable } from '../../shared/errors.js'
import { BufferPool, type BufferAllocator } from '../../shared/lease.js'
import { retry } from '../../shared/retry.js'
import { Semaphore } from '../../shared/semaphore.js'
import { BASE_ALLOCATION } from '../codec/constants.js'
import { mergeExtents, type Extent } from '../codec/extent.js'
import { NbdError } from '../errors.js'
import type { Negotiated } from './client-handshake.js'
import { NbdConnection, type NbdConnectionOptions } from './connection.js'
import { readWindow, type ByteRange, type ReadOptions, type ReadPiece } from './read-window.js'

export type { ByteRange, ReadOptions, ReadPiece } from './read-window.js'

export interface NbdClientOptions extends NbdConnectionOptions {
  /** Connections to open (capped at 1 when the server does not allow multi-conn). Default 2. */
  connections?: number
  /** Requests in flight per connection. Default 32. */
  inFlight?: number
  /** Largest single read request; bounded by what the server accepts. Default 1 MiB. */
  requestSize?: number
  /** Attempts after the first for a read that failed retryably (dropped connection, EIO). Default 5. */
  retries?: number
  retryDelayMs?: number
  /**
   * Where pieces are read: the client leases a buffer per piece and lends it to the reader. Default: a
   * pool of reused ordinary buffers. The repository's callers give shared memory (its worker threads
   * then hash and encode a piece where the socket put it).
   */
  allocator?: BufferAllocator
}

/** Defaults measured with `npm run bench -- nbd` (docs/dev/nbd.md). */
export const DEFAULT_CONNECTIONS = 2
export const DEFAULT_IN_FLIGHT = 32
export const DEFAULT_REQUEST_SIZE = 1024 * 1024
/** The largest range `readRanges(..., { whole: true })` reads into one buffer. */
export const MAX_WHOLE_RANGE = 64 * 1024 * 1024

export class NbdClient {
  readonly info: Negotiated
  readonly requestSize: number
  /** The first connection reads replies straight into request buffers (see transport.ts). */
  readonly directReads: boolean
  readonly #options: NbdClientOptions
  readonly #allocator: BufferAllocator
  readonly #slots: (Promise<NbdConnection> | undefined)[]
  readonly #live: (NbdConnection | undefined)[]
  readonly #capacity: Semaphore
  /** Per slot: no reconnection before this time (ms), so that a refusing server is not hammered. */
  readonly #retryAfter: number[]
  #closed = false

  private constructor(first: NbdConnection, options: NbdClientOptions) {
    this.info = first.info
    this.directReads = first.directReads
    this.#options = options
    this.#allocator = options.allocator ?? new BufferPool()
    const multi = (first.info.flags & 0x100) !== 0 || (first.info.flags & 0x2) !== 0 // CAN_MULTI_CONN or read-only
    const count = multi ? Math.max(1, options.connections ?? DEFAULT_CONNECTIONS) : 1
    this.#slots = Array.from({ length: count }, (_, i) => (i === 0 ? Promise.resolve(first) : undefined))
    this.#live = Array.from({ length: count }, (_, i) => (i === 0 ? first : undefined))
    this.#retryAfter = new Array<number>(count).fill(0)
    this.#capacity = new Semaphore(count * Math.max(1, options.inFlight ?? DEFAULT_IN_FLIGHT))
    this.requestSize = Math.min(options.requestSize ?? DEFAULT_REQUEST_SIZE, first.maxRequest)
  }

  /** Connects once (to learn the export); the other connections open on first use. */
  static async open(options: NbdClientOptions, signal?: AbortSignal): Promise<NbdClient> {
    const first = await retry(() => NbdConnection.connect(options, signal), {
      retries: options.retries ?? 5,
      baseDelayMs: options.retryDelayMs ?? 200,
      signal,
    })
    return new NbdClient(first, options)
  }

  get size(): number {
    return this.info.size
  }

  get connectionCount(): number {
    return this.#slots.length
  }

  /** Requests in flight at most, all connections together. */
  get capacity(): number {
    return this.#capacity.capacity
  }

  /** Reads one range of any length into a new buffer of its own (not lent: the caller keeps it). */
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    this.#checkRange({ offset, length })
    const out = Buffer.allocUnsafe(length)
    const parts: Promise<void>[] = []
    try {
      for (let at = 0; at < length; at += this.requestSize) {
        const n = Math.min(this.requestSize, length - at)
        parts.push((await this.#issue(offset + at, out.subarray(at, at + n), signal)).done)
      }
    } finally {
      await Promise.allSettled(parts)
    }
    await Promise.all(parts)
    return out
  }

  /**
   * Reads ranges as pieces of at most `requestSize` bytes (cut at its multiples), or with `whole` each
   * range as one piece (at most MAX_WHOLE_RANGE bytes) read by as many requests as the server's limit
   * needs, into one buffer. `ordered` (default) yields them in the order of the ranges; otherwise as
   * they arrive. Each piece is lent: release it when done (the buffer is then reused). Pieces not yet
   * taken when the generator stops are released by it. At most connections × inFlight requests are in
   * flight, and about as many request-sizes of pieces are held.
   */
  readRanges(
    ranges: Iterable<ByteRange> | AsyncIterable<ByteRange>,
    options: ReadOptions = {},
  ): AsyncGenerator<ReadPiece> {
    return readWindow(ranges, options, {
      capacity: this.#capacity.capacity,
      requestSize: this.requestSize,
      allocator: this.#allocator,
      pieces: (range) => (options.whole === true ? [this.#checkWhole(range)] : this.#split(range)),
      issue: (offset, into, signal) => this.#issue(offset, into, signal),
    })
  }

  /** Extents of a metadata context over a range, merged, complete from `offset` to `offset + length`. */
  async blockStatus(
    offset: number,
    length: number,
    { context = BASE_ALLOCATION, signal }: { context?: string; signal?: AbortSignal } = {},
  ): Promise<Extent[]> {
    const end = offset + length
    const out: Extent[] = []
    for (let at = offset; at < end;) {
      const ask = Math.min(end - at, 2 ** 31)
      const extents = await this.#withConnection((c) => c.blockStatus(at, ask, context, signal), signal)
      out.push(...extents)
      at = extents[extents.length - 1]!.offset + extents[extents.length - 1]!.length
    }
    return mergeExtents(out)
  }

  async close(): Promise<void> {
    this.#closed = true
    const connections = await Promise.allSettled(this.#slots.filter((s) => s !== undefined))
    await Promise.allSettled(connections.map((c) => (c.status === 'fulfilled' ? c.value.close() : undefined)))
  }

  #checkRange(range: ByteRange): void {
    if (
      !Number.isSafeInteger(range.offset) ||
      !Number.isSafeInteger(range.length) ||
      range.offset < 0 ||
      range.length < 0 ||
      range.offset + range.length > this.size
    ) {
      throw new NbdError(
        'NBD_INVALID_ARGUMENT',
        `range ${range.offset}+${range.length} is outside the export (size ${this.size})`,
      )
    }
  }

  #checkWhole(range: ByteRange): ByteRange {
    this.#checkRange(range)
    if (range.length > MAX_WHOLE_RANGE) {
      throw new NbdError(
        'NBD_INVALID_ARGUMENT',
        `range ${range.offset}+${range.length} is larger than a whole piece may be (${MAX_WHOLE_RANGE})`,
      )
    }
    return range
  }

  *#split(range: ByteRange): Generator<ByteRange> {
    this.#checkRange(range)
    const end = range.offset + range.length
    for (let at = range.offset; at < end;) {
      // Cut at multiples of the request size so that pieces stay aligned like the caller's blocks.
      const next = Math.min(end, (Math.floor(at / this.requestSize) + 1) * this.requestSize)
      yield { offset: at, length: next - at }
      at = next
    }
  }

  /**
   * Waits for room (a request slot), then sends one read into `into` (at most requestSize bytes).
   * The promise is the back-pressure; `done` settles with the read.
   */
  async #issue(offset: number, into: Buffer, signal?: AbortSignal): Promise<{ done: Promise<void> }> {
    await this.#capacity.acquire(signal)
    const done = this.#withConnection((c) => c.read(offset, into.length, signal, into), signal).then(
      () => this.#capacity.release(),
      (error: unknown) => {
        this.#capacity.release()
        throw error
      },
    )
    done.catch(() => {}) // observed by the caller
    return { done }
  }

  /** Runs `fn` on the least loaded live connection, reconnecting and retrying on retryable failures. */
  #withConnection<T>(fn: (c: NbdConnection) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return retry(async () => fn(await this.#pick(signal)), {
      retries: this.#options.retries ?? 5,
      baseDelayMs: this.#options.retryDelayMs ?? 200,
      shouldRetry: (error) => isRetryable(error) && !this.#closed,
      signal,
    })
  }

  async #pick(signal?: AbortSignal): Promise<NbdConnection> {
    if (this.#closed) throw new NbdError('NBD_CONNECTION_CLOSED', 'the NBD client is closed')
    if (signal?.aborted) throw new AbortedError(signal.reason)
    let best: NbdConnection | undefined
    for (let i = 0; i < this.#slots.length; i++) {
      const live = this.#live[i]
      if (live !== undefined && live.failed !== undefined) {
        this.#live[i] = undefined
        this.#slots[i] = undefined
      }
      if (this.#slots[i] === undefined && this.#retryAfter[i]! <= performance.now()) {
        this.#slots[i] = this.#connect(i, signal)
      }
      const candidate = this.#live[i]
      if (candidate !== undefined && (best === undefined || candidate.inFlight < best.inFlight))
        best = candidate
    }
    return (
      best ??
      (await Promise.any(this.#slots.filter((s) => s !== undefined)).catch((e: AggregateError) =>
        Promise.reject(e.errors[0]),
      ))
    )
  }

  #connect(i: number, signal?: AbortSignal): Promise<NbdConnection> {
    const attempt = NbdConnection.connect(this.#options, signal).then(
      (c) => {
        if (this.#closed) void c.close()
        this.#live[i] = c
        this.#retryAfter[i] = 0
        return c
      },
      (error: unknown) => {
        if (this.#slots[i] === attempt) this.#slots[i] = undefined
        this.#retryAfter[i] = performance.now() + 1000
        throw error
      },
    )
    attempt.catch(() => {})
    return attempt
  }
}
