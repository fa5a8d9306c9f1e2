// GC's mark set: a Bloom filter over chunk ids. Its memory is fixed up front (bits per expected id, capped),
// not a table that grows with the repository. A false positive keeps a garbage chunk; it never deletes a
// live one. Ids are uniform (SHA-256/HMAC), so their own 32-bit words serve as the k hash values.
import { ID_LENGTH } from './format/constants.js'

/** 14.4 bits per id and 8 probes: about 0.1 % false positives at the expected count. */
const BITS_PER_ID = 14.4
const PROBES = 8

export class MarkSet {
  readonly bits: number
  readonly #words: Uint32Array

  /** `expected` ids at most; memory is min(expected × 1.8 bytes, maxBytes). */
  constructor(expected: number, maxBytes = 128 * 1024 * 1024) {
    const wanted = Math.ceil(Math.max(expected, 1024) * BITS_PER_ID)
    const words = Math.min(Math.ceil(wanted / 32), Math.floor(maxBytes / 4))
    this.bits = words * 32
    this.#words = new Uint32Array(words)
  }

  get bytes(): number {
    return this.#words.byteLength
  }

  add(id: Uint8Array): void {
    this.#addAt(new DataView(id.buffer, id.byteOffset, ID_LENGTH), 0)
  }

  /**
   * Adds every non-zero id of a concatenation of 32-byte ids (a disk index's entries). One view over the
   * whole index: millions of per-id subarrays would only feed the garbage collector.
   */
  addAll(ids: Uint8Array): number {
    const view = new DataView(ids.buffer, ids.byteOffset, ids.byteLength)
    let added = 0
    for (let offset = 0; offset + ID_LENGTH <= ids.length; offset += ID_LENGTH) {
      let zero = true
      for (let k = 0; k < ID_LENGTH && zero; k += 4) zero = view.getUint32(offset + k) === 0
      if (zero) continue
      this.#addAt(view, offset)
      added++
    }
    return added
  }

  #addAt(view: DataView, offset: number): void {
    for (let k = 0; k < PROBES; k++) {
      const bit = view.getUint32(offset + k * 4) % this.bits
      this.#words[bit >>> 5]! |= 1 << (bit & 31)
    }
  }

  mayContain(id: Uint8Array): boolean {
    const view = new DataView(id.buffer, id.byteOffset, ID_LENGTH)
    for (let k = 0; k < PROBES; k++) {
      const bit = view.getUint32(k * 4) % this.bits
      if ((this.#words[bit >>> 5]! & (1 << (bit & 31))) === 0) return false
    }
    return true
  }
}
