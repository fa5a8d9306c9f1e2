// Blocks whose sector bitmap is partial. In a differencing VHD the clear sectors are the parent's: read
// through a chain they come from the parent, but a delta stream read alone (the backup's
// /export_raw_vdi?format=vhd&base=) does not have them, so such a block is refused (VHD_PARTIAL_BLOCK)
// rather than stored with zeros or stale bytes. In a dynamic VHD clear sectors read as zeros, never as
// the bytes the file happens to hold there.
import { describe, expect, it } from 'vitest'
import { bitmapOfRuns, forEachRun, isFullBitmap } from './bitmap.js'
import { VhdChain } from './chain.js'
import { openVhd } from './disk.js'
import { relativeLocators } from './locators.js'
import { chunkedSource, collectBytes, memoryAccess } from './memory-access.js'
import { openVhdStream } from './stream-reader.js'
import { planVhd, writeVhd, type VhdPlanOptions } from './writer.js'

const blockSize = 512 * 1024
const size = 4 * blockSize
const STALE = 0xab

/** A VHD of one block (index 1) full of STALE bytes whose bitmap is then cleared for sectors 8..15. */
async function partial(
  options: Partial<VhdPlanOptions> = {},
): Promise<{ bytes: Uint8Array; plan: ReturnType<typeof planVhd> }> {
  const plan = planVhd({ size, blockSize, blockIndexes: [1], timestamp: 1, ...options })
  const bytes = await collectBytes(
    writeVhd(plan, [{ index: 1, data: new Uint8Array(blockSize).fill(STALE) }]),
  )
  bytes[plan.head.length + 1] = 0 // bitmap byte 1: sectors 8..15
  return { bytes, plan }
}

const differencing = (uuid: Uint8Array) => ({
  parent: { uuid, timestamp: 1, unicodeName: 'parent.vhd', locators: relativeLocators('parent.vhd') },
})

async function streamBlocks(bytes: Uint8Array, options: { keepPartial?: boolean; reuse?: number } = {}) {
  const stream = await openVhdStream(chunkedSource(bytes, [700, 9000]), { name: 'export of VDI x' })
  const out = []
  for await (const block of stream.blocks(undefined, options))
    out.push({ ...block, data: Buffer.from(block.data) })
  return out
}

describe('partial sector bitmaps', () => {
  it('refuses a partial block of a differencing stream read alone, naming the block', async () => {
    const { bytes } = await partial(differencing(new Uint8Array(16).fill(7)))
    await expect(streamBlocks(bytes)).rejects.toMatchObject({
      code: 'VHD_PARTIAL_BLOCK',
      message: expect.stringMatching(/export of VDI x.*block 1/),
      details: { block: 1, missingSectors: 8 },
    })
    await expect(streamBlocks(bytes, { reuse: 2 })).rejects.toMatchObject({ code: 'VHD_PARTIAL_BLOCK' })
  })

  it('yields it as stored, with its bitmap, to a caller that lays it over the parent itself', async () => {
    const { bytes } = await partial(differencing(new Uint8Array(16).fill(7)))
    const [block] = await streamBlocks(bytes, { keepPartial: true })
    expect(block).toMatchObject({ index: 1, full: false })
    expect(block!.bitmap[1]).toBe(0)
    expect(block!.data.every((b) => b === STALE)).toBe(true)
  })

  it('reads the clear sectors of a dynamic block as zeros, never as the stale bytes stored there', async () => {
    const { bytes } = await partial()
    const given = bytes.slice()
    for (const reuse of [undefined, 2]) {
      const [block] = await streamBlocks(bytes, { reuse })
      expect(block!.data.subarray(0, 8 * 512).every((b) => b === STALE)).toBe(true)
      expect(block!.data.subarray(8 * 512, 16 * 512).every((b) => b === 0)).toBe(true)
      expect(block!.data.subarray(16 * 512).every((b) => b === STALE)).toBe(true)
    }
    // The input stays untouched (the zeros are the reader's, not written into the caller's bytes). Compared
    // whole: a count of STALE bytes also counts random uuid and checksum bytes that happen to equal it.
    expect(Buffer.from(bytes).equals(given)).toBe(true)
  })

  it('fills the clear sectors of a differencing block from its parent in a chain', async () => {
    const parentPlan = planVhd({ size, blockSize, blockIndexes: [1], timestamp: 1 })
    const parentData = new Uint8Array(blockSize).fill(0xcd)
    const parentBytes = await collectBytes(writeVhd(parentPlan, [{ index: 1, data: parentData }]))
    const { bytes } = await partial(differencing(parentPlan.footer.uuid))
    const chain = new VhdChain([
      await openVhd(memoryAccess(bytes, 'child.vhd')),
      await openVhd(memoryAccess(parentBytes, 'parent.vhd')),
    ])
    const block = (await chain.readBlock(1))!
    expect(block.subarray(8 * 512, 16 * 512).every((b) => b === 0xcd)).toBe(true)
    expect(block.subarray(0, 8 * 512).every((b) => b === STALE)).toBe(true)
    expect(block.subarray(16 * 512).every((b) => b === STALE)).toBe(true)
  })
})

describe('bitmapOfRuns', () => {
  it('sets exactly the sectors of each run, whole bytes and the odd sectors around them', () => {
    const runs: [number, number][] = [
      [3, 5],
      [7, 30],
      [128, 256],
      [4095, 4096],
    ]
    const bitmap = bitmapOfRuns(512, runs)
    const found: [number, number][] = []
    forEachRun(bitmap, 4096, true, (first, end) => found.push([first, end]))
    expect(found).toEqual(runs)
    expect(isFullBitmap(bitmapOfRuns(512, [[0, 4096]]), 4096)).toBe(true)
    expect(bitmapOfRuns(512, []).every((b) => b === 0)).toBe(true)
    expect(() => bitmapOfRuns(512, [[4000, 4097]])).toThrow(RangeError)
  })
})
