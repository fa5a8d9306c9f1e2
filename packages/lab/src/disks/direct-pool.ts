// Direct-I/O handles of one node file, each with its own aligned bounce buffer, lent one per write: a
// few whole-block writes in flight at once, as tapdisk keeps a queue of asynchronous requests on the
// device, instead of one write waiting for the previous one's completion (and, on a loaded host, for the
// thread pool and the event loop to get their turn twice per block).
import { DirectWrites } from '@strata/core/shared'

/** Whole-block writes in flight per node at most (each holds a bounce buffer of one block). */
export const DIRECT_DEPTH = 4

export class DirectPool {
  readonly #free: DirectWrites[] = []
  readonly #all: DirectWrites[] = []
  readonly #waiters: ((handle: DirectWrites | undefined) => void)[] = []
  #opening = 0
  /** The file system has no direct I/O (or refused it once): every write goes through the page cache. */
  #none = false

  constructor(
    readonly path: string,
    readonly blockSize: number,
  ) {}

  /**
   * A handle to write one whole block with, given back with `release`; undefined: write through the page
   * cache. A new handle's alignment probe writes zeros at `probeAt`: only ever the block about to be
   * written whole, which no other write in flight touches.
   */
  async take(probeAt: number): Promise<DirectWrites | undefined> {
    if (this.#none) return undefined
    const free = this.#free.pop()
    if (free !== undefined) return free
    if (this.#all.length + this.#opening >= DIRECT_DEPTH) {
      return new Promise((resolve) => this.#waiters.push(resolve))
    }
    this.#opening++
    try {
      const handle = await DirectWrites.open(this.path, this.blockSize, probeAt)
      if (handle === undefined) this.#none = true
      else this.#all.push(handle)
      return handle
    } finally {
      this.#opening--
    }
  }

  /** Gives a handle back; `refused`: the file system refused a direct write, none are used any more. */
  release(handle: DirectWrites, refused = false): void {
    if (refused) this.#none = true
    const waiter = this.#waiters.shift()
    if (waiter !== undefined) waiter(this.#none ? undefined : handle)
    else this.#free.push(handle)
  }

  async close(): Promise<void> {
    this.#none = true
    for (const waiter of this.#waiters.splice(0)) waiter(undefined)
    this.#free.length = 0
    await Promise.all(this.#all.splice(0).map((h) => h.close()))
  }
}
