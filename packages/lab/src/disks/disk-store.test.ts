import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { DirectWrites } from '@strata/core/shared'
import { scratchDir, type Scratch } from '@strata/core/testing'
import { DIRECT_DEPTH } from './direct-pool.js'
import { BLOCK_SIZE, DiskFullError, DiskStore } from './disk-store.js'

describe('DiskStore', () => {
  let scratch: Scratch
  let store: DiskStore
  beforeEach(async () => {
    scratch = await scratchDir()
    store = new DiskStore(scratch.dir)
  })
  afterEach(async () => {
    await store.close()
    await scratch[Symbol.asyncDispose]()
  })

  it('keeps concurrent writes to one unallocated block (copy-up is serialised)', async () => {
    await store.create('vdi', 4 * BLOCK_SIZE)
    await store.write('vdi', 0, Buffer.alloc(BLOCK_SIZE, 1))
    await store.branch('vdi', 'snap')
    await Promise.all(
      Array.from({ length: 16 }, (_, i) => store.write('vdi', i * 4096, Buffer.alloc(4096, 2 + i))),
    )
    const data = await store.read('vdi', 0, 16 * 4096)
    for (let i = 0; i < 16; i++) expect(data[i * 4096]).toBe(2 + i)
    expect((await store.read('snap', 0, 4096))[0]).toBe(1)
  })

  it('reports the blocks that differ between two branches of a chain', async () => {
    await store.create('vdi', 4 * BLOCK_SIZE)
    await store.write('vdi', BLOCK_SIZE, Buffer.from('a'))
    await store.branch('vdi', 'base')
    await store.write('vdi', 3 * BLOCK_SIZE, Buffer.from('b'))
    await store.branch('vdi', 'next')
    expect(store.allocated('next')).toEqual([1, 3])
    expect(store.difference('next', 'base')).toEqual([3])
    expect(store.related('next', 'base')).toBe(true)
  })

  it('copies a block up only when a parent holds it and the write does not cover it', async () => {
    await store.create('vdi', 3 * BLOCK_SIZE + 4096)
    await store.write('vdi', 0, Buffer.alloc(BLOCK_SIZE, 1))
    await store.branch('vdi', 'snap')
    await store.write('vdi', 0, Buffer.alloc(BLOCK_SIZE, 7)) // whole block over a parent's
    await store.write('vdi', BLOCK_SIZE + 10, Buffer.from('x')) // partial, nobody holds it
    await store.write('vdi', 3 * BLOCK_SIZE, Buffer.alloc(4096, 3)) // the short last block, whole
    const data = await store.read('vdi', 0, 3 * BLOCK_SIZE + 4096)
    expect(data.subarray(0, BLOCK_SIZE).every((b) => b === 7)).toBe(true)
    expect(data[BLOCK_SIZE + 10]).toBe(0x78)
    expect(data.subarray(BLOCK_SIZE, 3 * BLOCK_SIZE).filter((b) => b !== 0).length).toBe(1)
    expect(data.subarray(3 * BLOCK_SIZE).every((b) => b === 3)).toBe(true)
    expect((await store.read('snap', 0, BLOCK_SIZE)).every((b) => b === 1)).toBe(true)
    await store.branch('vdi', 'snap2')
    await store.write('vdi', 100, Buffer.from('y')) // partial over a parent's: the rest is kept
    const after = await store.read('vdi', 0, BLOCK_SIZE)
    expect(after[100]).toBe(0x79)
    expect(after.filter((b) => b !== 7).length).toBe(1)
  })

  it('keeps several whole-block direct writes in flight, each block landing in the order written', async () => {
    const original = DirectWrites.prototype.write
    let running = 0
    let most = 0
    const spy = vi.spyOn(DirectWrites.prototype, 'write').mockImplementation(async function (
      this: DirectWrites,
      data,
      position,
    ) {
      most = Math.max(most, ++running)
      try {
        await new Promise((resolve) => setTimeout(resolve, 20)) // a device with some latency
        return await original.call(this, data, position)
      } finally {
        running--
      }
    })
    try {
      await store.create('vdi', 8 * BLOCK_SIZE)
      const writes = Array.from({ length: 8 }, (_, i) =>
        store.write('vdi', (i % 6) * BLOCK_SIZE, Buffer.alloc(BLOCK_SIZE, 1 + i), { direct: true }),
      )
      await Promise.all(writes)
      // A partial write after them sees every block they wrote.
      await store.write('vdi', 5 * BLOCK_SIZE + 1, Buffer.from([99]))
      expect(spy).toHaveBeenCalled() // the file system took direct I/O: the test says something
      expect(most).toBe(DIRECT_DEPTH)
      const data = await store.read('vdi', 0, 6 * BLOCK_SIZE)
      // Blocks 0 and 1 were written twice: the later write won.
      const first = [7, 8, 3, 4, 5, 6]
      for (let b = 0; b < 6; b++) expect(data[b * BLOCK_SIZE + 4096]).toBe(first[b])
      expect(data[5 * BLOCK_SIZE + 1]).toBe(99)
      expect(data[5 * BLOCK_SIZE]).toBe(6)
      // Once the import is done, its handles (and their buffers) are let go; a later write opens anew.
      const closed = vi.spyOn(DirectWrites.prototype, 'close')
      await store.idle('vdi')
      expect(closed).toHaveBeenCalledTimes(DIRECT_DEPTH)
      closed.mockRestore()
      await store.write('vdi', 0, Buffer.alloc(BLOCK_SIZE, 9), { direct: true })
      expect((await store.read('vdi', 0, 1))[0]).toBe(9)
    } finally {
      spy.mockRestore()
    }
  })

  it('counts the blocks of direct writes in flight against the SR limit', async () => {
    store.limitOf = (group) => (group === 'sr' ? 2 * BLOCK_SIZE : undefined)
    await store.create('vdi', 8 * BLOCK_SIZE, 'sr')
    const outcomes = await Promise.allSettled(
      Array.from({ length: 4 }, (_, i) =>
        store.write('vdi', i * BLOCK_SIZE, Buffer.alloc(BLOCK_SIZE, 1), { direct: true }),
      ),
    )
    const refused = outcomes.filter((o) => o.status === 'rejected')
    expect(refused.map((o) => (o as PromiseRejectedResult).reason)).toEqual([
      expect.any(DiskFullError),
      expect.any(DiskFullError),
    ])
    expect(store.groupBytes('sr')).toBe(2 * BLOCK_SIZE)
    // Overwriting a block already held needs no room.
    await store.write('vdi', 0, Buffer.alloc(BLOCK_SIZE, 2), { direct: true })
    expect((await store.read('vdi', 0, 1))[0]).toBe(2)
  })
})
