import { describe, expect, it } from 'vitest'
import { LimitedStore } from './limited-store.js'
import { MemoryStore } from './memory-store.js'
import type { ObjectStore } from './object-store.js'
import { RateLimiter } from './rate-limiter.js'

/** Counts calls in flight in the store below the limiter. */
function probe(inner: ObjectStore) {
  const state = { running: 0, peak: 0 }
  const store = Object.create(inner) as ObjectStore
  store.put = async (key, data, options) => {
    state.peak = Math.max(state.peak, ++state.running)
    await new Promise((r) => setTimeout(r, 5))
    state.running--
    return inner.put(key, data, options)
  }
  return { store, state }
}

describe('LimitedStore', () => {
  it('keeps at most `concurrency` calls in flight', async () => {
    const { store, state } = probe(new MemoryStore())
    const limited = new LimitedStore(store, { concurrency: 3 })
    await Promise.all(Array.from({ length: 20 }, (_, i) => limited.put(`k${i}`, new Uint8Array(1))))
    expect(state.peak).toBe(3)
  })

  it('sends no request whose notAfter instant passed while it waited for a slot', async () => {
    const store = new MemoryStore()
    await store.put('k', new Uint8Array(1))
    const put = store.put.bind(store)
    store.put = async (key, data, options) => {
      await new Promise((r) => setTimeout(r, 5))
      return put(key, data, options)
    }
    const limited = new LimitedStore(store, { concurrency: 1 })
    const busy = limited.put('other', new Uint8Array(1)) // holds the only slot for 5 ms
    await new Promise((r) => setImmediate(r)) // once it has the slot
    const late = limited.delete('k', { notAfter: Date.now() + 1 })
    await busy
    await expect(late).rejects.toMatchObject({ code: 'DEADLINE_PASSED' })
    expect(await store.stat('k')).toBeDefined()
  })

  it('paces writes to the byte rate', async () => {
    const limited = new LimitedStore(new MemoryStore(), { writeBytesPerSecond: 100_000 })
    const start = performance.now()
    // 100 kB of burst is free, the next 30 kB cost about 300 ms.
    for (let i = 0; i < 13; i++) await limited.put(`k${i}`, new Uint8Array(10_000))
    const elapsed = performance.now() - start
    expect(elapsed).toBeGreaterThan(250)
    expect(elapsed).toBeLessThan(3000)
  })
})

describe('RateLimiter', () => {
  it('lets a burst through, then charges debt to later callers', () => {
    let now = 0
    const limiter = new RateLimiter(1000, 1000, () => now)
    expect(limiter.reserve(1000)).toBe(0)
    expect(limiter.reserve(500)).toBe(500)
    expect(limiter.reserve(500)).toBe(1000)
    now = 2000
    expect(limiter.reserve(100)).toBe(0)
  })
})
