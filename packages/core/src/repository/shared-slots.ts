// Reused buffers of one size in shared memory, which codec workers write into without a copy back. They
// come from the process's shared memory and go back to it on give() (shared-memory.ts): a reader's
// buffers outlive it only as free memory for the next reader, never as one more set per reader that a
// codec worker keeps alive. A buffer a caller forgets to give back is collected with it.
import { sharedMemory } from '../shared/index.js'

export class SharedSlots {
  /** The buffers lent so far, to count each once. */
  readonly #seen = new WeakSet<ArrayBufferLike>()
  #made = 0

  constructor(readonly size: number) {}

  /** Buffers lent so far, each counted once: the most ever lent at once, when nobody else took any. */
  get made(): number {
    return this.#made
  }

  take(): Uint8Array {
    const slot = sharedMemory.take(this.size)
    if (!this.#seen.has(slot.buffer)) this.#made++
    this.#seen.add(slot.buffer)
    return slot
  }

  /** Gives back a buffer from take(); its bytes must not be used afterwards. */
  give(slot: Uint8Array): void {
    sharedMemory.give(slot)
  }
}
