import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sharedMemory } from '../shared/index.js'
import { MemoryStore } from '../storage/index.js'
import { checkRepository } from './check.js'
import { collectGarbage } from './gc.js'
import { readFilePoint, readPointFile, writeFilePoint } from './file-point.js'
import { deletePoint, listPoints, readManifest } from './points.js'
import { Repository } from './repository.js'
import { verifyChunks } from './verify.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 5, batchMs: 1, pollMs: 2, checkWindowMs: 20 }

describe('file points (metadata backups)', () => {
  it('stores files of any length as a point that check, verify and gc treat like any other', async () => {
    const store = new MemoryStore()
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    const big = randomBytes(CHUNK * 2 + 77) // several chunks, the last one short
    const files = [
      { name: 'pool-database.xml', data: new Uint8Array(big) },
      { name: 'empty', data: new Uint8Array() },
    ]
    const point = await writeFilePoint(repo, {
      vm: 'metadata:pool-1',
      files,
      metadata: { kind: 'metadata', what: 'pool' },
      jobId: 'j',
      timing,
    })
    expect((await readManifest(repo, point)).disks.map((d) => d.role)).toEqual(['file', 'file'])
    const read = await readFilePoint(repo, point)
    expect(read.metadata).toMatchObject({ kind: 'metadata', what: 'pool' })
    const lent = () => sharedMemory.stats.made - sharedMemory.stats.free
    const lentBefore = lent()
    expect(Buffer.from(await readPointFile(repo, point, 'pool-database.xml')).equals(big)).toBe(true)
    expect(lent()).toBe(lentBefore) // its reader closed: the chunks it cached are given back
    expect((await readPointFile(repo, point, 'empty')).length).toBe(0)
    await expect(readPointFile(repo, point, 'nope')).rejects.toMatchObject({ code: 'POINT_FILE_NOT_FOUND' })

    expect((await checkRepository(repo)).ok).toBe(true)
    expect((await verifyChunks(repo)).bad).toEqual([])
    const kept = await collectGarbage(repo, { timing, safetyMarginMs: 0 })
    expect(kept.chunksDeleted).toBe(0)
    expect(Buffer.from(await readPointFile(repo, point, 'pool-database.xml')).equals(big)).toBe(true)

    await deletePoint(repo, point)
    expect(await listPoints(repo)).toEqual([])
    const gone = await collectGarbage(repo, { timing, safetyMarginMs: 0 })
    expect(gone.chunksDeleted).toBe(3)
  })

  it('refuses a point whose file chunks were corrupted, naming the file and the point', async () => {
    const store = new MemoryStore()
    const repo = await Repository.create(store, { chunkSize: CHUNK })
    const data = new Uint8Array(randomBytes(1000))
    const point = await writeFilePoint(repo, {
      vm: 'strata-config',
      files: [{ name: 'config.json', data }],
      timing,
    })
    for await (const info of store.list('chunks/')) {
      const bytes = Buffer.from(await store.get(info.key))
      bytes[bytes.length - 1]! ^= 0xff
      await store.delete(info.key)
      await store.put(info.key, bytes)
    }
    const error = await readPointFile(repo, point, 'config.json').catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'CORRUPT_OBJECT' })
    expect(String((error as Error).message)).toContain('config.json')
    expect(String((error as Error).message)).toContain(point.ref)
  })

  it('refuses to read a VM disk point as files', async () => {
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    const { PointWriter } = await import('./point-writer.js')
    const w = await PointWriter.begin(repo, { vm: 'vm', timing })
    await w.openDisk('xvda', CHUNK).putChunk(0, randomBytes(CHUNK))
    const p = await w.commit()
    await expect(readPointFile(repo, p, 'xvda')).rejects.toMatchObject({ code: 'NOT_A_FILE_POINT' })
  })
})
