// A disk of an XO restore point, the shape its consumers (a file, a VDI, later an import into a
// repository) read: its size, which blocks hold data, and their bytes in order. A delta chain also
// reads any block at random; an XVA is read front to back.
import { StrataError } from '../shared/index.js'
import type { VhdChain } from '../vhd/index.js'

export interface XoDiskBlock {
  readonly index: number
  /** `blockSize` bytes; past the disk's size, padding. */
  readonly data: Uint8Array
}

export interface BlocksOptions {
  readonly signal?: AbortSignal
  /** Blocks read ahead at once (random-access disks). Default 8. */
  readonly parallel?: number
  /** Only these of the present blocks, ascending (random-access disks; others read them all). */
  readonly only?: readonly number[]
}

export interface XoDisk {
  /** Names the disk in messages. */
  readonly description: string
  /** Virtual size in bytes. */
  readonly size: number
  readonly blockSize: number
  /** Blocks that may hold data, ascending; the others read as zeros. May read the whole source (XVA). */
  presentBlocks(signal?: AbortSignal): Promise<readonly number[]>
  /** The present blocks, ascending. */
  blocks(options?: BlocksOptions): AsyncGenerator<XoDiskBlock>
  /** One block at random, undefined when it reads as zeros (delta chains; absent for XVAs). */
  readBlock?(index: number, signal?: AbortSignal): Promise<Uint8Array | undefined>
}

/** A delta chain as an XoDisk: blocks composed newest member first, read ahead in parallel. */
export class ChainDisk implements XoDisk {
  constructor(
    readonly chain: VhdChain,
    readonly description: string,
    /** The members' paths in the remote, tip first (as `chain.disks`). */
    readonly paths: readonly string[] = [],
  ) {}

  get size(): number {
    return this.chain.size
  }

  get blockSize(): number {
    return this.chain.blockSize
  }

  async presentBlocks(): Promise<readonly number[]> {
    const count = this.chain.blockCount
    const present = new Uint8Array(count)
    for (const disk of this.chain.disks) {
      for (let i = 0; i < count; i++) if (present[i] === 0 && disk.hasBlock(i)) present[i] = 1
    }
    const out: number[] = []
    present.forEach((bit, i) => bit === 1 && out.push(i))
    return out
  }

  /**
   * The blocks written by the members newer than the one at `path` (what changed since the point whose
   * VHD that is), or undefined when `path` is not in this chain.
   */
  changedSince(path: string): number[] | undefined {
    const depth = this.paths.indexOf(path)
    if (depth < 0) return undefined
    const out: number[] = []
    for (let i = 0; i < this.chain.blockCount; i++) {
      if (this.chain.disks.slice(0, depth).some((d) => d.hasBlock(i))) out.push(i)
    }
    return out
  }

  readBlock(index: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    return this.chain.readBlock(index, signal).catch((error: unknown) => {
      throw named(error, this.description)
    })
  }

  async *blocks(options: BlocksOptions = {}): AsyncGenerator<XoDiskBlock> {
    const present = await this.presentBlocks()
    const only = options.only === undefined ? undefined : new Set(options.only)
    const indexes = only === undefined ? present : present.filter((i) => only.has(i))
    const parallel = Math.max(1, options.parallel ?? 8)
    const window: Promise<XoDiskBlock>[] = []
    let next = 0
    const start = (): void => {
      const index = indexes[next++]!
      const read = this.readBlock(index, options.signal).then((data) => ({
        index,
        data: data ?? new Uint8Array(this.blockSize),
      }))
      read.catch(() => {}) // observed when taken from the window
      window.push(read)
    }
    while (next < indexes.length && window.length < parallel) start()
    while (window.length > 0) {
      const block = await window.shift()!
      if (next < indexes.length) start()
      yield block
    }
  }
}

/** The error, its message prefixed with the disk it happened on (a fresh error of one read). */
function named(error: unknown, description: string): unknown {
  if (error instanceof StrataError && error.code !== 'ABORTED')
    error.message = `${description}: ${error.message}`
  return error
}
