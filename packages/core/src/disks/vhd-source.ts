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

/** Chunks being stored at once (the writers bound their own concurrency too). */
const STORES_IN_FLIGHT = 8

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
    // Chunks are stored while the stream goes on (one at a time, the round trips of hashing, encoding and
    // writing each chunk would set the pace), at most STORES_IN_FLIGHT of them, waited for in order: the
    // stream then reuses a block's buffer only once its chunk is stored.
    const inHand: Promise<void>[] = []
    const store = async (index: number, data: Uint8Array): Promise<void> => {
      const put = sink.put(index, data, signal).then(() => void written.push(index))
      put.catch(() => {}) // observed in turn below
      inHand.push(put)
      while (inHand.length >= STORES_IN_FLIGHT) await inHand.shift()
    }
    let open: { index: number; data: Buffer } | undefined
    const flush = async (): Promise<void> => {
      if (open === undefined) return
      const { index, data } = open
      open = undefined
      await store(index, data)
    }
    const storeBlocks = async (): Promise<void> => {
      // Blocks in hand: fewer than STORES_IN_FLIGHT being stored, one being read (a buffer each).
      // In shared memory: the repository's workers hash and encode a block where it was read.
      for await (const block of stream.blocks(signal, { reuse: STORES_IN_FLIGHT, shared: true })) {
        if (chunkSize === blockSize && block.index < sink.chunkCount) {
          // One block is one chunk: store the block's bytes as they are, without a copy.
          await flush()
          await store(block.index, block.data.subarray(0, sink.chunkLength(block.index)))
          continue
        }
        for (const index of blocksToChunks([block.index], blockSize, chunkSize, sink.chunkCount)) {
          if (open !== undefined && open.index !== index) await flush()
          open ??= { index, data: Buffer.alloc(sink.chunkLength(index)) }
          copyOverlap(block.index * blockSize, block.data, index * chunkSize, open.data)
        }
      }
      await flush()
      await Promise.all(inHand)
    }
    try {
      await storeBlocks()
    } catch (error) {
      await Promise.allSettled(inHand) // nothing left running behind the caller's back
      throw error
    }
    return written.sort((a, b) => a - b)
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
