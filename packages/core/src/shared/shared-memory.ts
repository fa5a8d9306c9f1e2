// Shared memory that worker threads read and write in place (the codec pool's), from one free list per
// process. Why one list: V8 counts a SharedArrayBuffer against the heap of no isolate it is sent to, so a
// codec worker thread, which allocates little of its own, may never run a collection, and every shared
// buffer it was ever sent stays alive with the handle it got for it. Buffers made for one disk read and
// dropped with it therefore outlived it for good: a run's worker grew by one chunk buffer per VM backed
// up (issue 26, docs/scale-out.md). Reused from here, the shared memory a process has made is the most it
// had lent at once, however many reads came and went. Lengths are rounded up to size classes (four per
// power of two) so that odd lengths (a disk's last chunk) find buffers to reuse too.
import { StrataError } from './errors.js'

/** The smallest buffer made: smaller lengths share this class. */
const MIN_CLASS = 4096

export class SharedMemoryError extends StrataError {
  declare readonly code: 'SHARED_MEMORY_NOT_LENT'
  constructor(message: string) {
    super('SHARED_MEMORY_NOT_LENT', message)
  }
}

/** The size of the buffer that holds `length` bytes: at most 25 % more above 4 KiB. */
export function sizeClass(length: number): number {
  if (length <= MIN_CLASS) return MIN_CLASS
  const step = 2 ** (Math.floor(Math.log2(length - 1)) - 2)
  return Math.ceil(length / step) * step
}

export class SharedMemory {
  readonly #free = new Map<number, SharedArrayBuffer[]>()
  /** Weak: a buffer its borrower dropped is collected, not kept for a give() that never comes. */
  readonly #lent = new WeakSet<SharedArrayBuffer>()
  #made = 0
  #freeBytes = 0

  /** `length` bytes (contents undefined) at the start of a buffer of their size class, until give(). */
  take(length: number): Uint8Array {
    if (!Number.isSafeInteger(length) || length < 0)
      throw new StrataError('INVALID_ARGUMENT', `cannot make ${length} bytes of shared memory`)
    const size = sizeClass(length)
    let buffer = this.#free.get(size)?.pop()
    if (buffer === undefined) {
      buffer = new SharedArrayBuffer(size)
      this.#made += size
    } else this.#freeBytes -= size
    this.#lent.add(buffer)
    return new Uint8Array(buffer, 0, length)
  }

  /** Gives back bytes from take() (any view of its buffer); they must not be used afterwards. */
  give(bytes: Uint8Array): void {
    const buffer = bytes.buffer
    if (!(buffer instanceof SharedArrayBuffer) || !this.#lent.has(buffer))
      throw new SharedMemoryError(
        `${bytes.byteLength} bytes given back to the shared memory were not lent by it (or given back twice)`,
      )
    this.#lent.delete(buffer)
    const list = this.#free.get(buffer.byteLength) ?? []
    list.push(buffer)
    this.#free.set(buffer.byteLength, list)
    this.#freeBytes += buffer.byteLength
  }

  /** Bytes of shared memory made so far, and of them those free for reuse now. */
  get stats(): { readonly made: number; readonly free: number } {
    return { made: this.#made, free: this.#freeBytes }
  }
}

/** The process's shared memory: every reader that fills buffers for the codec workers takes from it. */
export const sharedMemory = new SharedMemory()
