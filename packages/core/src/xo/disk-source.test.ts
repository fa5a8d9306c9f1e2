// XoDiskSource: an XO disk's blocks cut or joined into chunks of any size, holes only where asked for,
// skipped chunks never delivered.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { ChunkRequest } from '../disks/index.js'
import type { BlocksOptions, XoDisk, XoDiskBlock } from './disk.js'
import { XoDiskSource } from './disk-source.js'

const BLOCK = 64 * 1024

/** A disk of `size` bytes whose `present` blocks hold random bytes (the rest reads as zeros). */
function memoryDisk(size: number, present: number[]): { disk: XoDisk; image: Buffer } {
  const image = Buffer.alloc(size)
  const blocks = new Map<number, Uint8Array>()
  for (const i of present) {
    const data = randomBytes(BLOCK)
    blocks.set(i, data)
    image.set(data.subarray(0, Math.min(BLOCK, size - i * BLOCK)), i * BLOCK)
  }
  const disk: XoDisk = {
    description: 'memory disk',
    size,
    blockSize: BLOCK,
    presentBlocks: async () => present,
    async *blocks(o?: BlocksOptions): AsyncGenerator<XoDiskBlock> {
      for (const index of present)
        if (o?.only === undefined || o.only.includes(index)) yield { index, data: blocks.get(index)! }
    },
  }
  return { disk, image }
}

async function collect(source: XoDiskSource, request: Partial<ChunkRequest> & { chunkSize: number }) {
  const out = new Map<number, Buffer | undefined>()
  const full = { needed: [], complete: false, signal: new AbortController().signal, ...request }
  for await (const chunk of source.chunks(full)) {
    expect(out.has(chunk.index)).toBe(false)
    out.set(chunk.index, chunk.lease && Buffer.from(chunk.lease.bytes))
    chunk.lease?.release()
  }
  return out
}

describe('XoDiskSource', () => {
  const size = 10 * BLOCK + 1000 // a short last block
  const present = [0, 3, 4, 10]

  it.each([16 * 1024, BLOCK, 3 * BLOCK, 256 * 1024])(
    'cuts blocks into chunks of %i bytes',
    async (chunkSize) => {
      const { disk, image } = memoryDisk(size, present)
      const source = new XoDiskSource(disk)
      const chunks = await collect(source, { chunkSize })
      const count = Math.ceil(size / chunkSize)
      const rebuilt = Buffer.alloc(size)
      for (const [i, bytes] of chunks) {
        expect(bytes!.length).toBe(Math.min(chunkSize, size - i * chunkSize))
        rebuilt.set(bytes!, i * chunkSize)
      }
      expect(rebuilt.equals(image)).toBe(true)
      // Only chunks some block touches are read; the others are not delivered at all.
      const touched = new Set<number>()
      for (const b of present) {
        const last = Math.floor(((b + 1) * BLOCK - 1) / chunkSize)
        for (let c = Math.floor((b * BLOCK) / chunkSize); c <= last; c++) touched.add(c)
      }
      expect([...chunks.keys()].every((i) => touched.has(i) && i < count)).toBe(true)
      expect(source.outcome).toMatchObject({ chunks: chunks.size, holes: 0 })
    },
  )

  it('delivers holes for every chunk when complete, for the needed ones otherwise, and never a skipped one', async () => {
    const { disk } = memoryDisk(size, present)
    const complete = await collect(new XoDiskSource(disk), {
      chunkSize: BLOCK,
      complete: true,
      skip: new Set([3, 5]),
    })
    expect([...complete.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 4, 6, 7, 8, 9, 10])
    expect(complete.get(1)).toBeUndefined()
    const needed = await collect(new XoDiskSource(disk), { chunkSize: BLOCK, needed: [1, 4] })
    expect([...needed.keys()].sort((a, b) => a - b)).toEqual([0, 1, 3, 4, 10])
    expect(needed.get(1)).toBeUndefined()
  })

  it('over a base, reads whole only the chunks the changed blocks touch', async () => {
    const { disk, image } = memoryDisk(size, present)
    const chunkSize = 3 * BLOCK
    const source = new XoDiskSource(disk, { changed: [3] })
    const chunks = await collect(source, { chunkSize, needed: [3] })
    // Block 3 lies in chunk 1 (blocks 3 to 5, 4 present too); chunk 3 is needed and holds block 10.
    expect([...chunks.keys()].sort()).toEqual([1, 3])
    expect(chunks.get(1)!.equals(image.subarray(chunkSize, 2 * chunkSize))).toBe(true)
    expect(chunks.get(3)!.equals(image.subarray(3 * chunkSize))).toBe(true)
    expect(source.outcome).toMatchObject({ path: 'xo-chain-delta', chunks: 2, holes: 0 })
  })
})
