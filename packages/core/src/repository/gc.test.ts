import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { PointWriter } from './point-writer.js'
import { collectGarbage } from './gc.js'
import { BackupSession } from './session.js'
import { encodeGcSweep, gcSweepKey, sessionBorrowKey } from './format/session.js'
import { checkRepository } from './check.js'
import { deletePoint, listPoints } from './points.js'
import { PREFIX_CHUNKS } from './format/constants.js'
import { chunkKey } from './format/layout.js'
import { JitterStore, backupDisk, makeDisk, restoreDisk } from './testing/fixtures.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2, checkWindowMs: 20 }

async function chunkKeys(store: MemoryStore): Promise<string[]> {
  const keys: string[] = []
  for await (const info of store.list(PREFIX_CHUNKS)) keys.push(info.key)
  return keys
}

/** GC refuses (GC_UNSAFE, deleting nothing) when a running backup's base was forgotten under it. */
async function gcOrRefusal(repo: Repository, sweepBatchMs?: number): Promise<void> {
  await collectGarbage(repo, { timing, safetyMarginMs: 0, sweepBatchMs }).catch((e: { code?: string }) => {
    if (e.code !== 'GC_UNSAFE') throw e
  })
}

describe('collectGarbage', () => {
  it('deletes the chunks of forgotten points only, and nothing younger than the margin', async () => {
    const store = new MemoryStore('gc')
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    const keep = await backupDisk(repo, makeDisk(6, CHUNK), { timing })
    const before = await chunkKeys(store)
    const gone = await backupDisk(repo, makeDisk(6, CHUNK), { timing })
    await deletePoint(repo, gone)

    const young = await collectGarbage(repo, { timing }) // default margin: everything is younger than 1 h
    expect(young.chunksDeleted).toBe(0)
    expect(young.keptYoung).toBeGreaterThan(0)

    await new Promise((r) => setTimeout(r, 5))
    const result = await collectGarbage(repo, { timing, safetyMarginMs: 0 })
    expect(result.chunksDeleted).toBe(young.keptYoung)
    expect(await chunkKeys(store)).toEqual(before)
    expect((await checkRepository(repo)).ok).toBe(true)
    expect((await restoreDisk(repo, keep)).equals(await restoreDisk(repo, keep))).toBe(true)
  })

  it('keeps a chunk borrowed between two sweep batches', async () => {
    const store = new MemoryStore('batches')
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    await deletePoint(repo, await backupDisk(repo, makeDisk(6, CHUNK), { timing }))
    await new Promise((r) => setTimeout(r, 5))
    const garbage = await chunkKeys(store)
    const first = garbage[0]! // the sweep's first candidate (listing is in key order)
    const session = await BackupSession.open(repo, 'vm-2', 'p', [], timing)
    let announcements = 0
    const put = store.put.bind(store)
    store.put = async (key, data, options) => {
      await put(key, data, options)
      // A writer publishes its borrow after GC read the sessions for batch 1, before it reads them again.
      if (key.endsWith('/sweep') && ++announcements === 2) {
        await put(sessionBorrowKey(session.id, 1), Buffer.from(first.split('/').pop()!, 'hex'))
      }
    }
    const result = await collectGarbage(repo, { timing, safetyMarginMs: 0, sweepBatchMs: 0 })
    expect(announcements).toBeGreaterThan(2)
    expect(await chunkKeys(store)).toEqual([first])
    expect(result.chunksDeleted).toBe(garbage.length - 1)
    await session.close()
  })

  it('refuses a negative margin', async () => {
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    await expect(collectGarbage(repo, { safetyMarginMs: -1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
  })

  it('never commits a chunk that a sweep deleted by a stale listing after the backup created it', async () => {
    // The sweep lists garbage chunk X; another GC deletes X; a backup creates X anew; then the sweep's
    // delete by name lands and takes the new copy. The backup must notice before it commits.
    const inner = new MemoryStore('stale')
    const store = new JitterStore(inner, 0)
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    const disk = makeDisk(2, CHUNK) // a zero chunk, a random one (X), a short tail
    await deletePoint(repo, await backupDisk(repo, disk, { timing }))
    const key = chunkKey((await repo.chunkIdOf(disk.subarray(CHUNK, 2 * CHUNK))).toString('hex'))
    let reached!: () => void
    let open!: () => void
    const atDelete = new Promise<void>((resolve) => (reached = resolve))
    const opened = new Promise<void>((resolve) => (open = resolve))
    const remove = store.delete.bind(store)
    store.delete = async (k, options) => {
      if (k === key) {
        reached()
        await opened
      }
      return remove(k, options)
    }
    await new Promise((r) => setTimeout(r, 5)) // X is older than the backup, so than the sweep's cutoff
    // The backup starts first (a session opening waits for sweeps in force).
    const point = await PointWriter.begin(repo, { vm: 'vm-2', metadata: {}, timing })
    const writer = point.openDisk('xvda', disk.length)
    const gc = collectGarbage(repo, { timing, safetyMarginMs: 0 })
    await atDelete // the sweep decided, from its listing, to delete X
    await inner.delete(key) // another GC was first
    // (The garbage tail chunk is borrowed, which waits for the sweep: the puts end after it.)
    const stored = Promise.all(
      Array.from({ length: writer.chunkCount }, (_, i) =>
        writer.putChunk(i, disk.subarray(i * CHUNK, i * CHUNK + writer.chunkLength(i))),
      ),
    )
    for (let i = 0; i < 2000 && (await inner.stat(key)) === undefined; i++) {
      await new Promise((r) => setTimeout(r, 1))
    }
    expect(await inner.stat(key)).toBeDefined() // the backup created X anew
    open() // the stale delete takes it
    await gc
    await stored
    // Either the writer checked X after the sweep ended and stored it again, or it checked while the
    // sweep was in force and the commit finds X gone: a clean refusal. Never a point without X.
    const committed = await point.commit().catch(async (error: { code?: string }) => {
      expect(error.code).toBe('CHUNK_MISSING')
      await point.abort()
      return undefined
    })
    expect((await checkRepository(repo)).problems).toEqual([])
    const final = committed ?? (await backupDisk(repo, disk, { timing, vm: 'vm-2' }))
    expect((await checkRepository(repo)).problems).toEqual([])
    expect((await restoreDisk(repo, final)).equals(disk)).toBe(true)
  })

  it('stores new chunks beside a sweep without waiting for it, and commits once it has ended', async () => {
    const store = new MemoryStore('beside')
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    const point = await PointWriter.begin(repo, { vm: 'vm', metadata: {}, timing })
    const disk = makeDisk(4, CHUNK)
    const deadline = new Date(Date.now() + 60_000).toISOString()
    await store.put(gcSweepKey('running'), encodeGcSweep({ started: '', deadline }))
    const writer = point.openDisk('xvda', disk.length)
    await Promise.all(
      Array.from({ length: writer.chunkCount }, (_, i) =>
        writer.putChunk(i, disk.subarray(i * CHUNK, i * CHUNK + writer.chunkLength(i))),
      ),
    )
    let committed = false
    const commit = point.commit().then((p) => ((committed = true), p))
    await new Promise((r) => setTimeout(r, 30))
    expect(committed).toBe(false) // waits for the sweep before it relies on what it created beside it
    await store.delete(gcSweepKey('running'))
    expect((await restoreDisk(repo, await commit)).equals(disk)).toBe(true)
  })

  it('never deletes a chunk that a racing backup relies on (random interleavings)', async () => {
    const outcomes = new Set<string>()
    for (let round = 0; round < 16; round++) {
      const store = new MemoryStore('race')
      const repo = await Repository.create(new JitterStore(store, 3), {
        chunkSize: CHUNK,
        compressionLevel: 1,
      })
      // Garbage the racing backups will want: a forgotten point with the same content, and a forgotten base.
      const disk = makeDisk(12, CHUNK)
      const base = await backupDisk(repo, disk, { timing })
      const forgotten = await backupDisk(repo, disk, { timing, vm: 'vm-2' })
      await deletePoint(repo, forgotten)
      const changed = Buffer.from(disk)
      randomBytes(CHUNK).copy(changed, 4 * CHUNK)
      // Races: a full backup borrowing garbage, an incremental over `base` while `base` is forgotten, two GCs.
      const results = await Promise.all([
        // A chunk it created may be taken by a sweep's stale listing (two GCs race here): a clean
        // refusal to commit (CHUNK_MISSING), after which a new run must succeed.
        backupDisk(repo, disk, { timing, vm: 'vm-3' }).catch((e: { code?: string }) => {
          if (e.code !== 'CHUNK_MISSING') throw e
          return undefined
        }),
        // Starting after its base is forgotten is a clean failure; starting before must succeed.
        backupDisk(repo, changed, { timing, base, only: [4] }).catch((e: { code?: string }) => {
          if (e.code !== 'POINT_NOT_FOUND') throw e
          return undefined
        }),
        (async () => {
          await new Promise((r) => setTimeout(r, Math.random() * 20))
          await deletePoint(repo, base)
        })(),
        gcOrRefusal(repo),
        (async () => {
          await new Promise((r) => setTimeout(r, Math.random() * 30))
          return gcOrRefusal(repo, 1) // renews its announcement between almost every deletion
        })(),
      ])
      const [raced, incremental] = results
      expect((await checkRepository(repo)).problems).toEqual([]) // no point refers to a missing chunk
      const full = raced ?? (await backupDisk(repo, disk, { timing, vm: 'vm-3' }))
      if (raced === undefined) outcomes.add('full refused, then done')
      await collectGarbage(repo, { timing, safetyMarginMs: 0 })
      const check = await checkRepository(repo)
      expect(check.problems).toEqual([])
      expect((await restoreDisk(repo, full)).equals(disk)).toBe(true)
      if (incremental !== undefined) expect((await restoreDisk(repo, incremental)).equals(changed)).toBe(true)
      expect((await listPoints(repo)).length).toBe(incremental === undefined ? 1 : 2)
      outcomes.add(incremental === undefined ? 'base gone first' : 'incremental done')
    }
    expect(outcomes.has('incremental done')).toBe(true)
  }, 60_000)
})
