import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { checkRepository } from './check.js'
import { verifyChunks } from './verify.js'
import { PREFIX_QUARANTINE, quarantineKey } from './quarantine.js'
import { collectGarbage } from './gc.js'
import { PREFIX_CHUNKS } from './format/constants.js'
import { manifestKey } from './format/layout.js'
import { backupDisk, makeDisk, restoreDisk } from './testing/fixtures.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2, checkWindowMs: 20 }

async function firstChunkKey(store: MemoryStore): Promise<string> {
  for await (const info of store.list(PREFIX_CHUNKS)) return info.key
  throw new Error('no chunk')
}

async function keysUnder(store: MemoryStore, prefix: string): Promise<string[]> {
  const keys: string[] = []
  for await (const info of store.list(prefix)) keys.push(info.key)
  return keys
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
    const corrupt = await store.get(damaged)
    const result = await verifyChunks(repo)
    const id = damaged.split('/').pop()!
    expect(result.bad.map((b) => b.id)).toEqual([id])
    expect(result.checked).toBe(result.chunks)
    expect((await checkRepository(repo)).ok).toBe(false) // the bad chunk is gone until a backup stores it again
    // Moved, not deleted: the quarantined copy holds the bytes verify found.
    expect(Buffer.from(await store.get(quarantineKey(id))).equals(corrupt)).toBe(true)
    // An incremental that changes nothing still re-reads the bad chunk (needed()) and stores it.
    await backupDisk(repo, disk, { timing, base: first, only: [] })
    expect((await checkRepository(repo)).ok).toBe(true)
    expect((await restoreDisk(repo, first)).equals(disk)).toBe(true)
    expect(await repo.listBad()).toEqual(new Set())
    // Kept by GC until purged.
    expect(await collectGarbage(repo, { timing })).toMatchObject({ quarantinePurged: 0 })
    expect(await collectGarbage(repo, { timing, purgeQuarantine: true, dryRun: true })).toMatchObject({
      quarantinePurged: 1,
    })
    expect(await keysUnder(store, PREFIX_QUARANTINE)).toEqual([quarantineKey(id)])
    expect(await collectGarbage(repo, { timing, purgeQuarantine: true })).toMatchObject({
      quarantinePurged: 1,
    })
    expect(await keysUnder(store, PREFIX_QUARANTINE)).toEqual([])
  })

  it('verify loses nothing to reads that fail: a chunk sound when about to be moved stays', async () => {
    const store = new MemoryStore('flaky')
    const repo = await Repository.create(store, {
      chunkSize: CHUNK,
      passphrase,
      weakKdfForTests: { N: 1024, r: 8, p: 1 },
    })
    const disk = makeDisk(9, CHUNK)
    const point = await backupDisk(repo, disk, { timing })
    const key = await firstChunkKey(store)
    // The next two reads of that chunk come back damaged (a bad cache, a flaky link): verify's two tries.
    let damaged = 2
    const getRange = store.getRange.bind(store)
    const get = store.get.bind(store)
    const flaky = (bytes: Uint8Array, k: string): Uint8Array => {
      if (k !== key || damaged-- <= 0) return bytes
      const copy = Uint8Array.from(bytes)
      copy[copy.length - 1]! ^= 0x40
      return copy
    }
    store.get = async (k, o) => flaky(await get(k, o), k)
    store.getRange = async (k, offset, length, o) => flaky(await getRange(k, offset, length, o), k)
    const result = await verifyChunks(repo)
    expect(result.bad).toEqual([])
    expect(result.flaky).toEqual([key.split('/').pop()])
    expect(await repo.listBad()).toEqual(new Set())
    expect((await checkRepository(repo)).ok).toBe(true)
    expect((await restoreDisk(repo, point)).equals(disk)).toBe(true)
  })

  it('a backup never borrows a corrupt copy that verify left in place: it moves it and stores afresh', async () => {
    const store = new MemoryStore('halfway')
    const repo = await Repository.create(store, {
      chunkSize: CHUNK,
      passphrase,
      weakKdfForTests: { N: 1024, r: 8, p: 1 },
    })
    const disk = makeDisk(9, CHUNK)
    const first = await backupDisk(repo, disk, { timing })
    const damaged = await firstChunkKey(store)
    await flipLastByte(store, damaged)
    const id = damaged.split('/').pop()!
    await repo.markBad(id, 'corrupt') // verify stopped after its marker, before moving the chunk
    await backupDisk(repo, disk, { timing, base: first, only: [] })
    expect(await keysUnder(store, PREFIX_QUARANTINE)).toEqual([quarantineKey(id)])
    expect((await verifyChunks(repo)).bad).toEqual([])
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
