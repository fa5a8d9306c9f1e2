// Which bytes of a READ the server's chunks have covered. A structured reply may send data and holes in
// any order, but each requested byte exactly once: a byte sent twice, or never, would leave in the
// destination whatever it held before (another read's bytes, in a reused buffer) passing for the
// export's data. Pure; ranges are relative to the request.
import { NbdError } from '../errors.js'

export class ReadCoverage {
  /** Covered ranges as sorted, disjoint [start, end) pairs, adjacent ones merged. */
  readonly #ranges: number[] = []
  #covered = 0

  /** Bytes covered so far. */
  get covered(): number {
    return this.#covered
  }

  /** Records [at, at + length); a byte already covered is NBD_OVERLAPPING_REPLY. */
  add(at: number, length: number, request: { offset: number; length: number }): void {
    if (length === 0) return
    const end = at + length
    const r = this.#ranges
    // Servers send ascending chunks: the common case appends after the last range.
    let i = r.length
    while (i > 0 && r[i - 2]! >= end) i -= 2
    if (i > 0 && r[i - 1]! > at) throw overlap(request, at, length)
    if (i > 0 && r[i - 1] === at) r[i - 1] = end
    else r.splice(i, 0, at, end)
    // Merge with the next range when they touch.
    const k = i > 0 && r[i - 1] === end ? i - 2 : i
    if (r[k + 2] === r[k + 1]) r.splice(k + 1, 2)
    this.#covered += length
  }

  /** The first byte range not covered, relative to the request, if any. */
  firstGap(length: number): { at: number; length: number } | undefined {
    const r = this.#ranges
    if (r.length === 0) return length === 0 ? undefined : { at: 0, length }
    if (r[0]! > 0) return { at: 0, length: r[0]! }
    if (r.length > 2) return { at: r[1]!, length: r[2]! - r[1]! }
    return r[1]! < length ? { at: r[1]!, length: length - r[1]! } : undefined
  }
}

function overlap(request: { offset: number; length: number }, at: number, length: number): NbdError {
  return new NbdError(
    'NBD_OVERLAPPING_REPLY',
    `the server sent bytes ${request.offset + at}+${length} of the read ${request.offset}+${request.length} more than once`,
    { details: { offset: request.offset + at, length } },
  )
}

/** NBD_INCOMPLETE_REPLY for a read whose final chunk left `coverage` with a gap. */
export function incompleteRead(
  request: { offset: number; length: number },
  coverage: ReadCoverage | undefined,
): NbdError {
  const gap = coverage?.firstGap(request.length) ?? { at: 0, length: request.length }
  return new NbdError(
    'NBD_INCOMPLETE_REPLY',
    `the server completed the read ${request.offset}+${request.length} without bytes ${request.offset + gap.at}+${gap.length}`,
    { details: { offset: request.offset + gap.at, length: gap.length } },
  )
}
