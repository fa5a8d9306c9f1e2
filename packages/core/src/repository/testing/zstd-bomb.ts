// A zstd frame that decompresses to `size` zero bytes, made without ever holding them: the bomb a
// hostile store would plant in a manifest or an index to make a reader allocate without bound.
import { createRequire } from 'node:module'
import type * as ZstdBinding from 'zstd-napi/binding.js'

const zstd = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding

export function zstdBomb(size: number, declareSize = true): Buffer {
  const cctx = new zstd.CCtx()
  cctx.setParameter(zstd.CParameter.compressionLevel, 1)
  if (declareSize) cctx.setPledgedSrcSize(size)
  const piece = Buffer.alloc(1 << 20)
  const out = Buffer.allocUnsafe(1 << 20)
  const parts: Buffer[] = []
  const feed = (input: Buffer, end: boolean): void => {
    let rest = input
    for (;;) {
      const op = end ? zstd.EndDirective.end : zstd.EndDirective.continue
      const [left, produced, consumed] = cctx.compressStream2(out, rest, op)
      parts.push(Buffer.from(out.subarray(0, produced)))
      rest = rest.subarray(consumed)
      if (rest.length === 0 && (!end || left === 0)) return
    }
  }
  for (let done = 0; done < size; done += piece.length)
    feed(piece.subarray(0, Math.min(piece.length, size - done)), false)
  feed(Buffer.alloc(0), true)
  return Buffer.concat(parts)
}
