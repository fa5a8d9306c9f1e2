// Lent bytes. A reader that reuses its buffers (fresh memory costs a page fault per 4 KiB at these sizes)
// lends each one as a Lease: the borrower reads `bytes` until it calls release(), and never after.
// Releasing twice is a bug that would hand one buffer to two borrowers: it throws. An allocator is
// injected where memory matters (shared memory for the repository's worker threads, or not).
import { StrataError } from './errors.js'
import { sharedMemory } from './shared-memory.js'

export interface Lease {
  readonly bytes: Buffer
  /** Gives the bytes back; they must not be used afterwards. A second call throws LEASE_RELEASED. */
  release(): void
}

export interface BufferAllocator {
  /** A buffer of exactly `length` bytes (contents undefined), lent until released. */
  lease(length: number): Lease
}

export class LeaseError extends StrataError {
  declare readonly code: 'LEASE_RELEASED'
  constructor(message: string) {
    super('LEASE_RELEASED', message)
  }
}

/** A lease that calls `give` on its first release and throws on any later one. */
export function lease(bytes: Buffer, give: (bytes: Buffer) => void = () => {}): Lease {
  let released = false
  return {
    bytes,
    release() {
      if (released) throw new LeaseError(`a lease of ${bytes.length} bytes was released twice`)
      released = true
      give(bytes)
    },
  }
}

export interface BufferPoolOptions {
  /**
   * Buffers in shared memory, which worker threads read in place: taken from and given back to the
   * process's free list (shared-memory.ts), never kept by the pool, so that a pool dropped with its
   * reader leaves nothing behind that a worker thread could keep alive.
   */
  readonly shared?: boolean
  /** Unshared buffers kept for reuse, all sizes together. Default 64. */
  readonly maxFree?: number
  /** Unshared buffers below this size are not kept (cheap to allocate). Default 64 KiB. */
  readonly minPooled?: number
}

/** Reuses released buffers of the same size; a buffer not released is simply collected. */
export class BufferPool implements BufferAllocator {
  readonly shared: boolean
  readonly #free = new Map<number, Buffer[]>()
  readonly #maxFree: number
  readonly #minPooled: number
  /** The shared buffers this pool has lent, to count each once. */
  readonly #seen = new WeakSet<ArrayBufferLike>()
  #freeCount = 0
  #made = 0
  #lent = 0

  constructor(options: BufferPoolOptions = {}) {
    this.shared = options.shared === true
    this.#maxFree = options.maxFree ?? 64
    this.#minPooled = options.minPooled ?? 64 * 1024
  }

  /** Buffers this pool has lent so far, each counted once however often it was reused. */
  get made(): number {
    return this.#made
  }

  /** Buffers lent and not yet released. */
  get lent(): number {
    return this.#lent
  }

  lease(length: number): Lease {
    const bytes = this.#take(length)
    this.#lent++
    return lease(bytes, (b) => {
      this.#lent--
      this.#give(b)
    })
  }

  #take(length: number): Buffer {
    if (this.shared) {
      const bytes = sharedMemory.take(length)
      if (!this.#seen.has(bytes.buffer)) this.#made++
      this.#seen.add(bytes.buffer)
      return Buffer.from(bytes.buffer, 0, length)
    }
    const reused = this.#free.get(length)?.pop()
    if (reused !== undefined) {
      this.#freeCount--
      return reused
    }
    this.#made++
    return Buffer.allocUnsafeSlow(length)
  }

  #give(bytes: Buffer): void {
    if (this.shared) return sharedMemory.give(bytes)
    if (bytes.length < this.#minPooled || this.#freeCount >= this.#maxFree) return
    const list = this.#free.get(bytes.length) ?? []
    list.push(bytes)
    this.#free.set(bytes.length, list)
    this.#freeCount++
  }
}
