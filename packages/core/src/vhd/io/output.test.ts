import { writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '../../testing/index.js'
import { collectBytes } from '../memory-access.js'
import { planVhd, writeVhd } from '../writer.js'
import { openVhdFileStream } from './file-stream.js'
import { RAW_WRITE_WINDOW, writeRawBlocks } from './output.js'

const blockSize = 512 * 1024

/**
 * A file handle whose writes finish late and record the bytes as they are when the write completes;
 * the write number `failAt` (counting from 0) fails with EIO.
 */
function slowHandle(failAt = Infinity): { handle: FileHandle; written: Map<number, Buffer> } {
  const written = new Map<number, Buffer>()
  let n = 0
  const handle = {
    async writev(buffers: Uint8Array[], position: number) {
      await new Promise((resolve) => setTimeout(resolve, 10 + (n % 5) * 5))
      if (n++ === failAt) throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })
      let at = position
      for (const data of buffers) {
        written.set(at, Buffer.from(data))
        at += data.length
      }
      return { bytesWritten: at - position, buffers }
    },
    async truncate() {},
  }
  return { handle: handle as unknown as FileHandle, written }
}

describe('writeRawBlocks over a stream with recycled buffers', () => {
  let scratch: Scratch
  beforeAll(async () => {
    scratch = await scratchDir('strata-vhd-output-')
  })
  afterAll(() => scratch[Symbol.asyncDispose]())

  it('never lets a buffer be reused while a write of it is pending', async () => {
    const count = 160
    const blocks = Array.from({ length: count }, (_, index) => ({
      index,
      // Long runs of zero blocks (skipped, not written) go by while earlier writes are still pending.
      data: index % 40 < 36 ? new Uint8Array(blockSize) : new Uint8Array(blockSize).fill(index),
    }))
    const plan = planVhd({ size: count * blockSize, blockSize, blockIndexes: blocks.map((b) => b.index) })
    const path = scratch.path('d.vhd')
    await writeFile(path, await collectBytes(writeVhd(plan, blocks)))
    const stream = await openVhdFileStream(path, { recycleAfterBlocks: RAW_WRITE_WINDOW })
    const { handle, written } = slowHandle()
    const source = (async function* () {
      for await (const b of stream.blocks()) yield { index: b.index, data: b.data }
    })()
    expect(await writeRawBlocks(handle, source, count * blockSize, blockSize)).toBe(16)
    expect(written.size).toBe(16)
    for (const [position, bytes] of written) {
      const index = position / blockSize
      expect(
        bytes.every((v) => v === index),
        `block ${index}`,
      ).toBe(true)
    }
  })

  it('merges blocks that follow on into one write and stops at the first failed write', async () => {
    const count = 12
    const source = (async function* () {
      for (let index = 0; index < count; index++)
        yield { index, data: new Uint8Array(blockSize).fill(index + 1) }
    })()
    const { handle, written } = slowHandle(1)
    await expect(writeRawBlocks(handle, source, count * blockSize, blockSize)).rejects.toThrow(/EIO/)
    // The first write took block 0 alone (nothing else was queued yet) and the second, which failed,
    // took the blocks queued behind it; nothing after the failure was written.
    expect([...written.keys()]).toEqual([0])
  })
})
