import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { SweepWatch, waitForSweeps } from './sweeps.js'
import { gcSweepKey } from './format/session.js'
import { encodeGcSweep } from './format/session.js'

const announce = (store: MemoryStore, run: string, deadline: number | string) =>
  store.put(
    gcSweepKey(run),
    encodeGcSweep({
      started: '',
      deadline: typeof deadline === 'string' ? deadline : new Date(deadline).toISOString(),
    }),
  )

describe('what writers know of GC sweeps', () => {
  it('counts an announcement in force until its deadline plus the delete timeout', async () => {
    const store = new MemoryStore()
    const repo = await Repository.create(store, { chunkSize: 512 * 1024 })
    const timing = { pollMs: 5, deleteTimeoutMs: 150 }
    const deadline = Date.now() - 1 // past: the GC starts no delete any more, but one may still be landing
    await announce(store, 'r-1', deadline)
    await waitForSweeps(repo, timing)
    expect(Date.now()).toBeGreaterThanOrEqual(deadline + timing.deleteTimeoutMs)
  })

  it('ignores, with one warning each, deadlines no GC announces: far ahead or unreadable', async () => {
    const store = new MemoryStore()
    const repo = await Repository.create(store, { chunkSize: 512 * 1024 })
    await announce(store, 'far-1', Date.now() + 24 * 3_600_000)
    await announce(store, 'bad-1', 'soon')
    await announce(store, 'real-1', Date.now() + 60_000)
    const warnings: string[] = []
    const watch = new SweepWatch(repo, { pollMs: 5, deleteTimeoutMs: 0 }, (m) => warnings.push(m))
    expect(await watch.inForce()).toEqual(new Set([gcSweepKey('real-1')]))
    await store.delete(gcSweepKey('real-1'))
    await watch.ended() // the other two do not hold it
    expect(warnings.length).toBe(2)
    expect(warnings.join('\n')).toMatch(/gc\/far-1\/sweep.*ignored/)
    expect(warnings.join('\n')).toMatch(/gc\/bad-1\/sweep.*unreadable/)
  })
})
