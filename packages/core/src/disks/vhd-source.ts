// The VHD export of a VDI snapshot (/export_raw_vdi?format=vhd, with `base` for a delta): its BAT tells
// which blocks changed without reading them; its blocks carry the data when NBD is not used.
import { BufferPool, lease, sharedMemory, type Lease } from '../shared/index.js'
import { openVhdStream, type VhdBlock, type VhdStream } from '../vhd/index.js'
import { exportVdi, type Ref, type XapiClient } from '../xapi/index.js'
import { blocksToChunks, usedBlocks } from './chunk-map.js'
import { chunkCountOf, chunkLengthOf, type DiskChunk } from './disk-source.js'
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
 * The chunks the blocks of a VHD export touch, as they stream by. With a base, a chunk larger than a VHD
 * block would need blocks the delta does not carry: DISK_PATH_UNAVAILABLE. A chunk that is one block is
 * lent in the stream's own buffer (shared memory, no copy): the stream reuses it only once its lease is
 * released, so a consumer may hold up to `inHand` chunks. Other chunks are assembled in pooled buffers.
 */
export async function* vhdChunks(
  xapi: XapiClient,
  vdi: Ref,
  base: Ref | undefined,
  disk: { chunkSize: number; size: number; planned?: (chunks: number[]) => void },
  signal: AbortSignal,
  inHand = BLOCKS_IN_HAND,
): AsyncGenerator<DiskChunk> {
  const stream = await openVdiVhd(xapi, vdi, base, signal)
  try {
    const { blockSize } = stream.header
    const { chunkSize, size } = disk
    if (base !== undefined && chunkSize > blockSize) {
      throw new DiskError(
        'DISK_PATH_UNAVAILABLE',
        `chunks of ${chunkSize} bytes span several ${blockSize}-byte blocks of a VHD delta of VDI ${vdi}`,
      )
    }
    const chunkCount = chunkCountOf(size, chunkSize)
    disk.planned?.(blocksToChunks(usedBlocks(stream.bat), blockSize, chunkSize, chunkCount))
    const lent = new LentRing(inHand)
    const assembled = new Assembly(disk, blockSize)
    for await (const block of lent.blocks(stream, signal)) {
      if (chunkSize === blockSize && block.index < chunkCount) {
        yield* assembled.flush()
        const length = chunkLengthOf(block.index, size, chunkSize)
        const bytes = Buffer.from(block.data.buffer, block.data.byteOffset, length)
        yield { index: block.index, lease: lent.lend(bytes) }
      } else yield* assembled.add(block)
    }
    yield* assembled.flush()
  } finally {
    await stream.close().catch(() => undefined)
  }
}

/** Chunks that are not one block each, assembled from the blocks that touch them in pooled buffers. */
class Assembly {
  readonly #pool = new BufferPool({ shared: true })
  readonly #count: number
  #open: { index: number; lease: Lease } | undefined

  constructor(
    readonly disk: { chunkSize: number; size: number },
    readonly blockSize: number,
  ) {
    this.#count = chunkCountOf(disk.size, disk.chunkSize)
  }

  /** Copies the block into the chunks it touches; yields each chunk once the stream moves past it. */
  *add(block: VhdBlock): Generator<DiskChunk> {
    const { chunkSize, size } = this.disk
    for (const index of blocksToChunks([block.index], this.blockSize, chunkSize, this.#count)) {
      if (this.#open?.index !== index) {
        yield* this.flush()
        const lease = this.#pool.lease(chunkLengthOf(index, size, chunkSize))
        lease.bytes.fill(0) // parts no block covers read as zeros
        this.#open = { index, lease }
      }
      copyOverlap(block.index * this.blockSize, block.data, index * chunkSize, this.#open.lease.bytes)
    }
  }

  *flush(): Generator<DiskChunk> {
    if (this.#open !== undefined) yield this.#open
    this.#open = undefined
  }
}

/** Block buffers the stream keeps for reuse: as many chunks as a consumer stores at once, and more. */
const BLOCKS_IN_HAND = 16

/**
 * The VHD stream reuses a block's buffer `inHand` blocks later. Each block yielded as a chunk is lent;
 * before the stream is asked for a block that would overwrite a buffer still lent, this waits for its
 * release. The lease is the contract, not the consumer's pace. The ring's buffers are the process's
 * shared memory: once the stream ended and every lease of them is back, they go back to it for the next
 * disk (a ring made per disk and dropped would stay alive in the codec workers: shared-memory.ts).
 */
class LentRing {
  readonly #slots: number
  /** Per buffer of the stream's ring: settles when the bytes lent from it are given back. */
  readonly #released: Promise<void>[] = []
  readonly #ring: Uint8Array[] = []
  #count = 0

  constructor(inHand: number) {
    this.#slots = inHand + 1 // the stream's ring: the block being read, and `inHand` before it
  }

  async *blocks(stream: VhdStream, signal: AbortSignal): AsyncGenerator<VhdBlock> {
    const allocate = (length: number): Uint8Array => {
      const bytes = sharedMemory.take(length)
      this.#ring.push(bytes)
      return bytes
    }
    try {
      for await (const block of stream.blocks(signal, { reuse: this.#slots - 1, allocate })) {
        this.#released[this.#count++ % this.#slots] = Promise.resolve()
        yield block
        // The next block goes into the buffer the block `inHand` before this one used: wait until it is back.
        await this.#released[this.#count % this.#slots]
      }
    } finally {
      // The stream is done with its ring (its loop ended with this one); borrowers may still hold blocks.
      const ring = this.#ring.splice(0)
      void Promise.all(this.#released).then(() => ring.forEach((bytes) => sharedMemory.give(bytes)))
    }
  }

  /** Lends the current block's bytes (`bytes` lies in its buffer) until released. */
  lend(bytes: Buffer): Lease {
    let release = (): void => {}
    this.#released[(this.#count - 1) % this.#slots] = new Promise<void>((resolve) => (release = resolve))
    return lease(bytes, () => release())
  }
}

/** Copies the overlap of a source span and a target span given by their absolute disk offsets. */
function copyOverlap(srcOffset: number, src: Uint8Array, dstOffset: number, dst: Buffer): void {
  const start = Math.max(srcOffset, dstOffset)
  const end = Math.min(srcOffset + src.length, dstOffset + dst.length)
  if (end > start) dst.set(src.subarray(start - srcOffset, end - srcOffset), start - dstOffset)
}
