// A restore point's disk as a source: byte ranges assembled from chunks read in parallel (out of order,
// yielded in order), and the sparse VHD stream /import_raw_vdi takes (all-zero blocks never sent).
import type { DiskReader } from '../repository/index.js'
import { DEFAULT_BLOCK_SIZE, planVhd, writeVhd, type VhdPlan, type VhdWriteBlock } from '../vhd/index.js'
import { blocksToChunks } from './chunk-map.js'

/** VHD blocks holding at least one non-zero chunk. */
export function presentBlocks(reader: DiskReader, blockSize = DEFAULT_BLOCK_SIZE): number[] {
  const blocks = new Set<number>()
  for (const chunk of reader.nonZeroChunks()) {
    const first = Math.floor((chunk * reader.chunkSize) / blockSize)
    const last = Math.floor((chunk * reader.chunkSize + reader.chunkLength(chunk) - 1) / blockSize)
    for (let b = first; b <= last; b++) blocks.add(b)
  }
  return [...blocks].sort((a, b) => a - b)
}

/**
 * Yields spans of `spanSize` bytes (the last one shorter) for the given span indexes, in order, with
 * up to `parallel` spans being read at once.
 */
export async function* readSpans(
  reader: DiskReader,
  spans: ArrayLike<number>,
  spanSize: number,
  parallel: number,
  signal?: AbortSignal,
): AsyncGenerator<{ index: number; data: Buffer }> {
  const window: Promise<{ index: number; data: Buffer }>[] = []
  let next = 0
  const start = (): void => {
    const index = spans[next++]!
    const p = readSpan(reader, index, spanSize, signal).then((data) => ({ index, data }))
    p.catch(() => {}) // observed when taken from the window
    window.push(p)
  }
  while (next < spans.length && window.length < parallel) start()
  while (window.length > 0) {
    const done = await window.shift()!
    if (next < spans.length) start()
    yield done
  }
}

async function readSpan(
  reader: DiskReader,
  span: number,
  spanSize: number,
  signal?: AbortSignal,
): Promise<Buffer> {
  const offset = span * spanSize
  const length = Math.min(spanSize, reader.size - offset)
  const chunks = blocksToChunks([span], spanSize, reader.chunkSize, reader.chunkCount)
  if (
    chunks.length === 1 &&
    chunks[0]! * reader.chunkSize === offset &&
    reader.idOf(chunks[0]!) !== undefined
  ) {
    // The span is one whole stored chunk: its bytes as they come, without a copy.
    const data = await reader.readChunk(chunks[0]!, signal)
    if (data.length === length) return Buffer.from(data.buffer, data.byteOffset, data.length)
  }
  const out = Buffer.alloc(length)
  await Promise.all(
    chunks.map(async (c) => {
      if (reader.idOf(c) === undefined) return
      const data = await reader.readChunk(c, signal)
      const chunkOffset = c * reader.chunkSize
      const start = Math.max(offset, chunkOffset)
      const end = Math.min(offset + length, chunkOffset + data.length)
      out.set(data.subarray(start - chunkOffset, end - chunkOffset), start - offset)
    }),
  )
  return out
}

/** A dynamic VHD of the disk holding only its non-zero blocks, with its exact length. */
export function planDiskVhd(reader: DiskReader): VhdPlan {
  return planVhd({ size: reader.size, blockIndexes: presentBlocks(reader) })
}

export async function* diskVhdBytes(
  reader: DiskReader,
  plan: VhdPlan,
  parallel = 8,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const blocks = async function* (): AsyncGenerator<VhdWriteBlock> {
    const size = plan.header.blockSize
    for await (const { index, data } of readSpans(reader, plan.blockIndexes, size, parallel, signal))
      yield { index, data }
  }
  yield* writeVhd(plan, blocks(), signal)
}
