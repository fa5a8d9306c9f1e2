import { writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '../../testing/index.js'
import { collectBytes } from '../memory-access.js'
import { planVhd, writeVhd } from '../writer.js'
import { openVhdFileStream } from './file-stream.js'
import { RAW_WRITE_WINDOW, writeRawBlocks } from './output.js'

const blockSize = 512 * 1024

/** A file handle whose writes finish late and record the bytes as they are when the write completes. */
function slowHandle(): { handle: FileHandle; written: Map<number, Buffer> } {
  const written = new Map<number, Buffer>()
  let n = 0
  const handle = {
    async write(data: Uint8Array, offset: number, length: number, position: number) {
      await new Promise((resolve) => setTimeout(resolve, 10 + (n++ % 5) * 5))
      written.set(position, Buffer.from(data.subarray(offset, offset + length)))
      return { bytesWritten: length, buffer: data }
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
    for (const [position, bytes] of written) {
      const index = position / blockSize
      expect(
        bytes.every((v) => v === index),
        `block ${index}`,
      ).toBe(true)
    }
  })
})
