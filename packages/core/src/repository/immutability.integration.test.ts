// Immutable repositories against radosgw's Object Lock: retention on every object, forget refused before
// a point's date, raw deletes refused by the server, gc freeing after the date, shared chunks extended.
import {
  DeleteObjectCommand,
  GetObjectRetentionCommand,
  ListObjectVersionsCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import { afterAll, describe, expect, it } from 'vitest'
import { MemoryStore, openStore, type ObjectStore } from '../storage/index.js'
import { createTestBucket, requireBinary, s3Env, s3Location, useS3Server } from '../testing/index.js'
import { Repository } from './repository.js'
import { PointWriter } from './point-writer.js'
import { collectGarbage } from './gc.js'
import { deletePoint } from './points.js'
import { KEY_CONFIG } from './format/constants.js'
import { manifestKey } from './format/layout.js'
import { backupDisk, makeDisk, restoreDisk } from './testing/fixtures.js'

requireBinary('radosgw')
const server = useS3Server()
const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2, checkWindowMs: 20 }
const locked = await createTestBucket(server, 'strata-lock', { objectLock: true })
const plain = await createTestBucket(server, 'strata-plain')
const client = new S3Client({
  endpoint: server.endpoint,
  region: server.region,
  forcePathStyle: true,
  credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
})
const stores: ObjectStore[] = []
afterAll(async () => {
  for (const store of stores) await store.close?.()
  client.destroy()
})

async function storeIn(bucket: string, prefix: string): Promise<ObjectStore> {
  const store = await openStore(s3Location(server, bucket, prefix), s3Env(server), {
    logger: () => undefined,
  })
  stores.push(store)
  return store
}

async function retainedUntil(prefix: string, key: string): Promise<Date | undefined> {
  const out = await client.send(new GetObjectRetentionCommand({ Bucket: locked, Key: `${prefix}/${key}` }))
  return out.Retention?.RetainUntilDate
}

async function versionsUnder(prefix: string): Promise<{ Key: string; VersionId: string }[]> {
  const out = await client.send(new ListObjectVersionsCommand({ Bucket: locked, Prefix: `${prefix}/` }))
  return [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])].map((v) => ({
    Key: v.Key!,
    VersionId: v.VersionId!,
  }))
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('immutable repositories on radosgw', () => {
  it('refuses a bucket without Object Lock, at init and at open', async () => {
    const store = await storeIn(plain, 'no-lock')
    const immutable = { seconds: 3600, mode: 'governance' } as const
    await expect(Repository.create(store, { chunkSize: CHUNK, immutable })).rejects.toMatchObject({
      code: 'OBJECT_LOCK_REQUIRED',
      message: expect.stringContaining('does not have Object Lock enabled'),
    })
    for await (const info of store.list('')) expect.fail(`init left '${info.key}' behind`)
    // The config of an immutable repository copied where no lock exists: refused at open.
    const repo = await Repository.create(await storeIn(locked, 'copied'), { chunkSize: CHUNK, immutable })
    const copy = new MemoryStore('copy')
    await copy.put(KEY_CONFIG, await repo.store.get(KEY_CONFIG))
    await expect(Repository.open(copy)).rejects.toMatchObject({ code: 'OBJECT_LOCK_REQUIRED' })
  })

  it('writes every object retained; forget and raw versioned deletes are refused before the date', async () => {
    const prefix = 'refused'
    const store = await storeIn(locked, prefix)
    const repo = await Repository.create(store, {
      chunkSize: CHUNK,
      immutable: { seconds: 3600, mode: 'governance' },
    })
    const point = await backupDisk(repo, makeDisk(4, CHUNK), { timing })
    await point.retention
    const manifest = manifestKey(point)
    const index = point.manifest.disks[0]!.index
    const until = await retainedUntil(prefix, manifest)
    expect(until!.getTime()).toBeGreaterThan(Date.now() + 3500_000)
    expect(await retainedUntil(prefix, index)).toBeDefined()
    for await (const info of store.list('chunks/'))
      expect(await retainedUntil(prefix, info.key)).toBeDefined()

    await expect(deletePoint(repo, point)).rejects.toMatchObject({
      code: 'POINT_LOCKED',
      message: expect.stringContaining(until!.toISOString().slice(0, 16)),
    })
    for (const v of await versionsUnder(prefix)) {
      if (v.Key !== `${prefix}/${manifest}`) continue
      await expect(
        client.send(new DeleteObjectCommand({ Bucket: locked, Key: v.Key, VersionId: v.VersionId })),
      ).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } })
    }
    expect((await restoreDisk(repo, point)).length).toBeGreaterThan(0)

    // Unreferenced chunks of an abandoned backup are retained too: gc keeps them and says so.
    const abandoned = await PointWriter.begin(repo, { vm: 'vm-9', timing })
    const disk = makeDisk(2, CHUNK)
    const writer = abandoned.openDisk('xvda', disk.length)
    await writer.putChunk(1, disk.subarray(CHUNK, 2 * CHUNK))
    await abandoned.abort()
    const gc = await collectGarbage(repo, { timing, safetyMarginMs: 0 })
    expect(gc.keptLocked).toBe(1)
    expect(gc.chunksDeleted).toBe(0)
  })

  it('frees a point once its date has passed: forget, then gc deletes every version', async () => {
    const prefix = 'expiring'
    const store = await storeIn(locked, prefix)
    const repo = await Repository.create(store, {
      chunkSize: CHUNK,
      immutable: { seconds: 2, mode: 'compliance' },
    })
    const point = await backupDisk(repo, makeDisk(4, CHUNK), { timing })
    await point.retention
    await expect(deletePoint(repo, point)).rejects.toMatchObject({ code: 'POINT_LOCKED' })
    const until = await retainedUntil(prefix, manifestKey(point))
    await sleep(until!.getTime() - Date.now() + 1500)
    await deletePoint(repo, point)
    const gc = await collectGarbage(repo, { timing, safetyMarginMs: 0 })
    expect(gc.chunksDeleted).toBeGreaterThan(0)
    expect(gc.keptLocked).toBe(0)
    const left = (await versionsUnder(prefix)).filter((v) => !v.Key.endsWith(`/${KEY_CONFIG}`))
    // Every version of the point's objects and chunks, and its point index entry; the index's `ready` stays.
    const points = left.filter((v) => v.Key.includes('/chunks/') || v.Key.includes('/points/'))
    expect(points.map((v) => v.Key)).toEqual([`${prefix}/index/points/ready`])
  })

  it('extends the retention of an older chunk that a newer point shares', async () => {
    const prefix = 'shared'
    const store = await storeIn(locked, prefix)
    const repo = await Repository.create(store, {
      chunkSize: CHUNK,
      immutable: { seconds: 3600, mode: 'governance' },
    })
    const disk = makeDisk(4, CHUNK)
    const first = await backupDisk(repo, disk, { timing })
    await first.retention
    const chunks: string[] = []
    for await (const info of store.list('chunks/')) chunks.push(info.key)
    const before = await Promise.all(chunks.map((k) => retainedUntil(prefix, k)))
    await sleep(2100) // retention dates have a second's precision
    const second = await backupDisk(repo, disk, { timing, base: first })
    const extended = await second.retention
    const newest = (await retainedUntil(prefix, manifestKey(second)))!
    for (const [i, key] of chunks.entries()) {
      const after = (await retainedUntil(prefix, key))!
      expect(after.getTime()).toBeGreaterThan(before[i]!.getTime())
      expect(after.getTime()).toBeGreaterThanOrEqual(newest.getTime())
    }
    expect(extended).toBe(chunks.length)
  })
})
