import { describe, expect, it } from 'vitest'
import { SharedMemory, sizeClass } from './shared-memory.js'

describe('shared memory', () => {
  it('rounds lengths up to four classes per power of two, at least 4 KiB', () => {
    expect([0, 1, 4096].map(sizeClass)).toEqual([4096, 4096, 4096])
    expect(sizeClass(4097)).toBe(5120)
    expect(sizeClass(2 << 20)).toBe(2 << 20)
    expect(sizeClass((2 << 20) + 1)).toBe(2.5 * (1 << 20))
    expect(sizeClass(3 << 20)).toBe(3 << 20)
    for (let n = 4097; n < 1 << 24; n = Math.ceil(n * 1.37)) {
      expect(sizeClass(n)).toBeGreaterThanOrEqual(n)
      expect(sizeClass(n)).toBeLessThanOrEqual(n * 1.25)
    }
  })

  it('reuses what was given back, for any length of the same class, and makes no more', () => {
    const memory = new SharedMemory()
    const first = memory.take(2 << 20)
    expect(first.buffer).toBeInstanceOf(SharedArrayBuffer)
    expect(first.length).toBe(2 << 20)
    memory.give(first)
    // A disk's short last chunk, then a whole one: the same memory each time.
    const tail = memory.take((2 << 20) - 512)
    expect(tail.buffer === first.buffer).toBe(true)
    expect(tail.length).toBe((2 << 20) - 512)
    const other = memory.take(2 << 20)
    expect(other.buffer === first.buffer).toBe(false)
    memory.give(tail)
    memory.give(other.subarray(100, 200)) // any view of a lent buffer gives it back
    expect(memory.stats).toEqual({ made: 2 * (2 << 20), free: 2 * (2 << 20) })
    // A thousand readers one after the other, two buffers each: still the same two buffers.
    for (let i = 0; i < 1000; i++) {
      const held = [memory.take(2 << 20), memory.take(2 << 20)]
      held.forEach((b) => memory.give(b))
    }
    expect(memory.stats).toEqual({ made: 2 * (2 << 20), free: 2 * (2 << 20) })
  })

  it('refuses memory it did not lend, or lent and got back already', () => {
    const memory = new SharedMemory()
    const bytes = memory.take(10_000)
    memory.give(bytes)
    expect(() => memory.give(bytes)).toThrow(expect.objectContaining({ code: 'SHARED_MEMORY_NOT_LENT' }))
    expect(() => memory.give(new Uint8Array(new SharedArrayBuffer(8192)))).toThrow(
      expect.objectContaining({ code: 'SHARED_MEMORY_NOT_LENT' }),
    )
    expect(() => memory.give(new Uint8Array(8192))).toThrow(/not lent by it/)
    expect(memory.stats.free).toBe(10_240) // its class: 5 × 2 KiB
    expect(() => memory.take(-1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }))
  })
})
