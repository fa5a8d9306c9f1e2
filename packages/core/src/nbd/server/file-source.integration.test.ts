// FileBlockSource's block status on a real sparse file: holes from the filesystem's allocation map
// (filefrag), written zeros found by reading, and a map that follows writes made after it was taken.
import { randomBytes } from 'node:crypto'
import { open, writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { scratchDir, type Scratch } from '../../testing/index.js'
import { readAllocationMap } from './allocation-map.js'
import { STATE_HOLE, STATE_ZERO } from '../codec/constants.js'
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

describe('FileBlockSource reads', () => {
  it('serves sequential and scattered reads with the file bytes, read ahead or not', async () => {
    const path = scratch.path('random.raw')
    const content = randomBytes(9 * MiB + 4096)
    await writeFile(path, content)
    const source = await FileBlockSource.open(path)
    try {
      const check = async (offset: number, length: number): Promise<void> => {
        const data = await source.read(offset, length)
        expect(data.equals(content.subarray(offset, offset + length)), `${offset}+${length}`).toBe(true)
        source.release(data)
      }
      // Sequential 256 KiB requests, several in flight, as nbdcopy sends them (read ahead by units).
      const step = 256 * 1024
      for (let at = 0; at < content.length; at += 8 * step) {
        const batch = []
        for (let k = 0; k < 8 && at + k * step < content.length; k++)
          batch.push(check(at + k * step, Math.min(step, content.length - at - k * step)))
        await Promise.all(batch)
      }
      // Across unit boundaries, odd sizes, and backwards.
      for (const [offset, length] of [
        [2 * MiB - 4096, 8192],
        [6 * MiB, 3 * MiB],
        [9 * MiB, 4096],
        [512, 512],
        [5 * MiB + 512, 3 * MiB - 1024],
      ] as const)
        await check(offset, length)
    } finally {
      await source.close()
    }
  })

  it('never serves bytes older than a write, even from a unit read ahead before it', async () => {
    const path = scratch.path('rewritten.raw')
    const content = randomBytes(8 * MiB)
    await writeFile(path, content)
    const source = await FileBlockSource.open(path, { writable: true })
    try {
      const step = 256 * 1024
      // Sequential reads make the source read the next units ahead.
      for (let at = 0; at < 2 * MiB; at += step) source.release(await source.read(at, step))
      const fresh = Buffer.alloc(step, 0xab)
      await source.write!(2 * MiB + step, fresh)
      const got = await source.read(2 * MiB + step, step)
      expect(got.equals(fresh)).toBe(true)
      source.release(got)
      // A write while a unit is being read ahead: the unit read must not be cached.
      const reading = source.read(4 * MiB, step) // not sequential: exact
      const ahead = source.read(4 * MiB + step, step) // sequential: reads units 4-6 MiB ahead
      await source.write!(6 * MiB + step, fresh)
      source.release(await reading)
      source.release(await ahead)
      for (let at = 4 * MiB + 2 * step; at < 8 * MiB; at += step) {
        const data = await source.read(at, step)
        const expected = at === 6 * MiB + step ? fresh : content.subarray(at, at + step)
        expect(data.equals(expected), `at ${at}`).toBe(true)
        source.release(data)
      }
    } finally {
      await source.close()
    }
  })
})

describe('FileBlockSource answers from memory', () => {
  it('answers block status and reads at once exactly when what the slow path would return is in memory', async () => {
    const path = scratch.path('now.raw')
    const file = await open(path, 'w')
    await file.truncate(16 * MiB)
    const data = randomBytes(6 * MiB)
    data.fill(0, 3 * MiB, 3 * MiB + 128 * 1024) // written zeros inside the data
    await file.write(data, 0, data.length, 4 * MiB)
    await file.close()
    const source = await FileBlockSource.open(path)
    const twin = await FileBlockSource.open(path) // the same requests, always down the slow path
    try {
      expect(source.blockStatusNow(0, 256 * 1024)).toBeUndefined() // no allocation map yet
      expect(source.readNow(4 * MiB, 4096)).toBeUndefined() // nothing read yet
      // nbdcopy's pattern: block status for 256 KiB, then a read of its data, sequentially.
      const step = 256 * 1024
      let fast = 0
      for (let at = 0; at < 16 * MiB; at += step) {
        const now = source.blockStatusNow(at, step)
        if (now !== undefined) fast++
        const extents = now ?? (await source.blockStatus(at, step))
        expect(extents, `status at ${at}`).toEqual(await twin.blockStatus(at, step))
        if (extents.every((e) => e.flags !== 0)) continue
        const got = source.readNow(at, step) ?? (await source.read(at, step))
        const expected = await twin.read(at, step)
        expect(Buffer.from(got).equals(expected), `read at ${at}`).toBe(true)
        source.release(got)
        twin.release(expected)
      }
      // Read ahead keeps the sequential stream in memory: most answers come at once.
      expect(fast).toBeGreaterThan(32)
    } finally {
      await source.close()
      await twin.close()
    }
  })
})
