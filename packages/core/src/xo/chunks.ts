// Undoing a VhdDirectory's chunk filters (gzip at best speed or brotli, xo-backups.md §2.5), bounded:
// a chunk never inflates past what its kind may hold, so a hostile chunk cannot exhaust memory.
import { promisify } from 'node:util'
import { brotliDecompress, gunzip, type InputType } from 'node:zlib'
import { XoError } from './errors.js'
import type { ChunkFilter } from './format/vhd-directory.js'

const inflaters: Record<
  ChunkFilter,
  (input: InputType, options: { maxOutputLength: number }) => Promise<Buffer>
> = {
  gzip: promisify(gunzip),
  brotli: promisify(brotliDecompress),
}

/** The chunk's bytes with `filters` undone (the last applied is undone first). */
export async function unfilter(
  bytes: Uint8Array,
  filters: readonly ChunkFilter[],
  maxLength: number,
  what: string,
): Promise<Uint8Array> {
  let out = bytes
  for (const filter of [...filters].reverse()) {
    try {
      out = await inflaters[filter](out, { maxOutputLength: maxLength + 1 })
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      const tooLarge =
        code === 'ERR_BUFFER_TOO_LARGE' || (error as Error).message?.includes('maxOutputLength')
      throw new XoError(
        tooLarge ? 'XO_TOO_LARGE' : 'XO_VHD_DIRECTORY_INVALID',
        tooLarge ? `${what} inflates past ${maxLength} bytes` : `${what} is not valid ${filter} data`,
        { cause: error },
      )
    }
  }
  if (out.length > maxLength) throw new XoError('XO_TOO_LARGE', `${what} holds more than ${maxLength} bytes`)
  return out
}
