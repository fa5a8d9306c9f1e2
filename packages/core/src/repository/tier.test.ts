import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStore, type ObjectStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { checkRepository } from './check.js'
import { collectGarbage } from './gc.js'
import { deletePoint } from './points.js'
import { addTier, attachColdTier, readTier } from './tier.js'
import { moveToCold } from './tier-move.js'
import { verifyChunks } from './verify.js'
import { KEY_TIER } from './format/tier.js'
import { chunkKey } from './format/layout.js'
import { backupDisk, makeDisk, restoreDisk } from './testing/fixtures.js'
import { DAY_MS, chunkIdsIn, locatorIds, pointIds, referencedIds } from './testing/tiers.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2, checkWindowMs: 20 }
const POLICY_S = 30 * 86_400
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5))

async function tieredRepo(hot = new MemoryStore('hot'), cold = new MemoryStore('cold'), passphrase?: string) {
  const secret = passphrase === undefined ? undefined : new TextEncoder().encode(passphrase)
  const repo = await Repository.create(hot, { chunkSize: CHUNK, passphrase: secret, force: true })
  await addTier(repo, { cold: 'cold-location', olderThanSeconds: POLICY_S }, cold)
  await attachColdTier(repo, async () => cold)
  return { repo, hot, cold }
}

/** Two old points (sharing a disk's chunks with a young one) and a young point. */
async function threePoints(repo: Repository) {
  const old = new Date(Date.now() - 40 * DAY_MS)
  const shared = makeDisk(6, CHUNK)
  const a = makeDisk(6, CHUNK)
  const pa = await backupDisk(repo, a, { timing, time: old })
  const pb = await backupDisk(repo, shared, { timing, time: new Date(old.getTime() + 1000) })
  const young = Buffer.concat([shared.subarray(0, 3 * CHUNK), randomBytes(3 * CHUNK)])
  const pc = await backupDisk(repo, young, { timing })
  return { disks: [a, shared, young], points: [pa, pb, pc] }
}

async function reopened(hot: ObjectStore, cold: ObjectStore, passphrase?: string): Promise<Repository> {
  const secret = passphrase === undefined ? undefined : new TextEncoder().encode(passphrase)
  const repo = await Repository.open(hot, { passphrase: secret })
  await attachColdTier(repo, async () => cold)
  return repo
}

describe('the cold tier', () => {
  it('moves chunks only old points reference; every point restores exactly and check passes', async () => {
    const { repo, hot, cold } = await tieredRepo()
    const { disks, points } = await threePoints(repo)
    await tick()
    const result = await moveToCold(repo, { timing, safetyMarginMs: 0 })
    const policy = Date.now() - POLICY_S * 1000
    const young = await referencedIds(repo, policy)
    const onlyOld = [...(await referencedIds(repo, policy, true))].filter((id) => !young.has(id))
    expect(onlyOld.length).toBeGreaterThan(0)
    expect(await chunkIdsIn(hot)).toEqual(young)
    expect(new Set(await chunkIdsIn(cold))).toEqual(new Set(onlyOld))
    expect(await locatorIds(hot)).toEqual(new Set(onlyOld))
    expect(result).toMatchObject({ moved: onlyOld.length, oldPoints: 2, points: 3, failed: [] })

    const fresh = await reopened(hot, cold)
    for (const [i, point] of points.entries())
      expect((await restoreDisk(fresh, point)).equals(disks[i]!)).toBe(true)
    expect(fresh.tierReads.coldChunks).toBeGreaterThan(0)
    expect(fresh.tierReads.hotBytes).toBeGreaterThan(0)
    const check = await checkRepository(fresh)
    expect(check.problems).toEqual([])
    expect(check.coldChunks).toBe(onlyOld.length)
  })

  it('without the cold store, a moved chunk is a clear TIER_UNAVAILABLE and check names it', async () => {
    const { repo, hot, cold } = await tieredRepo()
    const { points } = await threePoints(repo)
    await tick()
    await moveToCold(repo, { timing, safetyMarginMs: 0 })
    const blind = await Repository.open(hot)
    await attachColdTier(blind, async () => {
      throw new Error('cold store unreachable')
    })
    await expect(restoreDisk(blind, points[0]!)).rejects.toMatchObject({ code: 'TIER_UNAVAILABLE' })
    expect((await restoreDisk(blind, points[2]!)).length).toBeGreaterThan(0) // young points need no cold
    const check = await checkRepository(blind)
    expect(check.ok).toBe(false)
    expect(check.problems[0]!.problem).toMatch(/cold tier 'cold-location' is not open/)
    expect(await chunkIdsIn(cold)).not.toEqual(new Set())
  })

  it('a backup that stores a moved chunk again writes it hot; an incremental reuse is promoted', async () => {
    const { repo, hot, cold } = await tieredRepo()
    const { disks, points } = await threePoints(repo)
    await tick()
    await moveToCold(repo, { timing, safetyMarginMs: 0 })
    const idsOfA = await pointIds(repo, points[0]!)
    const hotBefore = await chunkIdsIn(hot)
    expect([...idsOfA].some((id) => hotBefore.has(id))).toBe(false)
    // A full backup of disk a: its dedup check sees hot only, so it stores a's chunks hot again.
    await backupDisk(repo, disks[0]!, { timing, vm: 'vm-2' })
    const hotNow = await chunkIdsIn(hot)
    for (const id of idsOfA) expect(hotNow.has(id)).toBe(true)
    // An incremental from the old point b that changes nothing reuses b's index: b's cold chunks.
    const reuse = await backupDisk(repo, disks[1]!, { timing, vm: 'vm-1', base: points[1]!, only: [] })
    const needed = await referencedIds(repo, Date.now() - 60_000)
    expect([...needed].filter((id) => !hotNow.has(id)).length).toBeGreaterThan(0) // b's cold-only chunks
    await tick()
    const moved = await moveToCold(repo, { timing, safetyMarginMs: 0 })
    expect(moved.promoted).toBeGreaterThan(0)
    const hotAfter = await chunkIdsIn(hot)
    for (const id of needed) expect(hotAfter.has(id)).toBe(true)
    expect((await restoreDisk(await reopened(hot, cold), reuse)).equals(disks[1]!)).toBe(true)
    expect((await checkRepository(repo)).problems).toEqual([])
  })

  it('gc removes cold chunks no point references, never one a point needs', async () => {
    const { repo, hot, cold } = await tieredRepo()
    const { disks, points } = await threePoints(repo)
    await tick()
    await moveToCold(repo, { timing, safetyMarginMs: 0 })
    const coldBefore = await chunkIdsIn(cold)
    await deletePoint(repo, points[0]!)
    const stillNeeded = await referencedIds(repo, 0)
    await tick()
    const result = await collectGarbage(repo, { timing, safetyMarginMs: 0 })
    const coldAfter = await chunkIdsIn(cold)
    expect(result.cold).toMatchObject({
      chunksDeleted: coldBefore.size - coldAfter.size,
      locatorsDeleted: coldBefore.size - coldAfter.size,
    })
    expect(coldAfter.size).toBeLessThan(coldBefore.size)
    for (const id of coldBefore) expect(coldAfter.has(id)).toBe(stillNeeded.has(id))
    expect(await locatorIds(hot)).toEqual(coldAfter)
    expect((await checkRepository(repo)).problems).toEqual([])
    for (const i of [1, 2]) expect((await restoreDisk(repo, points[i]!)).equals(disks[i]!)).toBe(true)
  })

  it('stopped after any number of writes, leaves every point restorable, and a rerun finishes', async () => {
    for (let budget = 1; budget < 32; budget++) {
      const { repo, hot, cold } = await tieredRepo()
      const { disks, points } = await threePoints(repo)
      await tick()
      let writes = budget
      const stopping = (store: MemoryStore): void => {
        for (const op of ['put', 'delete'] as const) {
          const real = store[op].bind(store) as (...args: unknown[]) => Promise<void>
          store[op] = (async (...args: unknown[]) => {
            if (--writes < 0) throw new Error('killed')
            return real(...args)
          }) as never
        }
      }
      stopping(hot)
      stopping(cold)
      await moveToCold(repo, { timing, safetyMarginMs: 0, concurrency: 1 }).catch((e: Error) => {
        if (e.message !== 'killed') throw e
      })
      writes = Infinity
      const fresh = await reopened(hot, cold)
      expect((await checkRepository(fresh)).problems).toEqual([])
      for (const [i, point] of points.entries())
        expect((await restoreDisk(fresh, point)).equals(disks[i]!)).toBe(true)
      await moveToCold(fresh, { timing, safetyMarginMs: 0 })
      expect(await chunkIdsIn(hot)).toEqual(await referencedIds(fresh, Date.now() - POLICY_S * 1000))
    }
  })
})

describe('the cold tier record and its bad inputs', () => {
  it('is added once, to a store of its own', async () => {
    const { repo, cold } = await tieredRepo()
    await expect(addTier(repo, { cold: 'x', olderThanSeconds: 60 }, cold)).rejects.toMatchObject({
      code: 'TIER_EXISTS',
    })
    const other = await Repository.create(new MemoryStore('other'), { chunkSize: CHUNK })
    await expect(addTier(other, { cold: 'x', olderThanSeconds: 60 }, cold)).rejects.toMatchObject({
      code: 'TIER_IN_USE',
    })
    await expect(addTier(other, { cold: 'x', olderThanSeconds: 60 }, repo.store)).rejects.toMatchObject({
      code: 'TIER_IN_USE',
    })
    await expect(
      addTier(other, { cold: 'x', olderThanSeconds: 0 }, new MemoryStore('c2')),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' })
    await expect(moveToCold(other)).rejects.toMatchObject({ code: 'NO_TIER' })
  })

  it('is authenticated in an encrypted repository: an edited record is refused', async () => {
    const { repo, hot, cold } = await tieredRepo(undefined, undefined, 'a passphrase long enough')
    expect(await readTier(repo)).toMatchObject({ cold: 'cold-location', olderThanSeconds: POLICY_S })
    const record = JSON.parse(new TextDecoder().decode(await hot.get(KEY_TIER))) as Record<string, unknown>
    await hot.put(KEY_TIER, new TextEncoder().encode(JSON.stringify({ ...record, cold: 's3://evil/bucket' })))
    await expect(reopened(hot, cold, 'a passphrase long enough')).rejects.toMatchObject({
      code: 'REPOSITORY_CONFIG_CHANGED',
    })
    const { mac: _, ...unsigned } = record
    await hot.put(KEY_TIER, new TextEncoder().encode(JSON.stringify(unsigned)))
    await expect(reopened(hot, cold, 'a passphrase long enough')).rejects.toMatchObject({
      code: 'REPOSITORY_CONFIG_CHANGED',
    })
  })

  it('replaces a damaged cold copy, and keeps the hot copy when the cold one never authenticates', async () => {
    const { repo, hot, cold } = await tieredRepo()
    const { disks, points } = await threePoints(repo)
    await tick()
    const victim = [...(await pointIds(repo, points[0]!))][0]! // only the old point a has it
    await cold.put(chunkKey(victim), new Uint8Array(100)) // a damaged copy left behind
    const put = cold.put.bind(cold)
    let corrupting = true
    cold.put = async (key, data, options) =>
      put(key, corrupting && key === chunkKey(victim) ? new Uint8Array(data.length) : data, options)
    const failed = await moveToCold(repo, { timing, safetyMarginMs: 0 })
    expect(failed.failed.map((f) => f.id)).toEqual([victim])
    expect(failed.failed[0]!.reason).toMatch(/does not authenticate/)
    expect(await hot.stat(chunkKey(victim))).toBeDefined()
    expect(failed.moved).toBeGreaterThan(0)
    corrupting = false
    const again = await moveToCold(repo, { timing, safetyMarginMs: 0 })
    expect(again).toMatchObject({ moved: 1, failed: [] })
    expect(await hot.stat(chunkKey(victim))).toBeUndefined()
    expect((await checkRepository(repo)).problems).toEqual([])
    for (const [i, point] of points.entries())
      expect((await restoreDisk(repo, point)).equals(disks[i]!)).toBe(true)
  })

  it('verify authenticates cold copies; a damaged one is marked bad and the next backup stores it hot', async () => {
    const { repo, hot, cold } = await tieredRepo()
    const { disks, points } = await threePoints(repo)
    await tick()
    await moveToCold(repo, { timing, safetyMarginMs: 0 })
    const clean = await verifyChunks(repo)
    expect(clean.cold).toMatchObject({ bad: [] })
    expect(clean.cold!.checked).toBe((await chunkIdsIn(cold)).size)
    const victim = [...(await pointIds(repo, points[0]!))][0]!
    const damaged = Uint8Array.from(await cold.get(chunkKey(victim)))
    damaged[damaged.length - 1]! ^= 1
    await cold.put(chunkKey(victim), damaged)
    const found = await verifyChunks(repo)
    expect(found.cold!.bad.map((b) => b.id)).toEqual([victim])
    expect(found.cold!.bad[0]!.reason).toMatch(/cold tier 'cold'/)
    expect((await repo.listBad()).has(victim)).toBe(true)
    await expect(restoreDisk(repo, points[0]!)).rejects.toMatchObject({ code: 'CORRUPT_OBJECT' })
    await backupDisk(repo, disks[0]!, { timing, vm: 'vm-3' })
    expect(await hot.stat(chunkKey(victim))).toBeDefined()
    expect((await restoreDisk(repo, points[0]!)).equals(disks[0]!)).toBe(true)
  })
})
