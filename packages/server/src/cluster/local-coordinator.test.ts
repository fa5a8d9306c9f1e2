// One instance alone: it leads, its ticks are its own (each due time once), its runs are nobody else's.
import { describe, expect, it } from 'vitest'
import { LocalCoordinator } from './local-coordinator.js'

describe('LocalCoordinator', () => {
  it('leads, and claims each due time of a schedule once', async () => {
    const c = new LocalCoordinator()
    await c.start()
    expect(c.isLeader()).toBe(true)
    expect(c.shared).toBe(false)
    expect(await c.claimTick('j', 's', 1000)).toBe(true)
    expect(await c.claimTick('j', 's', 1000)).toBe(false)
    expect(await c.claimTick('j', 's', 500)).toBe(false)
    expect(await c.claimTick('j', 'other', 1000)).toBe(true)
    expect(await c.lastTick('j', 's')).toBe(1000)
    expect(await c.lastTick('k', 's')).toBeUndefined()
    await expect(c.claimRun({ runId: 'r', jobId: 'j' })).resolves.toBeUndefined()
    await c.stop()
  })
})
