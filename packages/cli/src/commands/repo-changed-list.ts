// Parses `--changed`: which chunks of an image changed since the base. Items are separated by commas or
// white space: a chunk index (12), an inclusive chunk range (12-15), or a byte range given as
// OFFSET+LENGTH in bytes (1048576+4096), which covers every chunk it touches.
import { UsageError } from '../command.js'

export function parseChangedList(text: string, chunkSize: number, chunkCount: number): number[] {
  const out = new Set<number>()
  const add = (first: number, last: number, item: string): void => {
    if (
      !Number.isSafeInteger(first) ||
      !Number.isSafeInteger(last) ||
      first < 0 ||
      last < first ||
      last >= chunkCount
    ) {
      throw new UsageError(`--changed: '${item}' is outside the image's ${chunkCount} chunks`)
    }
    for (let i = first; i <= last; i++) out.add(i)
  }
  for (const item of text.split(/[\s,]+/).filter((s) => s !== '')) {
    let m: RegExpExecArray | null
    if ((m = /^(\d+)\+(\d+)$/.exec(item)) !== null) {
      const [offset, length] = [Number(m[1]), Number(m[2])]
      if (length === 0) continue
      add(Math.floor(offset / chunkSize), Math.floor((offset + length - 1) / chunkSize), item)
    } else if ((m = /^(\d+)-(\d+)$/.exec(item)) !== null) {
      add(Number(m[1]), Number(m[2]), item)
    } else if (/^\d+$/.test(item)) {
      add(Number(item), Number(item), item)
    } else {
      throw new UsageError(`--changed: '${item}' is not a chunk index, a range A-B, or OFFSET+LENGTH`)
    }
  }
  return [...out].sort((a, b) => a - b)
}
