// The point index's cases, run on every kind of store (a local directory, S3 on radosgw): two handles on
// one repository stand for two processes (each keeps its own cache of described entries, as a server and
// a CLI do), and crashes are made by doing a writer's or a deleter's steps only in part.
import { describe, expect, it } from 'vitest'
import { StorageError, type ObjectStore } from '../../storage/index.js'
import { checkRepository } from '../check.js'
import { collectGarbage } from '../gc.js'
import { PointWriter } from '../point-writer.js'
import { deletePoint, listPoints, readManifest, resolvePoint, walkPoints } from '../points.js'
import { protectPoint, unprotectPoint } from '../protection.js'
import { deletePointEntries, putPointEntry, readPointIndex } from '../point-index.js'
import { Repository } from '../repository.js'
import { PREFIX_POINT_INDEX } from '../format/constants.js'
import { diskIndexKey, manifestKey, type PointRef } from '../format/layout.js'
import { POINT_INDEX_READY_KEY } from '../format/point-index.js'

/** A store that counts the objects read (gets), so that a test sees what a listing costs. */
function counted(inner: ObjectStore): { store: ObjectStore; gets: () => string[] } {
  const read: string[] = []
  const store: ObjectStore = {
    name: inner.name,
    capabilities: inner.capabilities,
    objectLock: inner.objectLock,
    put: (key, data, options) => inner.put(key, data, options),
    get: (key, options) => {
      read.push(key)
      return inner.get(key, options)
    },
    getRange: (key, offset, length, options) => inner.getRange(key, offset, length, options),
    stat: (key, options) => inner.stat(key, options),
    list: (prefix, options) => inner.list(prefix, options),
    delete: (key, options) => inner.delete(key, options),
  }
  return { store, gets: () => read.splice(0) }
}

const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2, checkWindowMs: 20 }

async function writePoint(repo: Repository, vm: string, name = vm): Promise<PointRef> {
  const point = await PointWriter.begin(repo, {
    vm,
    metadata: { kind: 'strata-vm', vm: { name_label: name, other: 'x'.repeat(2000) } },
    jobId: 'job-1',
    timing,
  })
  await point.openDisk('xvda', 4096).putChunk(0, Buffer.alloc(4096, vm.length))
  const { pointId } = await point.commit({ full: true })
  return { vm, pointId }
}

const refs = async (repo: Repository): Promise<string[]> => (await listPoints(repo)).map((p) => p.ref)

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = []
  for await (const info of store.list(prefix)) out.push(info.key)
  return out
}

export function describePointIndexCases(name: string, freshStore: () => Promise<ObjectStore>): void {
  describe(`point index on ${name}`, () => {
    it("lists another writer's new point at once and drops a deleted one; reads each manifest once", async () => {
      const { store, gets } = counted(await freshStore())
      const a = await Repository.create(store, { chunkSize: 512 * 1024 })
      const b = await Repository.open(store)
      const first = await writePoint(a, 'vm-a')
      const second = await writePoint(b, 'vm/b', 'web')
      gets()
      expect(await refs(a)).toEqual([`vm-a/${first.pointId}`, `vm%2Fb/${second.pointId}`])
      expect(gets().filter((k) => k.endsWith('/manifest'))).toHaveLength(2)
      expect(await refs(a)).toHaveLength(2)
      expect(gets()).toEqual([]) // warm: one listing, nothing read
      const third = await writePoint(b, 'vm-a')
      expect(await refs(a)).toContain(`vm-a/${third.pointId}`)
      expect(gets()).toEqual([manifestKey(third)])
      await deletePoint(b, first)
      expect(await refs(a)).toEqual([`vm%2Fb/${second.pointId}`, `vm-a/${third.pointId}`])
      expect(await keys(store, PREFIX_POINT_INDEX)).toHaveLength(3) // ready and two entries
      // What listings show of each point comes from the index, as a manifest would describe it.
      const listed = (await readPointIndex(a))!.find((p) => p.vm === 'vm/b')!.manifest
      expect(listed).toMatchObject({
        jobId: 'job-1',
        full: true,
        vm: { metadata: { vm: { name_label: 'web' } } },
      })
      const manifest = await readManifest(a, second)
      const disks = manifest.disks.map((d) => ({ ...d, index: '', indexChecksum: '' }))
      expect(listed).toEqual({ ...manifest, vm: listed.vm, disks })
      expect(await resolvePoint(a, third.pointId)).toEqual(third)
      await protectPoint(b, third)
      expect((await listPoints(a)).map((p) => p.protected)).toEqual([false, true])
      await unprotectPoint(b, third)
      expect((await listPoints(a)).map((p) => p.protected)).toEqual([false, false])
      expect((await checkRepository(a)).problems).toEqual([])
    })

    it('folds described entries into a segment: a cold reader reads it, not every manifest', async () => {
      const { store, gets } = counted(await freshStore())
      const a = await Repository.create(store, { chunkSize: 512 * 1024 })
      const written = []
      for (let i = 0; i < 6; i++) written.push(await writePoint(a, `vm-${i % 2}`))
      expect(await readPointIndex(a, { compactAfter: 4 })).toHaveLength(6)
      const segments = (await keys(store, PREFIX_POINT_INDEX)).filter((k) => k.includes('/segment.'))
      expect(segments).toHaveLength(1)
      // Segments keep what listings need, not the VM's whole record.
      const cold = await Repository.open(store)
      gets()
      const points = await readPointIndex(cold, { compactAfter: 4 })
      expect(gets()).toEqual(segments)
      expect(points!.map((p) => p.pointId)).toEqual(written.map((p) => p.pointId))
      expect(points![0]!.manifest.vm.metadata).toEqual({ kind: 'strata-vm', vm: { name_label: 'vm-0' } })
      // Two readers compacting at once write two segments; both describe right, a later one folds them.
      const c = await Repository.open(store)
      const d = await Repository.open(store)
      for (let i = 0; i < 4; i++) await writePoint(a, 'vm-2')
      const both = await Promise.all([c, d].map((r) => readPointIndex(r, { compactAfter: 4 })))
      expect(both.map((p) => p!.length)).toEqual([10, 10])
      const e = await Repository.open(store)
      expect(await readPointIndex(e)).toHaveLength(10)
      expect((await checkRepository(a)).problems).toEqual([])
      // Segments that do not authenticate are passed over (the manifests are read), and reported.
      const segments2 = (await keys(store, PREFIX_POINT_INDEX)).filter((k) => k.includes('/segment.'))
      for (const key of segments2) {
        const bytes = Buffer.from(await store.get(key))
        bytes[bytes.length - 1]! ^= 1
        await store.delete(key)
        await store.put(key, bytes)
      }
      gets()
      expect(await readPointIndex(await Repository.open(store), { compact: false })).toHaveLength(10)
      expect(gets().filter((k) => k.endsWith('/manifest'))).toHaveLength(10)
      expect((await checkRepository(a)).problems).toEqual(
        segments2.map((key) => ({ object: key, problem: expect.stringContaining('corrupt') })),
      )
    })

    it('crash orderings: an entry without its manifest is never listed; a manifest without entry is repaired', async () => {
      const store = await freshStore()
      const a = await Repository.create(store, { chunkSize: 512 * 1024 })
      const kept = await writePoint(a, 'vm')
      // A writer that died between its entry and its manifest.
      const lost = { vm: 'vm', pointId: '20300101T000000000Z-0badf00d' }
      const stale = await putPointEntry(a, lost)
      expect(await refs(a)).toEqual([`vm/${kept.pointId}`])
      expect((await checkRepository(a)).problems).toEqual([]) // young: perhaps a backup about to commit
      expect((await checkRepository(a, { repairIndex: true })).pointIndex.fixed).toEqual([])
      const later = Date.now() + 16 * 60_000 // older than a session lease: no writer can commit it any more
      expect((await checkRepository(a, { now: later })).problems).toEqual([
        { object: stale, problem: expect.stringContaining('names no committed restore point') },
      ])
      // An entry lost (a point an older version wrote into an indexed repository): missed, then repaired.
      const hidden = await writePoint(a, 'vm')
      await deletePointEntries(a, hidden)
      expect(await refs(a)).toEqual([`vm/${kept.pointId}`])
      expect((await walkPoints(a)).map((p) => p.pointId)).toContain(hidden.pointId)
      const found = await checkRepository(a)
      expect(found.problems).toEqual([
        {
          object: `restore point vm/${hidden.pointId}`,
          problem: expect.stringContaining('no point index entry'),
        },
      ])
      await checkRepository(a, { repairIndex: true })
      expect(await refs(a)).toEqual([`vm/${kept.pointId}`, `vm/${hidden.pointId}`])
      expect(await keys(store, stale)).toEqual([stale]) // still young
      await checkRepository(a, { repairIndex: true, now: later })
      expect(await keys(store, stale)).toEqual([])
      // A delete cut short after the manifest: a reader that knew the point lists it until it is
      // deleted again (reading it says it is gone); a reader that never described it does not list it.
      await a.store.delete(manifestKey(hidden))
      await a.store.delete(diskIndexKey(hidden, 0))
      expect(await refs(a)).toContain(`vm/${hidden.pointId}`)
      await expect(readManifest(a, hidden)).rejects.toMatchObject({ code: 'POINT_NOT_FOUND' })
      expect(await refs(await Repository.open(store))).toEqual([`vm/${kept.pointId}`])
      await deletePoint(a, hidden)
      expect(await refs(a)).toEqual([`vm/${kept.pointId}`])
    })

    it('GC removes the entries of points that never committed, as it removes their indexes', async () => {
      const store = await freshStore()
      const a = await Repository.create(store, { chunkSize: 512 * 1024 })
      const lost = await putPointEntry(a, { vm: 'vm', pointId: '20300101T000000000Z-0badf00d' })
      const kept = await writePoint(a, 'vm') // takes long enough for the entry above to be older than GC
      const gc = await collectGarbage(a, { timing, safetyMarginMs: 0 })
      expect(gc.otherObjectsDeleted).toBeGreaterThanOrEqual(1)
      expect(await keys(store, lost)).toEqual([])
      expect(await refs(a)).toEqual([`vm/${kept.pointId}`])
      expect((await checkRepository(a, { now: Date.now() + 16 * 60_000 })).problems).toEqual([])
    })

    it('writes the entry before the manifest: a writer that cannot write its entry commits nothing', async () => {
      const inner = await freshStore()
      const store: ObjectStore = { ...counted(inner).store }
      store.put = async (key, data, options) => {
        if (key.startsWith(PREFIX_POINT_INDEX) && key !== POINT_INDEX_READY_KEY)
          throw new StorageError('STORE_FAILED', `refused '${key}' (a crash before the entry)`)
        return inner.put(key, data, options)
      }
      const a = await Repository.create(store, { chunkSize: 512 * 1024 })
      await expect(writePoint(a, 'vm')).rejects.toThrow(/refused/)
      expect(await keys(inner, 'points/')).not.toContainEqual(expect.stringMatching(/manifest$/))
      expect(await walkPoints(a)).toEqual([])
    })

    it('an older repository (no index) lists as before, and check --repair builds its index', async () => {
      const store = await freshStore()
      const a = await Repository.create(store, { chunkSize: 512 * 1024 })
      const points = [await writePoint(a, 'vm'), await writePoint(a, 'other')]
      await protectPoint(a, points[1]!)
      // As an older version leaves it: no index objects at all.
      for (const key of await keys(store, PREFIX_POINT_INDEX)) await store.delete(key)
      const old = await Repository.open(store)
      expect(await readPointIndex(old)).toBeUndefined()
      const before = await listPoints(old)
      expect(before.map((p) => [p.pointId, p.protected])).toEqual(points.map((p, i) => [p.pointId, i === 1]))
      const checked = await checkRepository(old)
      expect(checked.problems).toEqual([])
      expect(checked.pointIndex).toMatchObject({ ready: false, entries: 0 })
      const built = await checkRepository(old, { repairIndex: true })
      expect(built.pointIndex).toMatchObject({ ready: true, built: true })
      expect(await keys(store, POINT_INDEX_READY_KEY)).toEqual([POINT_INDEX_READY_KEY])
      const fresh = await Repository.open(store)
      expect(await readPointIndex(fresh)).toHaveLength(2)
      expect(await listPoints(fresh)).toEqual(before)
      expect((await checkRepository(fresh)).problems).toEqual([])
    })
  })
}
