// The golden fixtures (fixtures/v1-*): repositories written by format version 1. Every later version of
// Strata must read them exactly; if this test fails, the format changed — add a version, never edit these.
import { createDecipheriv, createHash, createHmac, hkdfSync, scryptSync } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { listPoints, readManifest, readDiskIndex } from './points.js'
import { checkRepository } from './check.js'
import { verifyChunks } from './verify.js'
import { restoreDisk } from './testing/fixtures.js'
import { fixtureDisk, FIXTURE_PASSPHRASE } from './fixtures/fixture-disk.js'
import { decodeDiskIndex, encodeDiskIndex } from './format/disk-index.js'
import { KIND_INDEX } from './format/constants.js'

const root = fileURLToPath(new URL('./fixtures/', import.meta.url))

async function load(name: string): Promise<{ store: MemoryStore; digest: string }> {
  const store = new MemoryStore(name)
  const files: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) await walk(path)
      else files.push(path)
    }
  }
  await walk(join(root, name))
  const digest = createHash('sha256')
  for (const path of files.sort()) {
    const key = relative(join(root, name), path).split('\\').join('/')
    const bytes = await readFile(path)
    await store.put(key, bytes)
    digest.update(`${key}\0`).update(createHash('sha256').update(bytes).digest())
  }
  return { store, digest: digest.digest('hex') }
}

const EXPECTED = {
  'v1-plain': {
    point: 'fixture-vm/20261122T001140059Z-aac04f70',
    files: '88b6383700701bc35b3737baaaa65aeaca167979ec14bbca04325e26ce229a05',
    ids: [
      '0fdce7b252182d05a40e0198c8bb6e5a3e6a5a40fd00ea6952442f575e376efe',
      'ad8a4841ee4ca3f04be5e96c91fb68f938633b10edf08d7a3f59b2f324b1f879',
    ],
  },
  'v1-encrypted': {
    point: 'fixture-vm/20261122T001140350Z-97704af0',
    files: '4103d71c9042700414610a4b51ed5228f001d3d96db51f04fc581d6bc7f3ba16',
    ids: [
      '37830af177018b438beb191237e895881196eda8fab9dbbc7280985c0a698b12',
      'bd7a25c5f6117d9b2a4c97da201b1b89795574a7931704d5dd002c967107c0b9',
    ],
  },
  // Written by the release that added the config seal (seals/<id>); key slot at scrypt N = 2^17.
  'v1-sealed': {
    point: 'fixture-vm/20261207T014900386Z-708710f5',
    files: '441d1d5b90e2d2565a1a30e7810b223d89e74582e0f7884f12f1a38720ff184b',
    ids: [
      '4888ad911e4d8ef62a21356d532fbab93091c896f03c104e0d910978f83bec6e',
      'b5be843be7af9c24c304682c217b5a431d394d6111dcc990cfc2bbf12cb08561',
    ],
  },
} as const
const DISK_SHA256 = '3e6d138c28bfd46205b70dc0a06a485b752ef50911657275f4345813c3be3441'

describe.each(Object.entries(EXPECTED))('golden fixture %s', (name, expected) => {
  it('is unchanged on disk', async () => {
    expect((await load(name)).digest).toBe(expected.files)
  })

  it('reads byte-exactly: config, point, manifest, index, chunks, and passes check and verify', async () => {
    const { store } = await load(name)
    const encrypted = !name.endsWith('plain')
    const repo = await Repository.open(store, { passphrase: encrypted ? FIXTURE_PASSPHRASE : undefined })
    expect(repo.config).toMatchObject({
      chunkSize: 512 * 1024,
      compressionLevel: 3,
      encryption: encrypted ? 'aes-256-gcm' : 'none',
    })
    const points = await listPoints(repo)
    expect(points.map((p) => p.ref)).toEqual([expected.point])
    const manifest = await readManifest(repo, points[0]!)
    expect(manifest).toMatchObject({
      vm: { id: 'fixture-vm', metadata: { name: 'fixture', memory: 1073741824 } },
      tags: ['golden'],
      jobId: 'job-1',
      scheduleId: 'daily',
      disks: [
        { name: 'xvda', size: 3 * 512 * 1024 + 1000, chunkSize: 512 * 1024, nonZeroChunks: 3, newChunks: 2 },
      ],
    })
    const index = await readDiskIndex(repo, manifest.disks[0]!.index)
    const ids = [1, 2, 3].map((i) => Buffer.from(index.ids.subarray(i * 32, (i + 1) * 32)).toString('hex'))
    expect(new Set(ids)).toEqual(new Set(expected.ids))
    expect(index.ids.subarray(0, 32).every((b) => b === 0)).toBe(true)
    // The index plaintext re-encodes to the same bytes.
    const key = manifest.disks[0]!.index
    const plain = repo.decode(await store.get(key), KIND_INDEX, new TextEncoder().encode(key), key)
    expect(Buffer.from(encodeDiskIndex(decodeDiskIndex(plain, key))).equals(Buffer.from(plain))).toBe(true)
    const disk = await restoreDisk(repo, points[0]!)
    expect(disk.equals(fixtureDisk())).toBe(true)
    expect(createHash('sha256').update(disk).digest('hex')).toBe(DISK_SHA256)
    expect((await checkRepository(repo)).ok).toBe(true)
    expect((await verifyChunks(repo, { dryRun: true })).bad).toEqual([])
  })
})

it('plain fixture chunk ids are the SHA-256 of their plaintext', () => {
  const disk = fixtureDisk()
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
  expect(new Set([sha(disk.subarray(512 * 1024, 1024 * 1024)), sha(disk.subarray(3 * 512 * 1024))])).toEqual(
    new Set(EXPECTED['v1-plain'].ids),
  )
})

type Json = Record<string, string | number>
interface Kdf {
  N: number
  r: number
  p: number
  salt: string
}

it('v1-sealed: its seal is the documented HMAC, computed here from the format page alone', async () => {
  const { store } = await load('v1-sealed')
  const json = async (key: string) => JSON.parse(Buffer.from(await store.get(key)).toString()) as Json
  const config = await json('config')
  const slotKeys: string[] = []
  for await (const info of store.list('keys/')) slotKeys.push(info.key)
  const slotBytes = await store.get(slotKeys[0]!)
  const slot = JSON.parse(Buffer.from(slotBytes).toString()) as { kdf: Kdf; wrapped: string }
  const { N, r, p, salt } = slot.kdf
  const kek = scryptSync(FIXTURE_PASSPHRASE, Buffer.from(salt, 'base64'), 32, {
    N,
    r,
    p,
    maxmem: 256 * N * r,
  })
  const wrapped = Buffer.from(slot.wrapped, 'base64')
  const decipher = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(0, 12))
  decipher.setAAD(Buffer.from('strata/v1/key-slot'))
  decipher.setAuthTag(wrapped.subarray(44))
  const master = Buffer.concat([decipher.update(wrapped.subarray(12, 44)), decipher.final()])
  const key = Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), 'strata/v1/config-seal-key', 32))
  const slotFingerprint = createHash('sha256').update(slotBytes).digest('hex')
  const canonical = JSON.stringify([
    'strata/v1/config-seal',
    ...['format', 'version', 'id', 'chunkSize', 'encryption', 'compressionLevel', 'created'].map(
      (f) => config[f],
    ),
    [slotFingerprint],
  ])
  const seal = await json(`seals/${config.id}`)
  expect(seal).toEqual({
    version: 1,
    slots: [slotFingerprint],
    mac: createHmac('sha256', key).update(canonical).digest('hex'),
  })
  const repo = await Repository.open(store, { passphrase: FIXTURE_PASSPHRASE })
  const fingerprint = createHash('sha256')
    .update(JSON.stringify(['strata/v1/config', ...(JSON.parse(canonical) as unknown[]).slice(1, 8)]))
    .digest('hex')
  expect(repo.identity).toEqual({ id: config.id, encryption: 'aes-256-gcm', fingerprint, sealed: true })
})
