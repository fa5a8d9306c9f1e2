import { describe, expect, it } from 'vitest'
import { BufferSlab } from './buffer-slab.js'

describe('BufferSlab', () => {
  it('reuses a slab only once it is full and every view of it is released', () => {
    const slabs = new BufferSlab(4096, 4)
    const first = [1, 2, 3, 4].map(() => slabs.take(1024))
    expect(new Set(first.map((v) => v.buffer)).size).toBe(1)
    first.slice(0, 3).forEach((v) => slabs.release(v))
    const e = slabs.take(1024) // no room left: a second slab, the first still has a live view
    expect(e.buffer).not.toBe(first[0]!.buffer)
    slabs.retain(first[3]!) // a second holder of the last view
    slabs.release(first[3]!)
    ;[1, 2, 3].forEach(() => slabs.take(1024))
    expect(slabs.take(1024).buffer).not.toBe(first[0]!.buffer) // still held: not reused
    slabs.release(first[3]!)
    ;[1, 2, 3].forEach(() => slabs.take(1024))
    const reused = slabs.take(1024)
    expect(reused.buffer).toBe(first[0]!.buffer) // all views released: reused
  })

  it('hands out plain buffers for large requests and ignores views it does not know', () => {
    const slabs = new BufferSlab(4096)
    const big = slabs.take(2000)
    expect(big.length).toBe(2000)
    slabs.release(big)
    slabs.release(Buffer.alloc(10))
  })
})
