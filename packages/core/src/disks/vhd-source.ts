// The VHD export of a VDI snapshot (/export_raw_vdi?format=vhd, with `base` for a delta): its BAT tells
// which blocks changed without reading them; its blocks carry the data when NBD is not used.
import { openVhdStream, type VhdStream } from '../vhd/index.js'
import { exportVdi, type Ref, type XapiClient } from '../xapi/index.js'
import { blocksToChunks, usedBlocks } from './chunk-map.js'
import type { ChunkSink } from './chunk-sink.js'
import { DiskError } from './errors.js'

export async function openVdiVhd(
  xapi: XapiClient,
  vdi: Ref,
  base: Ref | undefined,
  signal?: AbortSignal,
): Promise<VhdStream> {
  const body = await exportVdi(xapi, vdi, { format: 'vhd', base, signal })
  try {
    return await openVhdStream(body, { signal, name: `VHD export of VDI ${vdi}` })
  } catch (error) {
    body.destroy()
    throw error
  }
}

/** Chunks touched by the blocks a VHD export holds: read header and BAT, then close the stream. */
export async function changedChunksFromBat(
  xapi: XapiClient,
  vdi: Ref,
  base: Ref | undefined,
  chunkSize: number,
  chunkCount: number,
  signal?: AbortSignal,
): Promise<number[]> {
  const stream = await openVdiVhd(xapi, vdi, base, signal)
  try {
    return blocksToChunks(usedBlocks(stream.bat), stream.header.blockSize, chunkSize, chunkCount)
  } finally {
    await stream.close().catch(() => undefined)
  }
}

/**
 * Stores every chunk the blocks of a VHD export touch; returns their indexes. With a base, a chunk
 * larger than a VHD block would need blocks the delta does not carry: DISK_PATH_UNAVAILABLE.
 */
export async function storeVhdStream(
  xapi: XapiClient,
  vdi: Ref,
  base: Ref | undefined,
  sink: ChunkSink,
  signal?: AbortSignal,
): Promise<number[]> {
  const stream = await openVdiVhd(xapi, vdi, base, signal)
  try {
    const { blockSize } = stream.header
    const { chunkSize } = sink
    if (base !== undefined && chunkSize > blockSize) {
      throw new DiskError(
        'DISK_PATH_UNAVAILABLE',
        `chunks of ${chunkSize} bytes span several ${blockSize}-byte blocks of a VHD delta of VDI ${vdi}`,
      )
    }
    const written: number[] = []
    let open: { index: number; data: Buffer } | undefined
    const flush = async (): Promise<void> => {
      if (open === undefined) return
      await sink.put(open.index, open.data, signal)
      written.push(open.index)
      open = undefined
    }
    for await (const block of stream.blocks(signal)) {
      if (chunkSize === blockSize && block.index < sink.chunkCount) {
        // One block is one chunk: store the block's bytes as they are, without a copy.
        await flush()
        await sink.put(block.index, block.data.subarray(0, sink.chunkLength(block.index)), signal)
        written.push(block.index)
        continue
      }
      for (const index of blocksToChunks([block.index], blockSize, chunkSize, sink.chunkCount)) {
        if (open !== undefined && open.index !== index) await flush()
        open ??= { index, data: Buffer.alloc(sink.chunkLength(index)) }
        copyOverlap(block.index * blockSize, block.data, index * chunkSize, open.data)
      }
    }
    await flush()
    return written
  } finally {
    await stream.close().catch(() => undefined)
  }
}

/** Copies the overlap of a source span and a target span given by their absolute disk offsets. */
function copyOverlap(srcOffset: number, src: Uint8Array, dstOffset: number, dst: Buffer): void {
  const start = Math.max(srcOffset, dstOffset)
  const end = Math.min(srcOffset + src.length, dstOffset + dst.length)
  if (end > start) dst.set(src.subarray(start - srcOffset, end - srcOffset), start - dstOffset)
}
