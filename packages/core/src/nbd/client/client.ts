// The NBD client most code wants: several connections to one export, requests split at the server's
// limit and spread over the least loaded connection, retries after a dropped connection (through the one
// retry loop, shared/retry.ts), and ranges streamed back in order or as they arrive.
import { setMaxListeners } from 'node:events'
import { AbortedError, isRetryable } from '../../shared/errors.js'
import { retry } from '../../shared/retry.js'
import { Semaphore } from '../../shared/semaphore.js'
import { BASE_ALLOCATION } from '../codec/constants.js'
import { mergeExtents, type Extent } from '../codec/extent.js'
import { NbdConnection, type NbdConnectionOptions } from './connection.js'
import { NbdError } from '../errors.js'
import type { Negotiated } from './client-handshake.js'

export interface NbdClientOptions extends NbdConnectionOptions {
  /** Connections to open (capped at 1 when the server does not allow multi-conn). Default 2. */
  connections?: number
  /** Requests in flight per connection. Default 16. */
  inFlight?: number
  /** Largest single read request; bounded by what the server accepts. Default 2 MiB. */
  requestSize?: number
  /** Attempts after the first for a read that failed retryably (dropped connection, EIO). Default 5. */
  retries?: number
  retryDelayMs?: number
}

export interface ByteRange {
  readonly offset: number
  readonly length: number
}

export interface ReadPiece {
  readonly offset: number
  readonly data: Buffer
}

/** Defaults measured with `npm run bench -- nbd` (docs/nbd.md). */
export const DEFAULT_CONNECTIONS = 2
export const DEFAULT_IN_FLIGHT = 16
export const DEFAULT_REQUEST_SIZE = 2 * 1024 * 1024

export class NbdClient {
  readonly info: Negotiated
  readonly requestSize: number
  /** The first connection reads replies straight into request buffers (see transport.ts). */
  readonly directReads: boolean
  readonly #options: NbdClientOptions
  readonly #slots: (Promise<NbdConnection> | undefined)[]
  readonly #live: (NbdConnection | undefined)[]
  readonly #capacity: Semaphore
  /** Per slot: no reconnection before this time (ms), so that a refusing server is not hammered. */
  readonly #retryAfter: number[]
  /** Buffers of `requestSize` bytes handed back by consumers (see recycle). */
  readonly #spare: Buffer[] = []
  #closed = false

  private constructor(first: NbdConnection, options: NbdClientOptions) {
    this.info = first.info
    this.directReads = first.directReads
    this.#options = options
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

  /** Reads one range of any length into one buffer. */
  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length)
    for await (const piece of this.readRanges([{ offset, length }], { ordered: false, signal })) {
      piece.data.copy(out, piece.offset - offset)
      this.recycle(piece.data)
    }
    return out
  }

  /**
   * Reads ranges as pieces of at most `requestSize` bytes. `ordered` (default) yields them in the order
   * of the ranges; otherwise as they arrive. At most connections × inFlight pieces are held at once.
   */
  async *readRanges(
    ranges: Iterable<ByteRange> | AsyncIterable<ByteRange>,
    { ordered = true, signal }: { ordered?: boolean; signal?: AbortSignal } = {},
  ): AsyncGenerator<ReadPiece> {
    const stop = new AbortController()
    const combined = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal])
    // Every request in flight listens to it: many listeners are expected, not a leak.
    setMaxListeners(100_000, combined)
    const window: Promise<ReadPiece>[] = []
    const settled = new Map<Promise<ReadPiece>, ReadPiece>()
    const track = (p: Promise<ReadPiece>): Promise<ReadPiece> => {
      const tracked: Promise<ReadPiece> = p.then((piece) => (settled.set(tracked, piece), piece))
      tracked.catch(() => {}) // observed when taken from the window
      return tracked
    }
    try {
      for await (const range of ranges) {
        for (const piece of this.#split(range)) {
          await this.#capacity.acquire(combined)
          window.push(track(this.#readPiece(piece, combined).finally(() => this.#capacity.release())))
          while (window.length > 0 && (window.length >= this.#capacity.capacity || settled.has(window[0]!))) {
            yield await this.#take(window, settled, ordered)
          }
        }
      }
      while (window.length > 0) yield await this.#take(window, settled, ordered)
    } finally {
      stop.abort(new AbortedError('read cancelled'))
    }
  }

  async #take(
    window: Promise<ReadPiece>[],
    settled: Map<Promise<ReadPiece>, ReadPiece>,
    ordered: boolean,
  ): Promise<ReadPiece> {
    if (!ordered) {
      const done = window.findIndex((p) => settled.has(p))
      if (done === -1) await Promise.race(window)
      const index = window.findIndex((p) => settled.has(p))
      const [p] = window.splice(index === -1 ? 0 : index, 1)
      settled.delete(p!)
      return p!
    }
    const p = window.shift()!
    settled.delete(p)
    return p
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

  *#split(range: ByteRange): Generator<ByteRange> {
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
    const end = range.offset + range.length
    for (let at = range.offset; at < end;) {
      // Cut at multiples of the request size so that pieces stay aligned like the caller's blocks.
      const next = Math.min(end, (Math.floor(at / this.requestSize) + 1) * this.requestSize)
      yield { offset: at, length: next - at }
      at = next
    }
  }

  /**
   * Hands back a piece's buffer once the caller is done with it, so that a later read reuses it instead
   * of allocating (fresh memory costs page faults at these sizes). Never touch it afterwards.
   */
  recycle(data: Buffer): void {
    if (
      data.length === this.requestSize &&
      data.byteOffset === 0 &&
      this.#spare.length < this.#capacity.capacity
    ) {
      this.#spare.push(data)
    }
  }

  async #readPiece(piece: ByteRange, signal: AbortSignal): Promise<ReadPiece> {
    const data =
      (piece.length === this.requestSize ? this.#spare.pop() : undefined) ?? newPieceBuffer(piece.length)
    await this.#withConnection((c) => c.read(piece.offset, piece.length, signal, data), signal)
    return { offset: piece.offset, data }
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

/**
 * A piece's buffer, in shared memory from 64 KiB up: worker threads (the repository's hashing and
 * encoding) then read the bytes where the socket put them, instead of a copy staged for them.
 */
function newPieceBuffer(length: number): Buffer {
  return length < 64 * 1024 ? Buffer.allocUnsafe(length) : Buffer.from(new SharedArrayBuffer(length))
}
