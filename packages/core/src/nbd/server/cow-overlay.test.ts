import { describe, expect, it } from 'vitest'
import type { BlockSource } from './block-source.js'
import { CowOverlay } from './cow-overlay.js'

/** A base that lends its buffers, as a restore point source does, and counts those not given back. */
function lendingBase(size: number): BlockSource & { outstanding: Set<Uint8Array> } {
  const outstanding = new Set<Uint8Array>()
  return {
    size,
    outstanding,
    async read(offset, length) {
      const data = new Uint8Array(length).map((_, i) => (offset + i) & 0xff)
      outstanding.add(data)
      return data
    },
    release(data) {
      outstanding.delete(data)
    },
  }
}

describe('CowOverlay', () => {
  it('gives every buffer its base lent back, whether it passed one on or copied from it', async () => {
    const base = lendingBase(1024 * 1024)
    const overlay = new CowOverlay(base)
    const before = await overlay.read(1000, 5000) // no writes yet: the base's own buffer
    overlay.release?.(before)
    await overlay.write(70_000, new Uint8Array(10).fill(0xee)) // reads its granule from the base
    const mixed = await overlay.read(60_000, 20_000) // base, then the written granule
    expect(mixed[70_000 - 60_000]).toBe(0xee)
    expect(mixed[0]).toBe(60_000 & 0xff)
    overlay.release?.(mixed)
    expect(base.outstanding.size).toBe(0)
  })
})
