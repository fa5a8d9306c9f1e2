import { describe, expect, it } from 'vitest'
import { PointWriter, Repository } from '../repository/index.js'
import { MemoryStore } from '../storage/index.js'
import { findRestorePoint, listRestorePoints, resolvePointVm } from './restore-points.js'

async function point(repo: Repository, vm: string, name: string, o: { base?: string; job?: string } = {}) {
  const metadata = { kind: 'strata-vm', version: 1, vm: { uuid: vm, name_label: name } }
  const base = o.base === undefined ? undefined : { vm, pointId: o.base }
  const writer = await PointWriter.begin(repo, { vm, metadata, base, jobId: o.job, scheduleId: 'daily' })
  await writer.openDisk('xvda', 3000).putChunk(0, Buffer.alloc(3000, name.length + (o.base ? 1 : 0)))
  return (await writer.commit()).pointId
}

describe('restore points by VM name or uuid', () => {
  it('lists and resolves by name or uuid, with job, schedule, full or delta and new data', async () => {
    const repo = await Repository.create(new MemoryStore('names'), { chunkSize: 512 * 1024 })
    const first = await point(repo, 'uuid-1', 'web-01', { job: 'nightly' })
    const second = await point(repo, 'uuid-1', 'web-01', { job: 'nightly', base: first })
    await point(repo, 'uuid-2', 'db-01')
    const image = await PointWriter.begin(repo, { vm: 'disk image' })
    image.openDisk('img', 10)
    const imageRef = (await image.commit()).ref
    expect(imageRef).toMatch(/^disk%20image\//) // the key form, as listings print it
    expect(await findRestorePoint(repo, imageRef, undefined)).toMatchObject({ vm: 'disk image' })
    expect(await findRestorePoint(repo, imageRef.replace('%20', ' '), undefined)).toMatchObject({
      vm: 'disk image',
    })

    const byName = await listRestorePoints(repo, 'web-01')
    expect(byName).toEqual(await listRestorePoints(repo, 'uuid-1'))
    expect(byName.map((p) => [p.pointId, p.vmName, p.vmUuid, p.jobId, p.scheduleId, p.kind])).toEqual([
      [first, 'web-01', 'uuid-1', 'nightly', 'daily', 'full'],
      [second, 'web-01', 'uuid-1', 'nightly', 'daily', 'delta'],
    ])
    expect(byName[0]).toMatchObject({ size: 3000, newBytes: expect.any(Number) })
    expect(byName[0]!.newBytes).toBeGreaterThan(0)
    expect((await listRestorePoints(repo, undefined)).map((p) => p.vmName).sort()).toEqual([
      'db-01',
      'disk image',
      'web-01',
      'web-01',
    ])
    expect(await listRestorePoints(repo, 'nope')).toEqual([])
    expect(await resolvePointVm(repo, 'web-01')).toBe('uuid-1')
    await expect(resolvePointVm(repo, 'nope')).rejects.toMatchObject({ code: 'VM_NOT_FOUND' })

    expect(await findRestorePoint(repo, `web-01/${first}`, undefined)).toEqual({
      vm: 'uuid-1',
      pointId: first,
    })
    expect(await findRestorePoint(repo, first, 'uuid-1')).toEqual({ vm: 'uuid-1', pointId: first })
    expect(await findRestorePoint(repo, 'latest', 'web-01')).toEqual({ vm: 'uuid-1', pointId: second })
    expect(await findRestorePoint(repo, undefined, 'db-01')).toMatchObject({ vm: 'uuid-2' })
    await expect(findRestorePoint(repo, `db-01/${first}`, undefined)).rejects.toMatchObject({
      code: 'POINT_NOT_FOUND',
      message: expect.stringContaining("is not one of VM 'db-01'"),
    })

    // Another VM now carries the name (a restored copy renamed back, a recreated VM): a name is ambiguous.
    await point(repo, 'uuid-3', 'web-01')
    expect(await listRestorePoints(repo, 'web-01')).toHaveLength(3)
    await expect(findRestorePoint(repo, 'latest', 'web-01')).rejects.toMatchObject({
      code: 'VM_AMBIGUOUS',
      message: expect.stringContaining('uuid-1, uuid-3'),
    })
    expect(await findRestorePoint(repo, `web-01/${second}`, undefined)).toEqual({
      vm: 'uuid-1',
      pointId: second,
    })
  })
})

describe('restore points with memory', () => {
  it("tells a point holding the VM's memory image from one without", async () => {
    const repo = await Repository.create(new MemoryStore('memory'), { chunkSize: 512 * 1024 })
    const without = await point(repo, 'uuid-1', 'web-01')
    const metadata = { kind: 'strata-vm', version: 1, vm: { uuid: 'uuid-1', name_label: 'web-01' } }
    const writer = await PointWriter.begin(repo, { vm: 'uuid-1', metadata })
    await writer.openDisk('xvda', 3000).putChunk(0, Buffer.alloc(3000, 1))
    await writer.openDisk('memory image', 4096, -1, 'memory').putChunk(0, Buffer.alloc(4096, 2))
    const withMemory = (await writer.commit()).pointId
    const points = await listRestorePoints(repo, 'web-01')
    expect(points.map((p) => [p.pointId, p.withMemory])).toEqual([
      [without, false],
      [withMemory, true],
    ])
    expect(points[1]!.disks).toEqual([
      { name: 'xvda', size: 3000, newBytes: expect.any(Number) },
      { name: 'memory image', size: 4096, newBytes: expect.any(Number), role: 'memory' },
    ])
  })
})
