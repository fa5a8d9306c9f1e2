// Reused buffers of one size in shared memory, which codec workers write into without a copy back. A
// free list owned by one reader: its buffers are collected with it, and never lent out of the process'
// shared codec pool, so a caller that forgets one costs memory, not a pool that runs dry.

export class SharedSlots {
  readonly #free: Uint8Array[] = []
  #made = 0

  constructor(readonly size: number) {}

  /** Buffers made so far: the most ever lent at once. */
  get made(): number {
    return this.#made
  }

  take(): Uint8Array {
    const slot = this.#free.pop()
    if (slot !== undefined) return slot
    this.#made++
    return new Uint8Array(new SharedArrayBuffer(this.size))
  }

  /** Gives back a buffer from take(); its bytes must not be used afterwards. */
  give(slot: Uint8Array): void {
    this.#free.push(slot)
  }
}
