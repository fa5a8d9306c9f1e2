import { describe, expect, it } from 'vitest'
import { BAT_UNUSED, H_CHECKSUM, H_TABLE_OFFSET } from './constants.js'
import { vhdChecksum, view } from './bytes.js'
import { VhdChain } from './chain.js'
import { openVhd } from './disk.js'
import { chunkedSource, collectBytes, memoryAccess } from './memory-access.js'
import { openVhdStream } from './stream-reader.js'
import { planVhd, writeVhd, type VhdPlanOptions } from './writer.js'

const MiB = 1024 * 1024
const blockSize = 512 * 1024

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function bytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed | 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

async function build(options: VhdPlanOptions, content: Map<number, Uint8Array>): Promise<Uint8Array> {
  const plan = planVhd(options)
  const blocks = [...plan.blockIndexes].map((index) => ({ index, data: content.get(index)! }))
  const out = await collectBytes(writeVhd(plan, blocks))
  expect(out.length).toBe(plan.length)
  return out
}

// A 2.25 MiB disk of 512 KiB blocks: blocks 0 and 3 hold data, the last (4) is a short one.
const size = 2 * MiB + 256 * 1024
const content = new Map([
  [0, bytes(blockSize, 1)],
  [3, bytes(blockSize, 2)],
  [4, bytes(256 * 1024, 3)],
])
const base = { size, blockSize, blockIndexes: [0, 3, 4], timestamp: 1 }

function expectBlock(actual: Uint8Array | undefined, index: number): void {
  const expected = new Uint8Array(blockSize)
  expected.set(content.get(index) ?? new Uint8Array(0))
  expect(Buffer.compare(actual ?? new Uint8Array(blockSize), expected)).toBe(0)
}

describe('writer and readers', () => {
  it('stream reader yields every written block, whatever the chunking', async () => {
    const vhd = await build(base, content)
    for (const sizes of [[1, 7, 513], [4096], [vhd.length], [100_000, 3]]) {
      // With `reuse`, blocks gathered from several chunks share buffers: each is checked in its turn.
      for (const [reuse, shared] of [
        [undefined, false],
        [1, false],
        [1, true],
      ] as const) {
        const stream = await openVhdStream(chunkedSource(vhd, sizes))
        expect(stream.footer.diskType).toBe('dynamic')
        expect([...stream.blockOrder]).toEqual([0, 3, 4])
        const seen: number[] = []
        const allocated: number[] = []
        const allocate = shared
          ? (length: number) => (allocated.push(length), new Uint8Array(new SharedArrayBuffer(length)))
          : undefined
        for await (const block of stream.blocks(undefined, { reuse, allocate })) {
          expect(block.full).toBe(true)
          expectBlock(block.data, block.index)
          // Gathered from several source chunks into the reused buffers, which `allocate` put in shared memory.
          if (sizes.length > 1 || sizes[0]! < block.data.length)
            expect(block.data.buffer instanceof SharedArrayBuffer).toBe(shared)
          seen.push(block.index)
        }
        expect(seen).toEqual([0, 3, 4])
        // The ring's buffers, from the caller, once each: reuse + 1 of them for three blocks.
        expect(allocated).toEqual(shared ? [base.blockSize, base.blockSize] : [])
      }
    }
  })

  it('exposes the BAT before any block is read, then closes the source', async () => {
    const vhd = await build(base, content)
    let returned = false
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield* chunkedSource(vhd, [4096])
      } finally {
        returned = true
      }
    }
    const stream = await openVhdStream(source())
    expect(stream.bat[1]).toBe(BAT_UNUSED)
    expect(stream.bat[0]).not.toBe(BAT_UNUSED)
    await stream.close()
    expect(returned).toBe(true)
  })

  it('an abort ends the read of a stalled stream at once', async () => {
    const vhd = await build(base, content)
    async function* stalled(): AsyncGenerator<Uint8Array> {
      yield vhd.subarray(0, 600_000)
      await new Promise(() => undefined) // the sender stops sending, the connection stays open
    }
    const controller = new AbortController()
    const stream = await openVhdStream(stalled(), { signal: controller.signal })
    setTimeout(() => controller.abort(new Error('timeout')), 20)
    const drain = async (): Promise<void> => {
      for await (const _ of stream.blocks(controller.signal));
    }
    await expect(drain()).rejects.toMatchObject({ code: 'ABORTED' })
  })

  it('random-access reader reads the same blocks', async () => {
    const disk = await openVhd(memoryAccess(await build(base, content)))
    expect(disk.allocatedBlocks).toBe(3)
    for (let i = 0; i < disk.blockCount; i++) expectBlock((await disk.readBlock(i))?.data, i)
  })

  it('a differencing disk over its parent reads as the new disk, sector by sector', async () => {
    const parentBytes = await build({ ...base, uuid: new Uint8Array(16).fill(7) }, content)
    const parent = await openVhd(memoryAccess(parentBytes), { name: 'parent' })
    const changed = bytes(blockSize, 9)
    const childBytes = await build(
      {
        size,
        blockSize,
        blockIndexes: [3],
        parent: { uuid: parent.footer.uuid, timestamp: parent.footer.timestamp, unicodeName: 'parent.vhd' },
      },
      new Map([[3, changed]]),
    )
    // Clear the bitmap bits of the child's first 8 sectors of block 3: those must come from the parent.
    const child = await openVhd(memoryAccess(childBytes), { name: 'child' })
    childBytes[child.bat![3]! * 512] = 0
    const chain = new VhdChain([child, parent])
    const block3 = (await chain.readBlock(3))!
    expect(Buffer.compare(block3.subarray(0, 4096), content.get(3)!.subarray(0, 4096))).toBe(0)
    expect(Buffer.compare(block3.subarray(4096), changed.subarray(4096))).toBe(0)
    expectBlock(await chain.readBlock(0), 0)
    expect(await chain.readBlock(1)).toBeUndefined()
  })

  it('refuses a chain whose parent UUID does not match', async () => {
    const parent = await openVhd(memoryAccess(await build(base, content)), { name: 'other' })
    const child = await openVhd(
      memoryAccess(
        await build(
          {
            size,
            blockSize,
            blockIndexes: [],
            parent: { uuid: new Uint8Array(16), timestamp: 0, unicodeName: 'p' },
          },
          new Map(),
        ),
      ),
    )
    expect(() => new VhdChain([child, parent])).toThrow(
      expect.objectContaining({ code: 'VHD_PARENT_MISMATCH' }),
    )
    expect(() => new VhdChain([child])).toThrow(expect.objectContaining({ code: 'VHD_PARENT_NOT_FOUND' }))
  })

  it('refuses blocks that do not match the plan', async () => {
    const plan = planVhd(base)
    const wrong = writeVhd(plan, [{ index: 3, data: content.get(3)! }])
    await expect(collectBytes(wrong)).rejects.toMatchObject({ code: 'VHD_WRITER_INPUT' })
    expect(() => planVhd({ ...base, blockIndexes: [3, 0] })).toThrow(
      expect.objectContaining({ code: 'VHD_WRITER_INPUT' }),
    )
  })
})

describe('typed errors on bad input', () => {
  const batEntry = (vhd: Uint8Array, index: number): number => 1536 + index * 4

  it('a stream cut anywhere is VHD_TRUNCATED', async () => {
    const vhd = await build(base, content)
    for (const cut of [0, 100, 511, 600, 1536, 1540, 3000, vhd.length - 600_000, vhd.length - 1]) {
      const run = async (): Promise<void> => {
        const stream = await openVhdStream(chunkedSource(vhd.subarray(0, cut), [999]))
        for await (const _ of stream.blocks());
      }
      await expect(run()).rejects.toMatchObject({ code: 'VHD_TRUNCATED' })
    }
  })

  it('a BAT entry past the end of the file is VHD_BAT_OUT_OF_RANGE', async () => {
    const vhd = await build(base, content)
    view(vhd).setUint32(batEntry(vhd, 1), vhd.length / 512)
    await expect(openVhd(memoryAccess(vhd))).rejects.toMatchObject({ code: 'VHD_BAT_OUT_OF_RANGE' })
  })

  it('two BAT entries sharing bytes are VHD_BAT_OVERLAP, in files and streams', async () => {
    const vhd = await build(base, content)
    view(vhd).setUint32(batEntry(vhd, 1), view(vhd).getUint32(batEntry(vhd, 0)) + 1)
    await expect(openVhd(memoryAccess(vhd))).rejects.toMatchObject({ code: 'VHD_BAT_OVERLAP' })
    await expect(openVhdStream(chunkedSource(vhd))).rejects.toMatchObject({ code: 'VHD_BAT_OVERLAP' })
  })

  it('a block behind the BAT is VHD_BLOCK_ORDER in a stream, VHD_BAT_OVERLAP in a file', async () => {
    const vhd = await build(base, content)
    view(vhd).setUint32(batEntry(vhd, 1), 1) // sector 1: the header
    await expect(openVhdStream(chunkedSource(vhd))).rejects.toMatchObject({ code: 'VHD_BLOCK_ORDER' })
    await expect(openVhd(memoryAccess(vhd))).rejects.toMatchObject({ code: 'VHD_BAT_OVERLAP' })
  })

  it('a BAT placed before the header cannot be streamed: VHD_BLOCK_ORDER', async () => {
    const vhd = await build(base, content)
    view(vhd).setBigUint64(512 + H_TABLE_OFFSET, 0n)
    view(vhd).setUint32(512 + H_CHECKSUM, vhdChecksum(vhd.subarray(512, 1536), H_CHECKSUM))
    await expect(openVhdStream(chunkedSource(vhd))).rejects.toMatchObject({ code: 'VHD_BLOCK_ORDER' })
  })

  it('a corrupted header is VHD_BAD_CHECKSUM', async () => {
    const vhd = await build(base, content)
    vhd[600]! ^= 0x10
    await expect(openVhdStream(chunkedSource(vhd))).rejects.toMatchObject({ code: 'VHD_BAD_CHECKSUM' })
    await expect(openVhd(memoryAccess(vhd))).rejects.toMatchObject({ code: 'VHD_BAD_CHECKSUM' })
  })

  it('a damaged trailing footer fails strict opening and is reported by lenient opening', async () => {
    const vhd = await build(base, content)
    vhd[vhd.length - 512 + 100]! ^= 0x01
    await expect(openVhd(memoryAccess(vhd))).rejects.toMatchObject({ code: 'VHD_BAD_CHECKSUM' })
    const disk = await openVhd(memoryAccess(vhd), { strict: false })
    expect(disk.checks).toEqual({ footer: false, footerCopy: true, header: true, footersMatch: true })
    expectBlock((await disk.readBlock(3))?.data, 3)
  })

  it('a trailing footer of another disk is VHD_FOOTER_MISMATCH', async () => {
    const vhd = await build(base, content)
    const other = await build({ ...base, uuid: new Uint8Array(16).fill(1) }, content)
    vhd.set(other.subarray(other.length - 512), vhd.length - 512)
    const stream = await openVhdStream(chunkedSource(vhd))
    const drain = async (): Promise<void> => {
      for await (const _ of stream.blocks());
    }
    await expect(drain()).rejects.toMatchObject({ code: 'VHD_FOOTER_MISMATCH' })
    await expect(openVhd(memoryAccess(vhd))).rejects.toMatchObject({ code: 'VHD_FOOTER_MISMATCH' })
  })
})
