import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  MemoryStore,
  type CallOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from '../storage/index.js'
import { Repository } from './repository.js'
import { PointWriter } from './point-writer.js'
import { PREFIX_CHUNKS, PREFIX_GC } from './format/constants.js'
import { chunkKey } from './format/layout.js'
import { encodeGcSweep, gcSweepKey } from './format/session.js'
import { restoreDisk } from './testing/fixtures.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 10_000, batchMs: 30, pollMs: 2, checkWindowMs: 50 }

interface Call {
  readonly op: string
  readonly key: string
  readonly createOnly?: boolean
}

/** Records every call; listings of gc/ can be slowed, and atomic creation denied. */
class CountingStore implements ObjectStore {
  readonly calls: Call[] = []
  listDelayMs = 0
  readonly capabilities: ObjectStore['capabilities']

  constructor(
    readonly inner: MemoryStore,
    conditionalCreate = true,
  ) {
    this.capabilities = { ...inner.capabilities, conditionalCreate }
  }

  get name(): string {
    return this.inner.name
  }

  count(op: string, prefix: string): number {
    return this.calls.filter((c) => c.op === op && c.key.startsWith(prefix)).length
  }

  async put(key: string, data: Uint8Array, options?: PutOptions): Promise<void> {
    this.calls.push({ op: 'put', key, createOnly: options?.ifNoneMatch === true })
    return this.inner.put(key, data, options)
  }
  get(key: string, options?: CallOptions): Promise<Uint8Array> {
    this.calls.push({ op: 'get', key })
    return this.inner.get(key, options)
  }
  getRange(key: string, offset: number, length: number, options?: CallOptions): Promise<Uint8Array> {
    this.calls.push({ op: 'getRange', key })
    return this.inner.getRange(key, offset, length, options)
  }
  stat(key: string, options?: CallOptions): Promise<ObjectInfo | undefined> {
    this.calls.push({ op: 'stat', key })
    return this.inner.stat(key, options)
  }
  async *list(prefix: string, options?: CallOptions): AsyncIterable<ObjectInfo> {
    this.calls.push({ op: 'list', key: prefix })
    if (prefix.startsWith(PREFIX_GC)) await new Promise((r) => setTimeout(r, this.listDelayMs))
    yield* this.inner.list(prefix, options)
  }
  delete(key: string, options?: CallOptions): Promise<void> {
    this.calls.push({ op: 'delete', key })
    return this.inner.delete(key, options)
  }
}

async function setup(conditionalCreate = true) {
  const inner = new MemoryStore('counted')
  const store = new CountingStore(inner, conditionalCreate)
  const repo = await Repository.create(store, { chunkSize: CHUNK, compressionLevel: 0 })
  return { inner, store, repo }
}

/** Writes `chunks` as one disk and commits; the calls counted are those from the first chunk on. */
async function backup(
  repo: Repository,
  store: CountingStore,
  chunks: Buffer[],
  window = timing.checkWindowMs,
) {
  const point = await PointWriter.begin(repo, { vm: 'vm', timing: { ...timing, checkWindowMs: window } })
  const writer = point.openDisk('xvda', chunks.length * CHUNK)
  store.calls.length = 0
  await Promise.all(chunks.map((c, i) => writer.putChunk(i, c)))
  return { point, writer }
}

const idHex = async (repo: Repository, data: Buffer) => (await repo.chunkIdOf(data)).toString('hex')

describe('ChunkUploader', () => {
  it('costs one create-only put per new chunk, and one sweep listing per batch, not per chunk', async () => {
    const { store, repo } = await setup()
    const chunks = Array.from({ length: 8 }, () => randomBytes(CHUNK))
    // The default window: a loaded machine must not push the listing out of it.
    const { point } = await backup(repo, store, chunks, 10_000)
    expect(store.count('put', PREFIX_CHUNKS)).toBe(8)
    expect(store.count('stat', PREFIX_CHUNKS)).toBe(0)
    expect(store.count('put', 'sessions/')).toBe(0) // nothing borrowed
    expect(store.count('list', PREFIX_GC)).toBeLessThan(4)
    const committed = await point.commit()
    expect(committed.stats[0]).toMatchObject({ newChunks: 8, reusedChunks: 0 })
    expect(store.count('stat', PREFIX_CHUNKS)).toBe(0) // no second look at commit either
  })

  it('borrows a chunk found by its put: one segment per batch, published before the put resolves', async () => {
    const { store, repo } = await setup()
    const found = [randomBytes(CHUNK), randomBytes(CHUNK)]
    for (const data of found) await repo.storeChunk(await repo.chunkIdOf(data), data)
    const { point } = await backup(repo, store, [...found, randomBytes(CHUNK)], 10_000)
    expect(store.count('put', PREFIX_CHUNKS)).toBe(3) // create-only: the two found answered ALREADY_EXISTS
    expect(store.count('stat', PREFIX_CHUNKS)).toBe(0)
    const segments = store.calls.filter((c) => c.op === 'put' && c.key.includes('/borrow-'))
    expect(segments.length).toBe(1)
    const published = Buffer.from(await store.inner.get(segments[0]!.key))
    for (const data of found)
      expect(published.includes(Buffer.from(await idHex(repo, data), 'hex'))).toBe(true)
    expect((await point.commit()).stats[0]).toMatchObject({ newChunks: 1, reusedChunks: 2 })
  })

  it('looks before it uploads once most chunks turn out to exist (a full backup of stored data)', async () => {
    const { store, repo } = await setup()
    const chunks = Array.from({ length: 24 }, () => randomBytes(CHUNK))
    for (const data of chunks) await repo.storeChunk(await repo.chunkIdOf(data), data)
    const point = await PointWriter.begin(repo, { vm: 'vm', timing, concurrency: 1 })
    const writer = point.openDisk('xvda', chunks.length * CHUNK)
    store.calls.length = 0
    for (const [i, data] of chunks.entries()) await writer.putChunk(i, data)
    expect(store.count('put', PREFIX_CHUNKS)).toBeLessThanOrEqual(3) // uploaded for nothing: the first few
    expect(store.count('stat', PREFIX_CHUNKS)).toBeGreaterThanOrEqual(21)
    expect((await point.commit()).stats[0]).toMatchObject({ newChunks: 0, reusedChunks: 24 })
  })

  it('on a store without atomic creation, looks once and puts plainly', async () => {
    const { store, repo } = await setup(false)
    const { point } = await backup(repo, store, [randomBytes(CHUNK), randomBytes(CHUNK)])
    expect(store.count('stat', PREFIX_CHUNKS)).toBe(2)
    const puts = store.calls.filter((c) => c.op === 'put' && c.key.startsWith(PREFIX_CHUNKS))
    expect(puts.map((c) => c.createOnly)).toEqual([false, false])
    expect((await point.commit()).stats[0]).toMatchObject({ newChunks: 2 })
  })

  it('checks a chunk again at commit when its sweep listing came back late, and refuses if it is gone', async () => {
    const { store, inner, repo } = await setup()
    store.listDelayMs = 2 * timing.checkWindowMs // the listing cannot vouch for what was stored before it
    const kept = [randomBytes(CHUNK), randomBytes(CHUNK)]
    const first = await backup(repo, store, kept)
    expect(store.count('stat', PREFIX_CHUNKS)).toBe(0)
    await first.point.commit()
    expect(store.count('stat', PREFIX_CHUNKS)).toBe(2) // looked at again, found

    const lost = randomBytes(CHUNK)
    const second = await backup(repo, store, [lost])
    await inner.delete(chunkKey(await idHex(repo, lost))) // a stale GC delete landed meanwhile
    await expect(second.point.commit()).rejects.toMatchObject({ code: 'CHUNK_MISSING', retryable: true })
    await second.point.abort()
  })

  it('stores a found chunk again from the bytes it still holds when a sweep in force takes it', async () => {
    const { inner, repo } = await setup()
    const data = randomBytes(CHUNK)
    const key = chunkKey(await idHex(repo, data))
    await repo.storeChunk(await repo.chunkIdOf(data), data) // garbage, about to be swept
    const writer = await PointWriter.begin(repo, { vm: 'vm', timing })
    const deadline = new Date(Date.now() + 60_000).toISOString()
    await inner.put(gcSweepKey('running-2'), encodeGcSweep({ started: '', deadline }))
    let stored = false
    const putting = writer
      .openDisk('xvda', CHUNK)
      .putChunk(0, Buffer.from(data))
      .then(() => (stored = true))
    await new Promise((r) => setTimeout(r, 100))
    expect(stored).toBe(false) // the bytes stay held while the sweep runs
    await inner.delete(key) // the sweep deletes it (it had not seen the borrow yet)...
    await inner.delete(gcSweepKey('running-2')) // ...and ends
    await putting
    const committed = await writer.commit()
    expect(committed.stats[0]).toMatchObject({ newChunks: 1 })
    expect((await restoreDisk(repo, committed)).equals(data)).toBe(true)
  })
})
