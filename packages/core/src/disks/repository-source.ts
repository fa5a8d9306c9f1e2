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

interface Span {
  readonly index: number
  readonly data: Buffer
  readonly release: () => void
}

/**
 * Yields spans of `spanSize` bytes (the last one shorter) for the given span indexes, in order, with
 * up to `parallel` spans being read at once. A span's bytes are lent: valid only until the generator
 * is resumed (they are then reused), and never to be modified.
 */
export async function* readSpans(
  reader: DiskReader,
  spans: ArrayLike<number>,
  spanSize: number,
  parallel: number,
  signal?: AbortSignal,
): AsyncGenerator<{ index: number; data: Buffer }> {
  const window: Promise<Span>[] = []
  let next = 0
  const start = (): void => {
    const p = readSpan(reader, spans[next++]!, spanSize, signal)
    p.catch(() => {}) // observed when taken from the window
    window.push(p)
  }
  try {
    while (next < spans.length && window.length < parallel) start()
    while (window.length > 0) {
      const done = await window.shift()!
      if (next < spans.length) start()
      try {
        yield { index: done.index, data: done.data }
      } finally {
        done.release()
      }
    }
  } finally {
    // Stopped early (an error, or the consumer left): the spans still being read are given back too.
    for (const p of window)
      p.then(
        (span) => span.release(),
        () => {},
      )
  }
}

async function readSpan(
  reader: DiskReader,
  span: number,
  spanSize: number,
  signal?: AbortSignal,
): Promise<Span> {
  const offset = span * spanSize
  const length = Math.min(spanSize, reader.size - offset)
  const chunks = blocksToChunks([span], spanSize, reader.chunkSize, reader.chunkCount)
  if (
    chunks.length === 1 &&
    chunks[0]! * reader.chunkSize === offset &&
    reader.idOf(chunks[0]!) !== undefined
  ) {
    // The span is one whole stored chunk: its bytes as they come, without a copy.
    const lease = await reader.leaseChunk(chunks[0]!, signal)
    const { bytes } = lease
    if (bytes.length === length)
      return {
        index: span,
        data: Buffer.from(bytes.buffer, bytes.byteOffset, length),
        release: lease.release,
      }
    lease.release()
  }
  const out = Buffer.alloc(length)
  await Promise.all(
    chunks.map(async (c) => {
      if (reader.idOf(c) === undefined) return
      const lease = await reader.leaseChunk(c, signal)
      try {
        const data = lease.bytes
        const chunkOffset = c * reader.chunkSize
        const start = Math.max(offset, chunkOffset)
        const end = Math.min(offset + length, chunkOffset + data.length)
        out.set(data.subarray(start - chunkOffset, end - chunkOffset), start - offset)
      } finally {
        lease.release()
      }
    }),
  )
  return { index: span, data: out, release: () => {} }
}

/** A dynamic VHD of the disk holding only its non-zero blocks, with its exact length. */
export function planDiskVhd(reader: DiskReader): VhdPlan {
  return planVhd({ size: reader.size, blockIndexes: presentBlocks(reader) })
}

/** The VHD's bytes, in order; those of its blocks are lent as readSpans' (valid until resumed). */
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
