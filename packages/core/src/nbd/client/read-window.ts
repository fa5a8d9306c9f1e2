// The window behind NbdClient.readRanges: pieces are read into leased buffers (one or more requests
// each), held until taken in order or as they complete, and handed out as leases. Memory is bounded by
// the requests the window holds; a piece's buffer goes back to the allocator only once every request
// that writes into it has completed (a request given up on may still be answered into it).
import { setMaxListeners } from 'node:events'
import { AbortedError } from '../../shared/errors.js'
import type { BufferAllocator, Lease } from '../../shared/lease.js'

export interface ByteRange {
  readonly offset: number
  readonly length: number
}

/** A piece of a read, lent: `bytes` are valid until `release()`. */
export interface ReadPiece extends Lease {
  readonly offset: number
}

export interface ReadOptions {
  /** Yield pieces in the order of the ranges (default) rather than as they complete. */
  readonly ordered?: boolean
  /** Each range is one piece (read by several requests if needed) instead of request-sized pieces. */
  readonly whole?: boolean
  readonly signal?: AbortSignal
}

export interface WindowDeps {
  /** Requests in flight at most. */
  readonly capacity: number
  readonly requestSize: number
  readonly allocator: BufferAllocator
  /** The pieces of a range (throws for a range outside the export). */
  pieces(range: ByteRange): Iterable<ByteRange>
  /** Waits for a request slot, then starts a read into `into`; the inner promise settles with it. */
  issue(offset: number, into: Buffer, signal: AbortSignal): Promise<{ done: Promise<void> }>
}

interface Held {
  readonly offset: number
  readonly lease: Lease
  readonly requests: number
  /** Settles once no request can write into the buffer any more. */
  readonly settled: Promise<void>
  done: boolean
  error?: unknown
}

export async function* readWindow(
  ranges: Iterable<ByteRange> | AsyncIterable<ByteRange>,
  { ordered = true, signal }: ReadOptions,
  deps: WindowDeps,
): AsyncGenerator<ReadPiece> {
  const stop = new AbortController()
  const combined = signal === undefined ? stop.signal : AbortSignal.any([signal, stop.signal])
  // Every request in flight listens to it: many listeners are expected, not a leak.
  setMaxListeners(100_000, combined)
  const window = new Window(ordered, deps.capacity)
  try {
    for await (const range of ranges) {
      for (const piece of deps.pieces(range)) {
        window.push(await start(piece, deps, combined, () => window.settled()))
        while (window.full) yield await window.take()
      }
    }
    while (window.size > 0) yield await window.take()
  } finally {
    stop.abort(new AbortedError('read cancelled'))
    window.giveBackAll()
  }
}

/** The pieces being read or read and not yet taken. */
class Window {
  readonly #held: Held[] = []
  #requests = 0
  #ready = 0
  #wake: (() => void) | undefined

  constructor(
    readonly ordered: boolean,
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.#held.length
  }

  /** Take before starting more: the requests held reach the capacity, or a piece can be handed out. */
  get full(): boolean {
    if (this.#held.length === 0) return false
    return this.#requests >= this.capacity || (this.ordered ? this.#held[0]!.done : this.#ready > 0)
  }

  push(held: Held): void {
    this.#held.push(held)
    this.#requests += held.requests
  }

  /** A piece's reads settled. */
  settled(): void {
    this.#ready++
    this.#wake?.()
  }

  /** The next piece: the first (ordered) or any that is done; rethrows its read's error. */
  async take(): Promise<ReadPiece> {
    const find = (): number => (this.ordered ? 0 : this.#held.findIndex((h) => h.done))
    let i = find()
    while (i === -1 || !this.#held[i]!.done) {
      await new Promise<void>((resolve) => (this.#wake = resolve))
      this.#wake = undefined
      i = find()
    }
    const held = this.#held.splice(i, 1)[0]!
    this.#requests -= held.requests
    this.#ready--
    if (held.error !== undefined) throw held.error
    return { offset: held.offset, bytes: held.lease.bytes, release: held.lease.release }
  }

  giveBackAll(): void {
    for (const held of this.#held.splice(0)) giveBack(held)
  }
}

/** Leases the piece's buffer and starts its requests (waiting for a slot before each). */
async function start(
  piece: ByteRange,
  deps: WindowDeps,
  signal: AbortSignal,
  onDone: () => void,
): Promise<Held> {
  const lease = deps.allocator.lease(piece.length)
  const parts: Promise<void>[] = []
  try {
    for (let at = 0; at < piece.length; at += deps.requestSize) {
      const end = Math.min(piece.length, at + deps.requestSize)
      parts.push((await deps.issue(piece.offset + at, lease.bytes.subarray(at, end), signal)).done)
    }
  } catch (error) {
    // No room for the rest (aborted). What was sent may still write into the buffer: it is not given
    // back, only collected.
    void Promise.allSettled(parts)
    throw error
  }
  let markSettled = (): void => {}
  const settled = new Promise<void>((resolve) => (markSettled = resolve))
  const held: Held = { offset: piece.offset, lease, requests: parts.length, settled, done: false }
  const finish = (error?: unknown): void => {
    held.error = error
    held.done = true
    onDone()
    markSettled()
  }
  const all = parts.length === 1 ? parts[0]! : Promise.all(parts)
  all.then(
    () => finish(),
    // The piece's other requests may still be answered into its buffer: done once they settle.
    (error: unknown) => void Promise.allSettled(parts).then(() => finish(error)),
  )
  return held
}

/**
 * A piece that will not be handed out goes back to the allocator once its reads completed. One whose
 * read failed is only collected: a request given up on (aborted) may still be answered into it.
 */
function giveBack(held: Held): void {
  void held.settled.then(() => {
    if (held.error === undefined) held.lease.release()
  })
}
