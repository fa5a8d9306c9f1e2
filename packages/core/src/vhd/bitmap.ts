// Sector bitmaps: one bit per 512-byte sector of a block, most significant bit first. In a differencing
// disk a set bit means "this sector is here", a clear bit "read the parent"; in a dynamic disk a clear
// bit reads as zeros. XAPI, qemu and we always write full bitmaps, so the full case is the fast path.
import { SECTOR_SIZE } from './constants.js'

let ones = new Uint8Array(0)

export function isFullBitmap(bitmap: Uint8Array, sectors: number): boolean {
  const bytes = sectors >> 3
  if (ones.length < bytes) ones = new Uint8Array(bytes).fill(0xff)
  if (Buffer.compare(bitmap.subarray(0, bytes), ones.subarray(0, bytes)) !== 0) return false
  for (let s = bytes << 3; s < sectors; s++) if (!isSectorSet(bitmap, s)) return false
  return true
}

export const isSectorSet = (bitmap: Uint8Array, sector: number): boolean =>
  ((bitmap[sector >> 3] ?? 0) & (0x80 >> (sector & 7))) !== 0

/** Calls `fn(first, end)` for each run of consecutive sectors whose bit equals `set`. */
export function forEachRun(
  bitmap: Uint8Array,
  sectors: number,
  set: boolean,
  fn: (first: number, end: number) => void,
): void {
  let s = 0
  while (s < sectors) {
    // Skip whole bytes that cannot start a run: keeps sparse bitmaps cheap.
    if ((s & 7) === 0 && bitmap[s >> 3] === (set ? 0 : 0xff)) {
      s += 8
      continue
    }
    if (isSectorSet(bitmap, s) !== set) {
      s++
      continue
    }
    const first = s
    while (s < sectors && isSectorSet(bitmap, s) === set) s++
    fn(first, s)
  }
}

/** Copies into `target` the sectors of `source` whose bit is set. */
export function overlaySectors(
  target: Uint8Array,
  source: Uint8Array,
  bitmap: Uint8Array,
  sectors: number,
): void {
  forEachRun(bitmap, sectors, true, (first, end) => {
    target.set(source.subarray(first * SECTOR_SIZE, end * SECTOR_SIZE), first * SECTOR_SIZE)
  })
}

/** A copy of `data` with the sectors whose bit is clear set to zero (a dynamic disk's reading). */
export function maskUnsetSectors(data: Uint8Array, bitmap: Uint8Array, sectors: number): Uint8Array {
  const out = new Uint8Array(data.length)
  overlaySectors(out, data, bitmap, sectors)
  return out
}

/** Zeroes, in place, the sectors of `data` whose bit is clear. */
export function zeroUnsetSectors(data: Uint8Array, bitmap: Uint8Array, sectors: number): void {
  forEachRun(bitmap, sectors, false, (first, end) => data.fill(0, first * SECTOR_SIZE, end * SECTOR_SIZE))
}

/** How many of the block's sectors have their bit clear. */
export function countUnsetSectors(bitmap: Uint8Array, sectors: number): number {
  let count = 0
  forEachRun(bitmap, sectors, false, (first, end) => (count += end - first))
  return count
}

/** A bitmap of `size` bytes with the sectors of each run [first, end) set (a block present in parts). */
export function bitmapOfRuns(size: number, runs: readonly (readonly [number, number])[]): Uint8Array {
  const bitmap = new Uint8Array(size)
  for (const [first, end] of runs) {
    if (!(first >= 0 && first <= end && end <= size * 8)) {
      throw new RangeError(`sector run ${first}..${end} is outside a bitmap of ${size * 8} sectors`)
    }
    let s = first
    for (; s < end && (s & 7) !== 0; s++) bitmap[s >> 3]! |= 0x80 >> (s & 7)
    const whole = (end - s) >> 3
    bitmap.fill(0xff, s >> 3, (s >> 3) + whole)
    for (s += whole << 3; s < end; s++) bitmap[s >> 3]! |= 0x80 >> (s & 7)
  }
  return bitmap
}

export function fullBitmap(size: number, sectors: number): Uint8Array {
  const bitmap = new Uint8Array(size)
  bitmap.fill(0xff, 0, sectors >> 3)
  for (let s = (sectors >> 3) << 3; s < sectors; s++) bitmap[s >> 3]! |= 0x80 >> (s & 7)
  return bitmap
}
