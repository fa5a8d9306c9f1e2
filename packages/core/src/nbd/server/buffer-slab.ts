// Carves many short-lived buffers out of few large ones and reuses them. A server answering thousands
// of 256 KiB requests a second otherwise spends its time allocating and collecting (V8 runs full
// collections as external memory grows). Each view counts as a reference on its slab; `release(view)`
// gives it back, and a slab that was filled and whose views are all released is reused. Views never
// released are harmless: their slab is then simply garbage collected.
interface Slab {
  readonly buffer: Buffer
  used: number
  refs: number
  retired: boolean
}

export class BufferSlab {
  readonly #owner = new WeakMap<ArrayBufferLike, Slab>()
  readonly #free: Slab[] = []
  #current: Slab | undefined

  constructor(
    readonly slabSize = 8 * 1024 * 1024,
    readonly maxFree = 6,
  ) {}

  take(length: number): Buffer {
    if (length > this.slabSize / 4) return Buffer.allocUnsafe(length) // large ones would waste slabs
    let slab = this.#current
    if (slab === undefined || slab.used + length > slab.buffer.length) {
      if (slab !== undefined) this.#retire(slab)
      slab = this.#free.pop() ?? this.#newSlab()
      this.#current = slab
    }
    const view = slab.buffer.subarray(slab.used, slab.used + length)
    slab.used += (length + 7) & ~7 // keep views 8-byte aligned
    slab.refs++
    return view
  }

  /** Another holder of a view (or of a part of one): it must be released once more. */
  retain(view: Uint8Array): void {
    const slab = this.#owner.get(view.buffer)
    if (slab !== undefined) slab.refs++
  }

  release(view: Uint8Array): void {
    const slab = this.#owner.get(view.buffer)
    if (slab === undefined || slab.refs === 0) return
    slab.refs--
    if (slab.retired && slab.refs === 0) this.#recycle(slab)
  }

  #newSlab(): Slab {
    const slab: Slab = { buffer: Buffer.allocUnsafe(this.slabSize), used: 0, refs: 0, retired: false }
    this.#owner.set(slab.buffer.buffer, slab)
    return slab
  }

  #retire(slab: Slab): void {
    slab.retired = true
    if (slab.refs === 0) this.#recycle(slab)
  }

  #recycle(slab: Slab): void {
    if (this.#free.length >= this.maxFree) return
    slab.used = 0
    slab.retired = false
    this.#free.push(slab)
  }
}
