import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { DiskReader } from './disk-reader.js'
import { PointWriter } from './point-writer.js'
import { Repository } from './repository.js'

const CHUNK = 512 * 1024

describe('DiskWriter.adopt', () => {
  it('takes chunks an interrupted writer stored, by id, and refuses ids the repository lacks', async () => {
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    const data = [randomBytes(CHUNK), randomBytes(CHUNK)]
    // An interrupted backup: chunks stored, nothing committed.
    const first = await PointWriter.begin(repo, { vm: 'vm' })
    const w1 = first.openDisk('d', 3 * CHUNK)
    await w1.putChunk(0, data[0]!)
    await w1.putChunk(1, data[1]!)
    const stored = [Buffer.from(w1.idAt(0)), Buffer.from(w1.idAt(1))]
    await first.abort()

    const second = await PointWriter.begin(repo, { vm: 'vm' })
    const w2 = second.openDisk('d', 3 * CHUNK)
    expect(await w2.adopt(0, stored[0]!)).toBe(true)
    expect(await w2.adopt(1, randomBytes(32))).toBe(false) // never stored
    expect(await w2.adopt(2, Buffer.alloc(32))).toBe(true) // the zero id needs no chunk
    expect(await w2.adopt(3, stored[1]!)).toBe(false) // outside the disk
    await w2.putChunk(1, data[1]!)
    const point = await second.commit()
    expect(point.stats[0]).toMatchObject({ newChunks: 0, reusedChunks: 2 })
    const reader = await DiskReader.open(repo, point, 0)
    expect(Buffer.from(await reader.readChunk(0)).equals(data[0]!)).toBe(true)
    expect(Buffer.from(await reader.readChunk(1)).equals(data[1]!)).toBe(true)
  })
})
