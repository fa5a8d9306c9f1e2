import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { listPoints, readManifest, resolvePoint } from './points.js'
import { PointWriter } from './point-writer.js'
import { makePointId, manifestKey, diskIndexKey } from './format/layout.js'
import { KIND_MANIFEST } from './format/constants.js'
import { encodeJson } from './format/json.js'

describe('listPoints', () => {
  it("lists thousands of a VM's points from key names alone, in time order", async () => {
    const store = new MemoryStore('many')
    const repo = await Repository.create(store, { chunkSize: 512 * 1024 })
    const start = Date.UTC(2026, 0, 1)
    for (let i = 0; i < 3000; i++) {
      // Keys only: listing must not need the objects' contents (these are not even valid manifests).
      const ref = {
        vm: i % 3 === 0 ? 'other vm' : 'web/01',
        pointId: makePointId(new Date(start + (2999 - i) * 60_000), Buffer.from([i >> 8, i & 255, 0, 0])),
      }
      await store.put(manifestKey(ref), new Uint8Array(1))
      await store.put(diskIndexKey(ref, 0), new Uint8Array(1))
    }
    let gets = 0
    const get = store.get.bind(store)
    store.get = async (key, options) => {
      gets++
      return get(key, options)
    }
    const began = performance.now()
    const points = await listPoints(repo, 'web/01')
    expect(performance.now() - began).toBeLessThan(2000)
    expect(gets).toBe(0)
    expect(points).toHaveLength(2000)
    expect(points.every((p) => p.vm === 'web/01')).toBe(true)
    const times = points.map((p) => p.time.getTime())
    expect(times).toEqual([...times].sort((a, b) => a - b))
    expect(await resolvePoint(repo, points[5]!.ref)).toEqual({ vm: 'web/01', pointId: points[5]!.pointId })
    expect(await resolvePoint(repo, points[7]!.pointId)).toEqual({
      vm: 'web/01',
      pointId: points[7]!.pointId,
    })
    await expect(resolvePoint(repo, 'web%2F01/20260101T000000000Z-00000000')).rejects.toMatchObject({
      code: 'POINT_NOT_FOUND',
    })
  })
})

describe('the manifest records full or delta', () => {
  const write = async (repo: Repository, base?: { vm: string; pointId: string }, full?: boolean) => {
    const point = await PointWriter.begin(repo, { vm: 'vm', base })
    await point.openDisk('xvda', 1024).putChunk(0, Buffer.alloc(1024, 1))
    return point.commit({ full })
  }

  it('as full without a base, delta from a base, or as the caller says; unknown in older points', async () => {
    const repo = await Repository.create(new MemoryStore('full'), { chunkSize: 512 * 1024 })
    const first = await write(repo)
    const second = await write(repo, first)
    const forced = await write(repo, second, true)
    const full = async (ref: { vm: string; pointId: string }) => (await readManifest(repo, ref)).full
    expect([await full(first), await full(second), await full(forced)]).toEqual([true, false, true])
    // A manifest of a version that did not record it: no field, read as unknown.
    const { full: _, ...old } = (await readManifest(repo, first)) as unknown as Record<string, unknown>
    const ref = { vm: 'vm', pointId: makePointId(new Date(), Buffer.from([1, 2, 3, 4])) }
    const key = manifestKey(ref)
    await repo.store.put(
      key,
      repo.encode(KIND_MANIFEST, encodeJson({ ...old, pointId: ref.pointId }), new TextEncoder().encode(key)),
    )
    expect(await readManifest(repo, ref)).not.toHaveProperty('full')
  })
})

describe('the manifest records a disk role', () => {
  it("records 'memory' for a memory image, nothing for VM disks, and refuses a role it does not know", async () => {
    const repo = await Repository.create(new MemoryStore('roles'), { chunkSize: 512 * 1024 })
    const point = await PointWriter.begin(repo, { vm: 'vm' })
    await point.openDisk('xvda', 1024).putChunk(0, Buffer.alloc(1024, 1))
    await point.openDisk('memory image', 1024, -1, 'memory').putChunk(0, Buffer.alloc(1024, 2))
    const committed = await point.commit()
    const manifest = await readManifest(repo, committed)
    expect(manifest.disks.map((d) => d.role)).toEqual([undefined, 'memory'])
    expect(manifest.disks[0]).not.toHaveProperty('role')
    const ref = { vm: 'vm', pointId: makePointId(new Date(), Buffer.from([5, 6, 7, 8])) }
    const key = manifestKey(ref)
    const disks = manifest.disks.map((d, i) => (i === 1 ? { ...d, role: 'swap' } : d))
    await repo.store.put(
      key,
      repo.encode(
        KIND_MANIFEST,
        encodeJson({ ...manifest, pointId: ref.pointId, disks }),
        new TextEncoder().encode(key),
      ),
    )
    await expect(readManifest(repo, ref)).rejects.toMatchObject({
      code: 'UNSUPPORTED_VERSION',
      message: expect.stringMatching(/unknown disk role 'swap'/),
    })
  })
})
