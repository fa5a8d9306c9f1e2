import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MemoryStore, type RangeOptions } from '../storage/index.js'
import { DiskReader, Repository } from '../repository/index.js'
import { backupDisk, makeDisk } from '../repository/testing/fixtures.js'
import { STATE_HOLE, STATE_ZERO } from '../nbd/index.js'
import { PointBlockSource } from './point-source.js'

const CHUNK = 512 * 1024

/** A memory store that counts chunk reads and can be told to fail them. */
class CountingStore extends MemoryStore {
  chunkReads = 0
  failChunks = false
  override async getRange(
    key: string,
    offset: number,
    length: number,
    options?: RangeOptions,
  ): Promise<Uint8Array> {
    if (key.startsWith('chunks/')) {
      this.chunkReads++
      if (this.failChunks) throw Object.assign(new Error(`injected failure of ${key}`), { code: 'EIO' })
    }
    return super.getRange(key, offset, length, options)
  }
}

async function setup(chunks = 12, options: ConstructorParameters<typeof PointBlockSource>[1] = {}) {
  const store = new CountingStore()
  const repo = await Repository.create(store, { chunkSize: CHUNK })
  const disk = makeDisk(chunks, CHUNK, 4096)
  const point = await backupDisk(repo, disk)
  const reader = await DiskReader.open(repo, point)
  return { store, disk, reader, source: new PointBlockSource(reader, options) }
}

describe('PointBlockSource', () => {
  it('reads any range with the bytes of the disk, across chunks and in the short tail', async () => {
    const { disk, source } = await setup()
    expect(source.size).toBe(disk.length)
    const ranges = [
      [0, 4096],
      [CHUNK - 100, 300],
      [CHUNK + 5, 3 * CHUNK],
      [disk.length - 5000, 5000],
      [7 * CHUNK, CHUNK],
    ] as const
    for (const [offset, length] of ranges) {
      const data = await source.read(offset, length)
      expect(Buffer.from(data).equals(disk.subarray(offset, offset + length))).toBe(true)
      source.release(data)
    }
    for (let i = 0; i < 50; i++) {
      const offset = randomBytes(4).readUInt32BE(0) % (disk.length - 1)
      const length = 1 + (randomBytes(4).readUInt32BE(0) % Math.min(CHUNK * 2, disk.length - offset))
      const data = await source.read(offset, length)
      expect(Buffer.from(data).equals(disk.subarray(offset, offset + length))).toBe(true)
      source.release(data)
    }
  })

  it('reports zero chunks as holes and stored chunks as data, from the index', async () => {
    const { disk, source } = await setup(6)
    // makeDisk: chunk 0 and 3 are zeros, the rest data, then a 4 KiB tail chunk.
    expect(source.blockStatusNow(0, disk.length)).toEqual([
      { offset: 0, length: CHUNK, flags: STATE_HOLE | STATE_ZERO },
      { offset: CHUNK, length: 2 * CHUNK, flags: 0 },
      { offset: 3 * CHUNK, length: CHUNK, flags: STATE_HOLE | STATE_ZERO },
      { offset: 4 * CHUNK, length: disk.length - 4 * CHUNK, flags: 0 },
    ])
    expect(await source.blockStatus(CHUNK / 2, CHUNK)).toEqual([
      { offset: CHUNK / 2, length: CHUNK / 2, flags: STATE_HOLE | STATE_ZERO },
      { offset: CHUNK, length: CHUNK / 2, flags: 0 },
    ])
  })

  it('serves a cached chunk at once and reads the next stored chunks ahead of a sequential stream', async () => {
    const { store, disk, source } = await setup(12, { readAhead: 2 })
    const piece = 128 * 1024
    const first = await source.read(CHUNK, piece)
    source.release(first)
    expect(store.chunkReads).toBe(1)
    expect(source.readNow(CHUNK + piece, piece)).toBeDefined() // same chunk: no I/O
    // That request continued a stream: chunks 2 and 4 (3 is zeros) are on their way.
    await new Promise((r) => setTimeout(r, 50))
    expect(store.chunkReads).toBe(3)
    const ahead = source.readNow(4 * CHUNK, piece)
    expect(
      ahead !== undefined && Buffer.from(ahead).equals(disk.subarray(4 * CHUNK, 4 * CHUNK + piece)),
    ).toBe(true)
    // A zero chunk never touches the store.
    const zeros = source.readNow(3 * CHUNK, piece)!
    expect(zeros.every((b) => b === 0)).toBe(true)
  })

  it('keeps its cache bounded and gives every lent buffer back to the reader', async () => {
    const { reader, source } = await setup(40, { cacheBytes: 8 * CHUNK })
    for (let round = 0; round < 2; round++) {
      for (let offset = 0; offset < source.size; offset += 64 * 1024) {
        const data = await source.read(offset, Math.min(64 * 1024, source.size - offset))
        source.release(data)
      }
    }
    expect(source.cachedChunks).toBeLessThanOrEqual(8)
    // Every buffer came back: the reader never needed more than the cache plus what was in flight.
    expect(reader.buffersMade).toBeLessThanOrEqual(8 + 4 + 1)
    source.close()
    expect(source.cachedChunks).toBe(0)
  })

  it('fails a read whose chunk cannot be fetched, and tries again on the next read', async () => {
    const { store, disk, source } = await setup(6)
    store.failChunks = true
    await expect(source.read(CHUNK, 1000)).rejects.toThrow(/injected failure/)
    store.failChunks = false
    const data = await source.read(CHUNK, 1000)
    expect(Buffer.from(data).equals(disk.subarray(CHUNK, CHUNK + 1000))).toBe(true)
  })

  it('stops waiting when the request is aborted', async () => {
    const { source } = await setup(6)
    const controller = new AbortController()
    controller.abort(new Error('client went away'))
    await expect(source.read(CHUNK, 1000, controller.signal)).rejects.toMatchObject({ code: 'ABORTED' })
  })
})
