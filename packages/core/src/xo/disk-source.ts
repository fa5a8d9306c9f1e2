// A disk of an XO restore point as a disk source (disks/disk-source.ts), so that an import stores it
// through the same ChunkSink and point writer as a backup. The disk's blocks (VHD blocks of a delta chain
// composed newest first, or an XVA's entries) come in ascending order and are cut or joined into the
// repository's chunks, whatever the two sizes; a chunk no block touches is a hole, delivered only when the
// consumer asks for it. Over a base (an earlier point of the same chain, already in the repository), only
// the chunks the newer VHDs touch are read: `changed` names their blocks.
import { blocksToChunks, chunkCountOf, chunkLengthOf, mergeChunks } from '../disks/index.js'
import type { ChunkRequest, DiskChunk, DiskSource, SourceOutcome } from '../disks/index.js'
import { BufferPool, throwIfAborted, type Lease } from '../shared/index.js'
import type { XoDisk, XoDiskBlock } from './disk.js'

export interface XoSourceOptions {
  /** The blocks that may differ from the consumer's base (default: all). Random-access disks only. */
  readonly changed?: readonly number[]
}

export class XoDiskSource implements DiskSource {
  outcome: SourceOutcome | undefined

  constructor(
    readonly disk: XoDisk,
    readonly options: XoSourceOptions = {},
  ) {}

  get description(): string {
    return this.disk.description
  }

  get size(): number {
    return this.disk.size
  }

  async *chunks(request: ChunkRequest): AsyncGenerator<DiskChunk> {
    const { chunkSize, signal } = request
    const { blockSize } = this.disk
    const count = chunkCountOf(this.size, chunkSize)
    const blocks = await this.disk.presentBlocks(signal)
    const wanted = (i: number): boolean => request.skip?.has(i) !== true
    const changed = this.options.changed
    // Over a base, a chunk a changed block touches is read whole: its other blocks too.
    const chunkSet =
      changed === undefined
        ? undefined
        : new Set(mergeChunks(blocksToChunks(changed, blockSize, chunkSize, count), request.needed))
    const only =
      chunkSet &&
      blocks.filter((b) => blocksToChunks([b], blockSize, chunkSize, count).some((c) => chunkSet.has(c)))
    const present = blocksToChunks(only ?? blocks, blockSize, chunkSize, count)
    const read = present.filter(wanted)
    request.events?.planned?.(
      read.length,
      read.reduce((n, i) => n + chunkLengthOf(i, this.size, chunkSize), 0),
    )
    const assembly = new ChunkAssembly(chunkSize, this.size, blockSize)
    let chunks = 0
    const keep = function* (list: Iterable<DiskChunk>): Generator<DiskChunk> {
      for (const chunk of list) {
        if (!wanted(chunk.index)) chunk.lease?.release()
        else {
          chunks++
          yield chunk
        }
      }
    }
    for await (const block of this.disk.blocks({ signal, only })) {
      throwIfAborted(signal)
      yield* keep(assembly.add(block))
    }
    yield* keep(assembly.flush())
    const delivered = new Set(present)
    const holeCandidates = request.complete ? allIndexes(count) : [...(chunkSet ?? []), ...request.needed]
    const holes = mergeChunks(holeCandidates).filter((i) => i < count && !delivered.has(i) && wanted(i))
    for (const index of holes) yield { index, lease: undefined }
    const path = changed === undefined ? 'xo-chain' : 'xo-chain-delta'
    this.outcome = { path, via: 'xo-remote', chunks, holes: holes.length, warnings: [] }
  }

  async close(): Promise<void> {
    // The disk holds no open file: members and XVAs are read by ranges.
  }
}

const allIndexes = (count: number): number[] => Array.from({ length: count }, (_, i) => i)

/**
 * Ascending blocks into ascending chunks in pooled shared buffers: a chunk is handed out once the blocks
 * have moved past it, zeros where no block covers it.
 */
export class ChunkAssembly {
  readonly #pool = new BufferPool({ shared: true })
  readonly #count: number
  #open: { index: number; lease: Lease } | undefined

  constructor(
    readonly chunkSize: number,
    readonly size: number,
    readonly blockSize: number,
  ) {
    this.#count = chunkCountOf(size, chunkSize)
  }

  *add(block: XoDiskBlock): Generator<DiskChunk> {
    for (const index of blocksToChunks([block.index], this.blockSize, this.chunkSize, this.#count)) {
      if (this.#open !== undefined && this.#open.index !== index) yield* this.flush()
      if (this.#open === undefined) {
        const lease = this.#pool.lease(chunkLengthOf(index, this.size, this.chunkSize))
        lease.bytes.fill(0)
        this.#open = { index, lease }
      }
      copyOverlap(block.index * this.blockSize, block.data, index * this.chunkSize, this.#open.lease.bytes)
    }
  }

  *flush(): Generator<DiskChunk> {
    if (this.#open !== undefined) yield this.#open
    this.#open = undefined
  }
}

/** Copies the overlap of a source span and a target span given by their absolute disk offsets. */
function copyOverlap(srcOffset: number, src: Uint8Array, dstOffset: number, dst: Buffer): void {
  const start = Math.max(srcOffset, dstOffset)
  const end = Math.min(srcOffset + src.length, dstOffset + dst.length)
  if (end > start) dst.set(src.subarray(start - srcOffset, end - srcOffset), start - dstOffset)
}
