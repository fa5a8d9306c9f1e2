// Mirrors between in-memory repositories: plain → encrypted → encrypted with another key, byte for byte;
// a second run copies only new chunks; an interrupted run completes without uploading twice; retention.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ChunkSink, readSpans } from '../../disks/index.js'
import {
  DiskReader,
  listChunkIds,
  listPoints,
  PointWriter,
  Repository,
  type PointRef,
} from '../../repository/index.js'
import { MemoryStore } from '../../storage/index.js'
import { silentTask } from '../../shared/index.js'
import { mirrorRepository } from './mirror-run.js'
import { MirrorError } from './mirror-error.js'

const CHUNK = 512 * 1024
const SIZE = 24 * CHUNK + 4096
const FAST = { N: 1024, r: 8, p: 1 }

const plain = (): Promise<Repository> => Repository.create(new MemoryStore('plain'), { chunkSize: CHUNK })
const encrypted = (name: string, secret: string): Promise<Repository> =>
  Repository.create(new MemoryStore(name), {
    chunkSize: CHUNK,
    passphrase: new TextEncoder().encode(secret),
    weakKdfForTests: FAST,
  })

async function backup(repo: Repository, vm: string, disk: Buffer): Promise<PointRef> {
  const point = await PointWriter.begin(repo, { vm, jobId: 'job' })
  const sink = new ChunkSink([point.openDisk('xvda', disk.length)])
  for (let i = 0; i < sink.chunkCount; i++)
    await sink.put(i, disk.subarray(i * CHUNK, i * CHUNK + sink.chunkLength(i)))
  const done = await point.commit()
  return { vm: done.vm, pointId: done.pointId }
}

async function contents(repo: Repository, ref: PointRef): Promise<Buffer> {
  const reader = await DiskReader.open(repo, ref)
  const out = Buffer.alloc(reader.size)
  const all = Array.from({ length: reader.chunkCount }, (_, i) => i)
  for await (const { index, data } of readSpans(reader, all, CHUNK, 4)) data.copy(out, index * CHUNK)
  return out
}

function disk(): Buffer {
  const d = Buffer.alloc(SIZE)
  for (let i = 0; i < 20; i++) randomBytes(CHUNK).copy(d, i * CHUNK) // chunks 20..23 stay zeros
  randomBytes(4096).copy(d, 24 * CHUNK)
  return d
}

const chunkCount = async (repo: Repository): Promise<number> => {
  let n = 0
  for await (const _ of listChunkIds(repo)) n++
  return n
}

describe('mirrorRepository', () => {
  it('copies plain → encrypted → encrypted (other key) byte for byte, with the target ids', async () => {
    const a = await plain()
    const b = await encrypted('b', 'first passphrase!')
    const c = await encrypted('c', 'second passphrase')
    const d1 = disk()
    const ref = await backup(a, 'vm-1', d1)
    const first = await mirrorRepository(silentTask(), a, b)
    expect(first.copied.map((p) => p.copied)).toEqual([21])
    expect(same(await contents(b, ref), d1)).toBe(true)
    await mirrorRepository(silentTask(), b, c)
    expect(same(await contents(c, ref), d1)).toBe(true)
    const ids = async (r: Repository): Promise<string[]> => {
      const out: string[] = []
      for await (const id of listChunkIds(r)) out.push(id)
      return out
    }
    const [ia, ib, ic] = [await ids(a), await ids(b), await ids(c)]
    expect(ib.filter((id) => ia.includes(id))).toEqual([])
    expect(ic.filter((id) => ib.includes(id))).toEqual([])
    expect(ic).toHaveLength(21)
  })

  it('copies only new chunks on a second run, and nothing on a third', async () => {
    const a = await plain()
    const b = await encrypted('b', 'first passphrase!')
    const d1 = disk()
    await backup(a, 'vm-1', d1)
    await mirrorRepository(silentTask(), a, b)
    const d2 = Buffer.from(d1)
    randomBytes(CHUNK).copy(d2, 3 * CHUNK)
    randomBytes(CHUNK).copy(d2, 21 * CHUNK)
    const ref2 = await backup(a, 'vm-1', d2)
    const second = await mirrorRepository(silentTask(), a, b)
    expect(second.alreadyThere).toBe(1)
    expect(second.copied).toHaveLength(1)
    expect(second.copied[0]!.copied).toBe(2)
    expect(second.copied[0]!.read).toBe(2) // over the previous copy: only changed chunks are read
    expect(second.skippedChunks).toBe(20)
    expect(same(await contents(b, ref2), d2)).toBe(true)
    const third = await mirrorRepository(silentTask(), a, b)
    expect(third.copied).toEqual([])
    expect(third.alreadyThere).toBe(2)
  })

  it('completes an interrupted copy without uploading what arrived (other keys)', async () => {
    const a = await plain()
    const b = await encrypted('b', 'first passphrase!')
    const d1 = disk()
    const ref = await backup(a, 'vm-1', d1)
    await interrupted(a, b, 8)
    const arrived = await chunkCount(b)
    expect(arrived).toBeGreaterThanOrEqual(8)
    expect((await listPoints(b)).length).toBe(0)
    const again = await mirrorRepository(silentTask(), a, b)
    expect(again.copiedChunks).toBe(21 - arrived)
    expect(same(await contents(b, ref), d1)).toBe(true)
  })

  it('takes chunks the target lists without reading them when ids agree (plain → plain)', async () => {
    const a = await plain()
    const b = await Repository.create(new MemoryStore('b'), { chunkSize: CHUNK })
    const d1 = disk()
    const ref = await backup(a, 'vm-1', d1)
    await interrupted(a, b, 8)
    const arrived = await chunkCount(b)
    const again = await mirrorRepository(silentTask(), a, b)
    expect(again.copied[0]!.read).toBe(21 - arrived)
    expect(again.copiedChunks).toBe(21 - arrived)
    expect(same(await contents(b, ref), d1)).toBe(true)
  })

  it('applies the target retention over both sides, and does not copy what it would drop', async () => {
    const a = await plain()
    const b = await encrypted('b', 'first passphrase!')
    const d = disk()
    const refs: PointRef[] = []
    for (let i = 0; i < 4; i++) {
      randomBytes(CHUNK).copy(d, i * CHUNK)
      refs.push(await backup(a, 'vm-1', d))
    }
    const first = await mirrorRepository(silentTask(), a, b, { policy: { keepLast: 2 } })
    expect(first.copied.map((p) => p.ref.split('/')[1])).toEqual(refs.slice(2).map((r) => r.pointId))
    refs.push(await backup(a, 'vm-1', d))
    const second = await mirrorRepository(silentTask(), a, b, { policy: { keepLast: 2 } })
    expect(second.copied).toHaveLength(1)
    expect(second.removed).toEqual([`vm-1/${refs[2]!.pointId}`])
    expect((await listPoints(b)).map((p) => p.pointId)).toEqual(refs.slice(3).map((r) => r.pointId))
  })

  it('mirrors only the selected VMs', async () => {
    const a = await plain()
    const b = await plain()
    await backup(a, 'vm-1', disk())
    await backup(a, 'vm-2', disk())
    await mirrorRepository(silentTask(), a, b, { vms: ['vm-2'] })
    expect((await listPoints(b)).map((p) => p.vm)).toEqual(['vm-2'])
  })

  it('refuses a repository mirrored into itself, and differing chunk sizes', async () => {
    const a = await plain()
    await expect(mirrorRepository(silentTask(), a, a)).rejects.toMatchObject({
      code: 'MIRROR_SAME_REPOSITORY',
    })
    const big = await Repository.create(new MemoryStore('big'), { chunkSize: 2 * CHUNK })
    await expect(mirrorRepository(silentTask(), a, big)).rejects.toBeInstanceOf(MirrorError)
  })
})

/** A mirror aborted once `after` chunks have been uploaded to `to`. */
async function interrupted(from: Repository, to: Repository, after: number): Promise<void> {
  const controller = new AbortController()
  const put = to.store.put.bind(to.store)
  let stored = 0
  to.store.put = async (key, data, options) => {
    await put(key, data, options)
    if (key.startsWith('chunks/') && ++stored >= after) controller.abort(new Error('killed'))
  }
  await expect(
    mirrorRepository(silentTask(controller.signal), from, to, { concurrency: 2 }),
  ).rejects.toThrow()
  to.store.put = put
}

/** Byte equality, with the first difference logged (a diff of megabytes would take minutes). */
function same(actual: Buffer, expected: Buffer): boolean {
  if (actual.equals(expected)) return true
  const at = actual.findIndex((b, i) => b !== expected[i])
  console.error(
    `sizes ${actual.length}/${expected.length}, first difference at byte ${at} (chunk ${Math.floor(at / CHUNK)})`,
  )
  return false
}
