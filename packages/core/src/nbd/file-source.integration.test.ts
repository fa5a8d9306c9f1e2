// FileBlockSource's block status on a real sparse file: holes from the filesystem's allocation map
// (filefrag), written zeros found by reading, and a map that follows writes made after it was taken.
import { open } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '../testing/index.js'
import { readAllocationMap } from './allocation-map.js'
import { STATE_HOLE, STATE_ZERO } from './codec/constants.js'
import { FileBlockSource } from './file-source.js'

const MiB = 1024 * 1024
let scratch: Scratch

beforeAll(async () => {
  scratch = await scratchDir('strata-nbd-file-')
})
afterAll(() => scratch?.[Symbol.asyncDispose]())

describe('FileBlockSource block status', () => {
  it('reports holes, data and written zeros, and follows later writes', async () => {
    const path = scratch.path('sparse.raw')
    const file = await open(path, 'w')
    await file.truncate(8 * MiB)
    await file.write(Buffer.alloc(MiB, 0x11), 0, MiB, 2 * MiB)
    await file.write(Buffer.alloc(MiB), 0, MiB, 4 * MiB) // allocated, but zeros
    await file.close()
    const hole = (await readAllocationMap(path)) === undefined ? STATE_ZERO : STATE_HOLE | STATE_ZERO
    const source = await FileBlockSource.open(path, { writable: true })
    try {
      expect(await source.blockStatus(0, 8 * MiB)).toEqual([
        { offset: 0, length: 2 * MiB, flags: hole },
        { offset: 2 * MiB, length: MiB, flags: 0 },
        { offset: 3 * MiB, length: MiB, flags: hole },
        { offset: 4 * MiB, length: MiB, flags: STATE_ZERO },
        { offset: 5 * MiB, length: 3 * MiB, flags: hole },
      ])
      await source.write!(6 * MiB, Buffer.alloc(64 * 1024, 0xff))
      const after = await source.blockStatus(5 * MiB, 3 * MiB)
      expect(after.find((e) => e.offset <= 6 * MiB && e.offset + e.length > 6 * MiB)).toMatchObject({
        flags: 0,
      })
      expect((await source.read(6 * MiB, 4)).equals(Buffer.alloc(4, 0xff))).toBe(true)
    } finally {
      await source.close()
    }
  })
})
