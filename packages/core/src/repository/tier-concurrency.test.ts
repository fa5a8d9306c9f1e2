import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { PointWriter } from './point-writer.js'
import { checkRepository } from './check.js'
import { collectGarbage } from './gc.js'
import { addTier, attachColdTier } from './tier.js'
import { moveToCold } from './tier-move.js'
import { chunkKey } from './format/layout.js'
import { backupDisk, makeDisk, restoreDisk } from './testing/fixtures.js'
import { DAY_MS, pointIds } from './testing/tiers.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2, checkWindowMs: 20 }

describe('the cold tier beside a running backup', () => {
  it('a backup that borrowed a chunk the mover then took from hot commits, restores, and gets it back', async () => {
    const hot = new MemoryStore('hot')
    const cold = new MemoryStore('cold')
    const repo = await Repository.create(hot, { chunkSize: CHUNK })
    await addTier(repo, { cold: 'cold', olderThanSeconds: 30 * 86_400 }, cold)
    await attachColdTier(repo, async () => cold)
    const disk = makeDisk(6, CHUNK)
    const old = await backupDisk(repo, disk, { timing, time: new Date(Date.now() - 40 * DAY_MS) })
    await new Promise((r) => setTimeout(r, 5))

    // The backup stores the same disk (borrowing every chunk) after the mover read the sessions, and
    // before it lists the hot chunks: the mover does not know about it and moves them all.
    const writer = await PointWriter.begin(repo, { vm: 'vm-2', timing })
    const list = hot.list.bind(hot)
    let borrowed = false
    hot.list = (prefix, options) => {
      if (prefix !== 'chunks/' || borrowed) return list(prefix, options)
      borrowed = true
      return (async function* () {
        const w = writer.openDisk('xvda', disk.length)
        for (let i = 0; i < w.chunkCount; i++) await w.putChunk(i, disk.subarray(i * CHUNK, (i + 1) * CHUNK))
        yield* list(prefix, options)
      })()
    }
    const moved = await moveToCold(repo, { timing, safetyMarginMs: 0 })
    expect(borrowed).toBe(true)
    expect(moved.moved).toBeGreaterThan(0)
    const young = await writer.commit()
    const ids = await pointIds(repo, young)
    const inHot = async (id: string): Promise<boolean> => (await hot.stat(chunkKey(id))) !== undefined
    const coldOnly: string[] = []
    for (const id of ids) if (!(await inHot(id))) coldOnly.push(id)
    expect(coldOnly.length).toBeGreaterThan(0) // the new point needs chunks that are in cold only

    expect((await restoreDisk(repo, young)).equals(disk)).toBe(true)
    expect((await checkRepository(repo)).problems).toEqual([])
    await new Promise((r) => setTimeout(r, 5))
    await collectGarbage(repo, { timing, safetyMarginMs: 0 })
    expect((await checkRepository(repo)).problems).toEqual([])
    const again = await moveToCold(repo, { timing, safetyMarginMs: 0 })
    expect(again.promoted).toBe(coldOnly.length)
    for (const id of ids) expect(await inHot(id)).toBe(true)
    expect((await restoreDisk(repo, old)).equals(disk)).toBe(true)
  })
})
