import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { checkRepository } from './check.js'
import { verifyChunks } from './verify.js'
import { PREFIX_CHUNKS } from './format/constants.js'
import { manifestKey } from './format/layout.js'
import { backupDisk, makeDisk, restoreDisk } from './testing/fixtures.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2 }

async function firstChunkKey(store: MemoryStore): Promise<string> {
  for await (const info of store.list(PREFIX_CHUNKS)) return info.key
  throw new Error('no chunk')
}

async function flipLastByte(store: MemoryStore, key: string): Promise<void> {
  const bytes = await store.get(key)
  bytes[bytes.length - 1]! ^= 0x40
  await store.delete(key)
  await store.put(key, bytes)
}

describe.each([
  ['plain', undefined],
  ['encrypted', new TextEncoder().encode('correct horse battery')],
])('check and verify (%s)', (_, passphrase) => {
  it('check finds missing chunks and broken indexes, in windows of any size', async () => {
    const store = new MemoryStore('nas1')
    const repo = await Repository.create(store, {
      chunkSize: CHUNK,
      passphrase,
      weakKdfForTests: { N: 1024, r: 8, p: 1 },
    })
    const point = await backupDisk(repo, makeDisk(9, CHUNK), { timing })
    await backupDisk(repo, makeDisk(9, CHUNK), { timing, vm: 'other' })
    expect(await checkRepository(repo)).toMatchObject({ ok: true, points: 2, indexes: 2 })
    const lost = await firstChunkKey(store)
    await store.delete(lost)
    for (const windowBytes of [32, 64, 1 << 20]) {
      const result = await checkRepository(repo, { windowBytes })
      expect(result.ok).toBe(false)
      // One problem per reference (the repeated block is referenced three times).
      expect(result.problems.length).toBeGreaterThan(0)
      expect(new Set(result.problems.map((p) => p.object))).toEqual(
        new Set([`chunk ${lost.split('/').pop()}`]),
      )
    }
    await flipLastByte(store, point.manifest.disks[0]!.index)
    const broken = await checkRepository(repo)
    expect(broken.problems.map((p) => p.problem).join()).toMatch(/corrupt/)
    await store.delete(manifestKey(point))
  })

  it('verify marks a corrupt chunk bad and the next backup heals it', async () => {
    const store = new MemoryStore('nas1')
    const repo = await Repository.create(store, {
      chunkSize: CHUNK,
      passphrase,
      weakKdfForTests: { N: 1024, r: 8, p: 1 },
    })
    const disk = makeDisk(9, CHUNK)
    const first = await backupDisk(repo, disk, { timing })
    expect((await verifyChunks(repo)).bad).toEqual([])
    const damaged = await firstChunkKey(store)
    await flipLastByte(store, damaged)
    const result = await verifyChunks(repo)
    expect(result.bad.map((b) => b.id)).toEqual([damaged.split('/').pop()])
    expect(result.checked).toBe(result.chunks)
    expect((await checkRepository(repo)).ok).toBe(false) // the bad chunk is gone until a backup stores it again
    // An incremental that changes nothing still re-reads the bad chunk (needed()) and stores it.
    await backupDisk(repo, disk, { timing, base: first, only: [] })
    expect((await checkRepository(repo)).ok).toBe(true)
    expect((await restoreDisk(repo, first)).equals(disk)).toBe(true)
    expect(await repo.listBad()).toEqual(new Set())
  })

  it('verify samples a fraction', async () => {
    const repo = await Repository.create(new MemoryStore(), {
      chunkSize: CHUNK,
      passphrase,
      weakKdfForTests: { N: 1024, r: 8, p: 1 },
    })
    await backupDisk(repo, makeDisk(60, CHUNK, 0), { timing })
    const result = await verifyChunks(repo, { sample: 0.5 })
    expect(result.checked).toBeGreaterThan(0)
    expect(result.checked).toBeLessThan(result.chunks)
  })
})
