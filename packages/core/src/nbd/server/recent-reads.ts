// Bytes read a moment ago, kept for the read that usually follows. Clients such as nbdcopy ask block
// status for a range and then read it: the scan that answered the first already holds the data, so
// the read is served from memory instead of reading the file twice. FIFO, bounded in bytes.
export class RecentReads {
  readonly #entries: { offset: number; data: Buffer }[] = []
  #bytes = 0

  /** `onDrop` is told of each buffer the cache lets go of (evicted or cleared). */
  constructor(
    readonly maxBytes: number,
    readonly onDrop: (data: Buffer) => void = () => {},
  ) {}

  add(offset: number, data: Buffer): void {
    if (data.length > this.maxBytes) return this.onDrop(data)
    this.#entries.push({ offset, data })
    this.#bytes += data.length
    while (this.#bytes > this.maxBytes) {
      const dropped = this.#entries.shift()!.data
      this.#bytes -= dropped.length
      this.onDrop(dropped)
    }
  }

  /** The bytes of [offset, offset + length) if one entry holds them all (a view, not a copy). */
  find(offset: number, length: number): Buffer | undefined {
    for (let i = this.#entries.length - 1; i >= 0; i--) {
      const e = this.#entries[i]!
      if (offset >= e.offset && offset + length <= e.offset + e.data.length) {
        return e.data.subarray(offset - e.offset, offset - e.offset + length)
      }
    }
    return undefined
  }

  clear(): void {
    for (const e of this.#entries.splice(0)) this.onDrop(e.data)
    this.#bytes = 0
  }
}
