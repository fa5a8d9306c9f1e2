import { describe, expect, it } from 'vitest'
import { MemoryStore, StorageError, wrap, type ObjectStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { collectGarbage } from './gc.js'
import { deletePoint } from './points.js'
import { PREFIX_CHUNKS } from './format/constants.js'
import { decodeGcSweep } from './format/session.js'
import { backupDisk, makeDisk } from './testing/fixtures.js'
import { PointWriter } from './point-writer.js'
import { checkRepository } from './check.js'
import { chunkKey } from './format/layout.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 1, pollMs: 2, checkWindowMs: 20 }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A repository holding only garbage chunks (a forgotten point), behind the full wrapper stack. */
async function garbageRepository(inner: MemoryStore): Promise<{ repo: Repository; store: ObjectStore }> {
  const store = wrap(inner, { retry: { baseDelayMs: 1, maxDelayMs: 2 } })
  const repo = await Repository.create(store, { chunkSize: CHUNK })
  await deletePoint(repo, await backupDisk(repo, makeDisk(6, CHUNK), { timing }))
  await sleep(5) // older than the cutoff
  return { repo, store }
}

/** Records when each chunk delete and each announcement put and withdrawal reached the store. */
function watch(inner: MemoryStore) {
  const events: { what: 'delete' | 'announce' | 'withdraw'; key: string; at: number; deadline?: number }[] =
    []
  const put = inner.put.bind(inner)
  inner.put = async (key, data, options) => {
    await put(key, data, options)
    if (key.endsWith('/sweep')) {
      const deadline = Date.parse(decodeGcSweep(data, key).deadline)
      events.push({ what: 'announce', key, at: Date.now(), deadline })
    }
  }
  const remove = inner.delete.bind(inner)
  inner.delete = async (key, options) => {
    await remove(key, options)
    if (key.startsWith(PREFIX_CHUNKS)) events.push({ what: 'delete', key, at: Date.now() })
    if (key.endsWith('/sweep')) events.push({ what: 'withdraw', key, at: Date.now() })
  }
  return events
}

async function chunkCount(store: MemoryStore): Promise<number> {
  let n = 0
  for await (const _ of store.list(PREFIX_CHUNKS)) n++
  return n
}

describe('GC deletes and the announced deadline', () => {
  it('lands no delete after the deadline, not even the retry of one that failed late', async () => {
    const inner = new MemoryStore('late')
    const events = watch(inner)
    const { repo } = await garbageRepository(inner)
    // The first chunk delete is slow and fails after the deadline (a 503 that took its time).
    const remove = inner.delete.bind(inner)
    let slowed: string | undefined
    inner.delete = async (key, options) => {
      if (key.startsWith(PREFIX_CHUNKS) && slowed === undefined) {
        slowed = key
        await sleep(300)
        throw new StorageError('TRANSIENT', 'slow down')
      }
      return remove(key, options)
    }
    const result = await collectGarbage(repo, { timing, safetyMarginMs: 0, sweepDeadlineMs: 150 })
    const deadline = Math.max(...events.filter((e) => e.what === 'announce').map((e) => e.deadline!))
    const deletes = events.filter((e) => e.what === 'delete')
    expect(deletes.length).toBeGreaterThan(0) // the other chunks went before the deadline
    for (const d of deletes) expect(d.at).toBeLessThan(deadline)
    expect(await inner.stat(slowed!)).toBeDefined() // the late retry never landed
    expect(result.stoppedAtDeadline).toBe(true)
    expect(result.chunksDeleted).toBe(deletes.length)
  })

  it('gives each delete a hard timeout and keeps the announcement a check window after the last one', async () => {
    const inner = new MemoryStore('hung')
    const events = watch(inner)
    const { repo } = await garbageRepository(inner)
    const remove = inner.delete.bind(inner)
    let hung = 0
    inner.delete = async (key, options) => {
      if (key.startsWith(PREFIX_CHUNKS) && hung++ === 1) {
        // Answers only when given up on: a connection that went silent.
        await new Promise((_, reject) =>
          options?.signal?.addEventListener('abort', () => reject(new StorageError('TRANSIENT', 'aborted'))),
        )
      }
      return remove(key, options)
    }
    const deleteTimeoutMs = 100
    const started = Date.now()
    const gc = collectGarbage(repo, { timing: { ...timing, deleteTimeoutMs }, safetyMarginMs: 0 })
    await expect(gc).rejects.toMatchObject({ code: 'TRANSIENT' })
    expect(Date.now() - started).toBeLessThan(5000) // retries bounded too, not the default minute
    const lastDelete = Math.max(...events.filter((e) => e.what === 'delete').map((e) => e.at))
    const withdrawn = events.filter((e) => e.what === 'withdraw').at(-1)!
    expect(withdrawn.at - lastDelete).toBeGreaterThanOrEqual(timing.checkWindowMs)
    expect(await chunkCount(inner)).toBeGreaterThan(0)
  })

  it('refuses sweep deadlines writers would ignore or that leave no time to delete', async () => {
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    for (const sweepDeadlineMs of [2 * 3_600_000, timing.checkWindowMs])
      await expect(collectGarbage(repo, { timing, sweepDeadlineMs })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      })
  })

  it('keeps the announcement past its last delete, so a writer that looks quickly cannot miss it', async () => {
    // A sweep listed garbage chunk X; another GC deleted X; a backup stores X anew; the sweep's stale
    // delete takes the new copy and the sweep ends. The writer's one look, quick enough to need no
    // second one, must still see that sweep.
    const inner = new MemoryStore('linger')
    const repo = await Repository.create(inner, { chunkSize: CHUNK })
    const x = makeDisk(2, CHUNK).subarray(CHUNK, 2 * CHUNK) // random bytes
    await deletePoint(repo, await backupDisk(repo, Buffer.from(x), { timing }))
    const key = chunkKey((await repo.chunkIdOf(x)).toString('hex'))
    await sleep(5)
    let reached!: () => void
    let release!: () => void
    const atDelete = new Promise<void>((r) => (reached = r))
    const released = new Promise<void>((r) => (release = r))
    const remove = inner.delete.bind(inner)
    inner.delete = async (k, options) => {
      if (k === key) {
        reached()
        await released
      }
      return remove(k, options)
    }
    const slow = { ...timing, batchMs: 300, checkWindowMs: 1500 }
    const point = await PointWriter.begin(repo, { vm: 'vm-2', timing: slow })
    const gc = collectGarbage(repo, { timing: slow, safetyMarginMs: 0 })
    await atDelete
    await remove(key) // another GC was first
    await point.openDisk('xvda', CHUNK).putChunk(0, Buffer.from(x)) // created anew; its look comes later
    release() // the stale delete takes it, and the sweep ends
    await sleep(50)
    const committed = await point.commit().catch(async (error: { code?: string }) => {
      expect(error.code).toBe('CHUNK_MISSING')
      await point.abort()
      return undefined
    })
    await gc
    expect(committed).toBeUndefined() // X is gone: never committed without it
    expect((await checkRepository(repo)).problems).toEqual([])
  })
})
