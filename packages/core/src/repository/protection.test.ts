import { describe, expect, it } from 'vitest'
import { scratchDir } from '../testing/index.js'
import { LocalStore, MemoryStore, type ObjectStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { checkRepository } from './check.js'
import { collectGarbage } from './gc.js'
import { deletePoint, listPoints } from './points.js'
import { isProtected, protectPoint, unprotectPoint } from './protection.js'
import { backupDisk, makeDisk } from './testing/fixtures.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2 }

async function withStores(test: (store: ObjectStore) => Promise<void>): Promise<void> {
  await test(new MemoryStore('protect'))
  await using scratch = await scratchDir('strata-protect-')
  // A real directory: the marker is a create-once file like every other object.
  await test(new LocalStore(scratch.path('repo')))
}

describe('protected restore points', () => {
  it('are listed as protected, refused to deletes until unprotected, and kept by GC', async () => {
    await withStores(async (store) => {
      const repo = await Repository.create(store, { chunkSize: CHUNK })
      const kept = await backupDisk(repo, makeDisk(3, CHUNK), { timing })
      const other = await backupDisk(repo, makeDisk(3, CHUNK), { timing })
      await protectPoint(repo, kept)
      await protectPoint(repo, kept) // again: nothing changes
      const listed = await listPoints(repo)
      expect(listed.map((p) => [p.pointId, p.protected])).toEqual([
        [kept.pointId, true],
        [other.pointId, false],
      ])
      expect((await listPoints(repo, kept.vm)).find((p) => p.pointId === kept.pointId)?.protected).toBe(true)
      await expect(deletePoint(repo, kept)).rejects.toMatchObject({
        code: 'POINT_PROTECTED',
        message: expect.stringContaining('unprotect it first') as unknown,
      })
      expect((await listPoints(repo)).length).toBe(2)
      // GC sees the marker as part of a committed point: nothing of it goes.
      await collectGarbage(repo, { timing, safetyMarginMs: 0 })
      expect(await isProtected(repo, kept)).toBe(true)
      expect((await checkRepository(repo)).ok).toBe(true)

      await unprotectPoint(repo, kept)
      await unprotectPoint(repo, kept) // idempotent
      expect((await listPoints(repo)).every((p) => !p.protected)).toBe(true)
      await deletePoint(repo, kept)
      expect((await listPoints(repo)).map((p) => p.pointId)).toEqual([other.pointId])
    })
  })

  it('cannot protect a point that does not exist', async () => {
    const repo = await Repository.create(new MemoryStore('absent'), { chunkSize: CHUNK })
    await expect(
      protectPoint(repo, { vm: 'web', pointId: '20260101T000000000Z-00000000' }),
    ).rejects.toMatchObject({ code: 'POINT_NOT_FOUND' })
    expect(await listPoints(repo)).toEqual([])
  })
})
