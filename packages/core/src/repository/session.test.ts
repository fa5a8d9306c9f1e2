import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { BackupSession } from './session.js'
import { waitForSweeps } from './sweeps.js'
import { ChunkUploader } from './chunk-uploader.js'
import { encodeGcSweep, gcSweepKey } from './format/session.js'
import { PREFIX_SESSIONS } from './format/constants.js'

const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 5, checkWindowMs: 20 }

async function keys(store: MemoryStore, prefix: string): Promise<string[]> {
  const out: string[] = []
  for await (const info of store.list(prefix)) out.push(info.key)
  return out
}

describe('BackupSession', () => {
  it('waits for a sweep in force, ignores one past its deadline', async () => {
    const store = new MemoryStore()
    const repo = await Repository.create(store, { chunkSize: 512 * 1024 })
    const now = Date.now()
    await store.put(
      gcSweepKey('old'),
      encodeGcSweep({ started: '', deadline: new Date(now - 1).toISOString() }),
    )
    const sweepTiming = { pollMs: 5, deleteTimeoutMs: 0 }
    await waitForSweeps(repo, sweepTiming) // returns at once: the old sweep deletes nothing any more
    await store.put(
      gcSweepKey('live'),
      encodeGcSweep({ started: '', deadline: new Date(now + 60_000).toISOString() }),
    )
    let done = false
    const waiting = waitForSweeps(repo, sweepTiming).then(() => (done = true))
    await new Promise((r) => setTimeout(r, 30))
    expect(done).toBe(false)
    await store.delete(gcSweepKey('live'))
    await waiting
    expect(done).toBe(true)
  })

  it('shares sweep checks between concurrent callers, each one starting after its callers came', async () => {
    const store = new MemoryStore()
    const repo = await Repository.create(store, { chunkSize: 512 * 1024 })
    const session = await BackupSession.open(repo, 'vm', 'p', [], timing)
    let listings = 0
    const list = store.list.bind(store)
    store.list = (prefix, options) => (prefix.startsWith('gc/') && listings++, list(prefix, options))
    await Promise.all(Array.from({ length: 20 }, () => session.sweepsEnded()))
    expect(listings).toBeLessThanOrEqual(2) // not one per caller
    // A sweep announced now holds every caller from now on until it is withdrawn.
    const deadline = new Date(Date.now() + 60_000).toISOString()
    await store.put(gcSweepKey('live'), encodeGcSweep({ started: '', deadline }))
    let done = 0
    const waiting = Promise.all(Array.from({ length: 5 }, () => session.sweepsEnded().then(() => done++)))
    await new Promise((r) => setTimeout(r, 30))
    expect(done).toBe(0)
    await store.delete(gcSweepKey('live'))
    await waiting
    expect(done).toBe(5)
    await expect(session.sweepsEnded(AbortSignal.abort())).rejects.toMatchObject({ code: 'ABORTED' })
    await session.close()
  })

  it('publishes borrowed ids before the borrow resolves, and removes everything on close', async () => {
    const store = new MemoryStore()
    const repo = await Repository.create(store, { chunkSize: 512 * 1024 })
    const session = await BackupSession.open(repo, 'vm', 'p', ['points/vm/base/disk-0'], timing)
    const chunks = [Buffer.alloc(1000, 7), Buffer.alloc(1000, 8)]
    const ids = await Promise.all(chunks.map((c) => repo.chunkIdOf(c)))
    await Promise.all(ids.map((id, i) => repo.storeChunk(id, chunks[i]!)))
    const uploader = new ChunkUploader(repo, session)
    expect(await Promise.all(ids.map((id) => uploader.adopt(id)))).toEqual([true, true])
    const segments = (await keys(store, PREFIX_SESSIONS)).filter((k) => k.includes('/borrow-'))
    expect(segments.length).toBe(1) // one segment for the batch
    const published = Buffer.concat(await Promise.all(segments.map((k) => store.get(k))))
    expect(published.includes(ids[0]!)).toBe(true)
    expect(published.length).toBe(64)
    await session.close()
    expect(await keys(store, PREFIX_SESSIONS)).toEqual([])
  })

  it('refuses to go on once its own heartbeats lapsed', async () => {
    const repo = await Repository.create(new MemoryStore(), { chunkSize: 512 * 1024 })
    const session = await BackupSession.open(repo, 'vm', 'p', [], { ...timing, leaseMs: 40 })
    await new Promise((r) => setTimeout(r, 30))
    expect(() => session.assertAlive()).toThrow(expect.objectContaining({ code: 'SESSION_EXPIRED' }))
    await expect(session.publishBorrowed([new Uint8Array(32)])).rejects.toMatchObject({
      code: 'SESSION_EXPIRED',
      retryable: true,
    })
    await session.close()
  })
})
