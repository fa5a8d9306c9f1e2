import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { PointWriter } from './point-writer.js'
import { DiskReader } from './disk-reader.js'
import { listPoints } from './points.js'
import { PREFIX_CHUNKS } from './format/constants.js'

const CHUNK = 512 * 1024
const FAST = { N: 1024, r: 8, p: 1 }
const pass = new TextEncoder().encode('correct horse')

/** A disk of `n` chunks: zeros, random, and a repeated block, so every path of the writer runs. */
function makeDisk(n: number, tail = 1000): Buffer {
  const repeated = randomBytes(CHUNK)
  const parts: Buffer[] = []
  for (let i = 0; i < n; i++)
    parts.push(i % 3 === 0 ? Buffer.alloc(CHUNK) : i % 3 === 1 ? randomBytes(CHUNK) : repeated)
  parts.push(randomBytes(tail))
  return Buffer.concat(parts)
}

async function backup(
  repo: Repository,
  disk: Buffer,
  base?: { vm: string; pointId: string },
  only?: number[],
) {
  const point = await PointWriter.begin(repo, { vm: 'vm-1', metadata: { name: 'web' }, base })
  const writer = point.openDisk('xvda', disk.length)
  const indexes = only ?? Array.from({ length: writer.chunkCount }, (_, i) => i)
  await Promise.all(
    [...new Set([...indexes, ...writer.needed()])]
      .reverse()
      .map((i) => writer.putChunk(i, disk.subarray(i * CHUNK, i * CHUNK + writer.chunkLength(i)))),
  )
  return point.commit()
}

async function restore(repo: Repository, ref: { vm: string; pointId: string }): Promise<Buffer> {
  const reader = await DiskReader.open(repo, ref)
  const out = Buffer.alloc(reader.size)
  await Promise.all(
    Array.from({ length: reader.chunkCount }, async (_, i) =>
      out.set(await reader.readChunk(i), i * reader.chunkSize),
    ),
  )
  return out
}

async function countChunks(store: MemoryStore): Promise<number> {
  let n = 0
  for await (const _ of store.list(PREFIX_CHUNKS)) n++
  return n
}

describe.each([
  ['plain', undefined],
  ['encrypted', pass],
])('repository (%s)', (_, passphrase) => {
  it('round-trips a disk byte-exactly, skipping zeros and duplicates', async () => {
    const store = new MemoryStore('test')
    const repo = await Repository.create(store, { chunkSize: CHUNK, passphrase, weakKdfForTests: FAST })
    const disk = makeDisk(9)
    const point = await backup(repo, disk)
    // 3 random + 1 repeated + 1 tail; zeros never stored.
    expect(await countChunks(store)).toBe(5)
    expect(point.stats[0]!.newChunks).toBe(5)
    const reopened = await Repository.open(store, { passphrase })
    expect((await restore(reopened, point)).equals(disk)).toBe(true)
    expect((await listPoints(reopened, 'vm-1')).map((p) => p.pointId)).toEqual([point.pointId])
  })

  it('stores only changed chunks over a base', async () => {
    const store = new MemoryStore('test')
    const repo = await Repository.create(store, { chunkSize: CHUNK, passphrase, weakKdfForTests: FAST })
    const disk = makeDisk(9)
    const first = await backup(repo, disk)
    const before = await countChunks(store)
    const changed = Buffer.from(disk)
    randomBytes(100).copy(changed, 4 * CHUNK + 10)
    changed.fill(0, 1 * CHUNK, 2 * CHUNK)
    const second = await backup(repo, changed, first, [1, 4])
    expect(second.stats[0]!.newChunks).toBe(1)
    expect(await countChunks(store)).toBe(before + 1)
    expect((await restore(repo, second)).equals(changed)).toBe(true)
    expect((await restore(repo, first)).equals(disk)).toBe(true)
  })
})

describe('repository keys', () => {
  it('refuses a wrong passphrase clearly and opens with any key slot', async () => {
    const store = new MemoryStore('nas1')
    const repo = await Repository.create(store, { chunkSize: CHUNK, passphrase: pass, weakKdfForTests: FAST })
    await expect(
      Repository.open(store, { passphrase: new TextEncoder().encode('wrong') }),
    ).rejects.toMatchObject({
      code: 'WRONG_PASSPHRASE',
      message: expect.stringContaining("'nas1'"),
    })
    await expect(Repository.open(store)).rejects.toMatchObject({ code: 'PASSPHRASE_REQUIRED' })
    const second = new TextEncoder().encode('second passphrase')
    await repo.addKeySlot(second, 'key file', { weakKdfForTests: FAST })
    const first = (await repo.listKeySlots()).find((s) => s.label === 'initial passphrase')
    await repo.removeKeySlot(first!.id)
    await expect(Repository.open(store, { passphrase: pass })).rejects.toMatchObject({
      code: 'WRONG_PASSPHRASE',
    })
    const reopened = await Repository.open(store, { passphrase: second })
    expect(reopened.chunkId(Buffer.from('x')).equals(repo.chunkId(Buffer.from('x')))).toBe(true)
  })

  it('keys chunk ids in encrypted repositories', async () => {
    const plain = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    const enc = await Repository.create(new MemoryStore(), {
      chunkSize: CHUNK,
      passphrase: pass,
      weakKdfForTests: FAST,
    })
    const data = randomBytes(CHUNK)
    expect(plain.chunkId(data).equals(enc.chunkId(data))).toBe(false)
  })

  it('rejects a corrupted chunk on read', async () => {
    const store = new MemoryStore('nas1')
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    const point = await backup(repo, makeDisk(3))
    for await (const info of store.list(PREFIX_CHUNKS)) {
      const bytes = await store.get(info.key)
      bytes[bytes.length - 1]! ^= 1
      await store.delete(info.key)
      await store.put(info.key, bytes)
      break
    }
    await expect(restore(repo, point)).rejects.toMatchObject({ code: 'CORRUPT_OBJECT' })
  })
})

describe('DiskReader', () => {
  it('reads a repeated chunk from the store once while it stays recent', async () => {
    const store = new MemoryStore('test')
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    const disk = makeDisk(12) // the repeated block sits at chunks 2, 5, 8, 11
    const point = await backup(repo, disk)
    let gets = 0
    const getRange = store.getRange.bind(store)
    store.getRange = async (key, offset, length, options) => {
      if (key.startsWith(PREFIX_CHUNKS)) gets++
      return getRange(key, offset, length, options)
    }
    expect((await restore(repo, point)).equals(disk)).toBe(true)
    expect(gets).toBe(4 + 1 + 1) // four random chunks, the repeated one once, the tail
  })
})
