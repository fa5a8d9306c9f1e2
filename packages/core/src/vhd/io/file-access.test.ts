import { appendFile, writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '../../testing/index.js'
import { readFileChunks } from './file-access.js'

describe('readFileChunks', () => {
  let scratch: Scratch
  const data = Buffer.alloc(1_000_003)
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) >>> 5
  beforeAll(async () => {
    scratch = await scratchDir('strata-file-chunks-')
    await writeFile(scratch.path('f'), data)
  })
  afterAll(() => scratch[Symbol.asyncDispose]())

  const cases = [
    { chunkSize: 65536 },
    { chunkSize: 65536, readAhead: 3 },
    { chunkSize: 4096, readAhead: 4, recycle: 7 },
    { chunkSize: 100_000, firstChunkSize: 777, readAhead: 2, recycle: 5 },
    { chunkSize: 2_000_000, readAhead: 2 },
  ]
  it.each(cases)('yields the file in order, whole, with %o', async (options) => {
    const parts: Buffer[] = []
    // Copies, because recycled buffers are overwritten a few chunks later.
    for await (const chunk of readFileChunks(scratch.path('f'), options)) parts.push(Buffer.from(chunk))
    expect(Buffer.concat(parts).equals(data)).toBe(true)
    expect(parts[0]!.length).toBe(Math.min(data.length, options.firstChunkSize ?? options.chunkSize))
  })

  it('reads on past the size seen at open when the file grows meanwhile', async () => {
    const path = scratch.path('growing')
    await writeFile(path, data.subarray(0, 300_000))
    const parts: Buffer[] = []
    for await (const chunk of readFileChunks(path, { chunkSize: 65536, readAhead: 3 })) {
      if (parts.length === 0) await appendFile(path, data.subarray(300_000))
      parts.push(Buffer.from(chunk))
    }
    expect(Buffer.concat(parts).equals(data)).toBe(true)
  })

  it('stops reading when the consumer stops', async () => {
    for await (const chunk of readFileChunks(scratch.path('f'), { chunkSize: 4096, readAhead: 4 })) {
      expect(chunk.length).toBe(4096)
      break
    }
  })
})
