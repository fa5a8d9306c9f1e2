// A copy-on-write overlay: writes land in memory, in 64 KiB granules, and the base is never modified.
// Instant restore serves a restore point through it so that a booted VM can write without touching the
// repository. Memory grows with what is written; a disk-backed overlay can replace the Map later.
import type { BlockSource } from './block-source.js'
import { mergeExtents, type Extent } from '../codec/extent.js'

const GRANULE = 64 * 1024

export class CowOverlay implements BlockSource {
  readonly #base: BlockSource
  readonly #granules = new Map<number, Buffer>()

  constructor(base: BlockSource) {
    this.#base = base
  }

  get size(): number {
    return this.#base.size
  }

  /** Bytes held in memory by written granules. */
  get overlayBytes(): number {
    return this.#granules.size * GRANULE
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (this.#granules.size === 0) return this.#base.read(offset, length, signal)
    const out = Buffer.allocUnsafe(length)
    for (let at = offset; at < offset + length;) {
      const index = Math.floor(at / GRANULE)
      const end = Math.min(offset + length, (index + 1) * GRANULE)
      const granule = this.#granules.get(index)
      if (granule !== undefined) granule.copy(out, at - offset, at - index * GRANULE, end - index * GRANULE)
      else await this.#copyFromBase(out, at - offset, at, end - at, signal)
      at = end
    }
    return out
  }

  async write(offset: number, data: Uint8Array, signal?: AbortSignal): Promise<void> {
    for (let at = offset; at < offset + data.length;) {
      const index = Math.floor(at / GRANULE)
      const start = index * GRANULE
      const end = Math.min(offset + data.length, start + GRANULE)
      let granule = this.#granules.get(index)
      if (granule === undefined) {
        const length = Math.min(GRANULE, this.size - start)
        granule = Buffer.alloc(GRANULE)
        await this.#copyFromBase(granule, 0, start, length, signal)
        this.#granules.set(index, granule)
      }
      granule.set(data.subarray(at - offset, end - offset), at - start)
      at = end
    }
  }

  async flush(): Promise<void> {}

  /** A buffer `read` passed on from the base goes back to it (one of the overlay's own is ignored there). */
  release(data: Uint8Array): void {
    this.#base.release?.(data)
  }

  /** Copies the base's bytes into `target`; the base's buffer goes back to it at once. */
  async #copyFromBase(
    target: Uint8Array,
    at: number,
    offset: number,
    length: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const data = await this.#base.read(offset, length, signal)
    target.set(data, at)
    this.#base.release?.(data)
  }

  async blockStatus(offset: number, length: number, signal?: AbortSignal): Promise<Extent[]> {
    const base = (await this.#base.blockStatus?.(offset, length, signal)) ?? [{ offset, length, flags: 0 }]
    if (this.#granules.size === 0) return base
    // Written granules are data whatever the base says.
    const out: Extent[] = []
    for (const e of base) {
      for (let at = e.offset; at < e.offset + e.length;) {
        const index = Math.floor(at / GRANULE)
        const end = Math.min(e.offset + e.length, (index + 1) * GRANULE)
        out.push({ offset: at, length: end - at, flags: this.#granules.has(index) ? 0 : e.flags })
        at = end
      }
    }
    return mergeExtents(out)
  }
}
