// verify's progress: estimated from the listing's position in the id space, with an ETA, ending at 1.
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { verifyChunks, type VerifyProgress } from './verify.js'
import { backupDisk, makeDisk } from './testing/fixtures.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2 }

describe('verifyChunks progress', () => {
  it('reports a growing fraction with an ETA, then 1 with every chunk counted', async () => {
    const store = new MemoryStore('nas1')
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    await backupDisk(repo, makeDisk(24, CHUNK), { timing })
    const seen: VerifyProgress[] = []
    const result = await verifyChunks(repo, { onProgress: (p) => seen.push(p), progressMs: 0 })
    expect(seen.length).toBeGreaterThan(2)
    const fractions = seen.map((p) => p.fraction)
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b))
    expect(seen.some((p) => p.fraction > 0 && p.fraction < 1 && p.etaSeconds !== undefined)).toBe(true)
    expect(seen.at(-1)).toMatchObject({ fraction: 1, etaSeconds: 0, listed: result.chunks })
    expect(seen.at(-1)!.checked).toBe(result.checked)
  })

  it('keeps at most `concurrency` reads in flight and stops listing after a store failure', async () => {
    const store = new MemoryStore('nas1')
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    await backupDisk(repo, makeDisk(24, CHUNK), { timing })
    const get = store.get.bind(store)
    let inFlight = 0
    let peak = 0
    let calls = 0
    store.get = async (key, options) => {
      inFlight++
      peak = Math.max(peak, inFlight)
      try {
        await new Promise((r) => setTimeout(r, 2))
        if (key.startsWith('chunks/') && ++calls === 5) throw new Error('disk on fire')
        return await get(key, options)
      } finally {
        inFlight--
      }
    }
    await expect(verifyChunks(repo, { concurrency: 3 })).rejects.toThrow('disk on fire')
    expect(peak).toBeLessThanOrEqual(3)
    expect(calls).toBeLessThan(12)
  })
})
