// The XO reader on a remote in S3 (Ceph radosgw): the same remote as everywhere, clear and encrypted,
// listed and restored byte for byte through a store that cannot write, and a chain of 120 deltas.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openStore, type ObjectStore } from '../storage/index.js'
import { createTestBucket, requireBinary, s3Env, s3Location, useS3Server } from '../testing/index.js'
import { listRemote, storeFiles, XoRemote } from './index.js'
import { buildLongChain } from './testing/long-chain.js'
import { restorePoint, storeDigest } from './testing/read-back.js'
import { storeSink } from './testing/remote-builder.js'
import { buildScenario } from './testing/scenario.js'

requireBinary('radosgw')
const server = useS3Server()
const bucket = await createTestBucket(server)
const KEY = 'an XO key of exactly 32 chars!!!'

/** A store the way `strata xo` opens one: without the create-only probe, which writes. */
async function openS3(prefix: string): Promise<ObjectStore> {
  const store = await openStore(s3Location(server, bucket, prefix), s3Env(server), {
    probe: false,
    s3: { listPageSize: 50 },
  })
  stores.push(store)
  return store
}

const stores: ObjectStore[] = []
afterAll(async () => {
  for (const store of stores) await store.close?.()
})

describe.each([
  { name: 'clear', options: {} },
  { name: 'aes-256-gcm', options: { encryption: 'aes-256-gcm', key: KEY } },
] as const)('an XO remote in S3 ($name)', ({ name, options }) => {
  const key = 'key' in options ? options.key : undefined
  let store: ObjectStore
  let expected: Awaited<ReturnType<typeof buildScenario>>['points']

  beforeAll(async () => {
    store = await openS3(`xo-${name}`)
    expected = (await buildScenario(storeSink(store), options)).points
  }, 120_000)

  it('lists every point and restores the usable ones byte for byte, writing nothing', async () => {
    const before = await storeDigest(store)
    const reader = await openS3(`xo-${name}`) // opened after the digest: opening writes nothing either
    const files = () => storeFiles(reader)
    const listing = await listRemote(await XoRemote.open(files(), { key: key && Buffer.from(key) }))
    expect(listing.points.map((p) => p.id).sort()).toEqual([...expected.keys()].sort())
    for (const [id, point] of expected) {
      const listed = listing.points.find((p) => p.id === id)!
      expect(listed.usable, `${id}: ${listed.reason}`).toBe(point.unusable === undefined)
      if (point.unusable !== undefined) continue
      const restore = restorePoint(files(), id, point.disks.length, key)
      if (point.failsWith !== undefined) {
        await expect(restore).rejects.toMatchObject({ code: point.failsWith })
        continue
      }
      const disks = await restore
      disks.forEach((disk, i) => expect(disk.equals(point.disks[i]!), `${id} disk ${i}`).toBe(true))
    }
    expect(await storeDigest(store)).toBe(before)
  }, 120_000)
})

describe('opening an S3 location to read an XO remote', () => {
  it('sends nothing: no create-only probe, which would write into the remote', async () => {
    // In a bucket that does not exist, the probe fails; a store opened without it does not notice.
    const location = s3Location(server, `${bucket}-absent`, 'xo')
    await expect(openStore(location, s3Env(server))).rejects.toMatchObject({
      message: expect.stringMatching(/probing/),
    })
    const store = await openStore(location, s3Env(server), { probe: false })
    await store.close?.()
  })
})

describe('a chain of 120 deltas in S3', () => {
  it('restores its tip and its middle byte for byte', async () => {
    const store = await openS3('xo-long')
    const { ids, images } = await buildLongChain(storeSink(store), 120)
    for (const n of [120, 60]) {
      const [raw] = await restorePoint(storeFiles(store), ids[n]!, 1)
      expect(raw!.equals(images[n]!), `point ${n}`).toBe(true)
    }
  }, 300_000)
})
