import { randomBytes } from 'node:crypto'
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { chunkKey } from '../repository/format/layout.js'
import { DiskReader, PointWriter, Repository } from '../repository/index.js'
import { MemoryStore } from '../storage/index.js'
import { memoryAccess, openVhd } from '../vhd/index.js'
import { ChunkSink } from './chunk-sink.js'
import { DirectWrites, sharedMemory } from '../shared/index.js'
import { writeDiskToFile } from './disk-targets.js'
import { diskVhdBytes, planDiskVhd, presentBlocks, readSpans } from './repository-source.js'

const KiB = 1024
const MiB = 1024 * KiB
const CHUNK = 512 * KiB

/** A disk of 5 MiB + 512 bytes: chunk 1 and 6..7 random, the rest zeros. */
function makeDisk(): Buffer {
  const disk = Buffer.alloc(5 * MiB + 512)
  randomBytes(CHUNK).copy(disk, CHUNK)
  randomBytes(2 * CHUNK).copy(disk, 6 * CHUNK)
  randomBytes(512).copy(disk, 10 * CHUNK)
  return disk
}

async function backup(
  repos: Repository[],
  disk: Buffer,
  sinkOptions = {},
): Promise<{ sink: ChunkSink; ids: string[] }> {
  const points = await Promise.all(repos.map((r) => PointWriter.begin(r, { vm: 'vm' })))
  const sink = new ChunkSink(
    points.map((p) => p.openDisk('xvda', disk.length)),
    sinkOptions,
  )
  for (let i = sink.chunkCount - 1; i >= 0; i--)
    await sink.put(i, disk.subarray(i * CHUNK, i * CHUNK + sink.chunkLength(i)))
  const done = await Promise.all(points.map((p) => p.commit()))
  return { sink, ids: done.map((d) => d.pointId) }
}

describe('disk sources and targets', () => {
  it('fans chunks out to every target, with progress, under a byte rate', async () => {
    const repos = await Promise.all(
      [0, 1].map(() => Repository.create(new MemoryStore(), { chunkSize: CHUNK })),
    )
    const disk = makeDisk()
    const seen: number[] = []
    const start = performance.now()
    const { sink, ids } = await backup(repos, disk, {
      maxBytesPerSecond: 40 * MiB,
      onProgress: (b: number) => seen.push(b),
    })
    expect(performance.now() - start).toBeGreaterThan(100) // 5 MiB at 40 MiB/s ≈ 125 ms
    expect(sink.bytesRead).toBe(disk.length)
    expect(seen.at(-1)).toBe(disk.length)
    for (const [k, repo] of repos.entries()) {
      const reader = await DiskReader.open(repo, { vm: 'vm', pointId: ids[k]! })
      const out = Buffer.alloc(reader.size)
      for await (const { index, data } of readSpans(reader, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], CHUNK, 3))
        data.copy(out, index * CHUNK)
      expect(out.equals(disk)).toBe(true)
    }
  })

  it('writes a sparse VHD holding only non-zero blocks, which reads back as the disk', async () => {
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    const disk = makeDisk()
    const { ids } = await backup([repo], disk)
    const reader = await DiskReader.open(repo, { vm: 'vm', pointId: ids[0]! })
    expect(presentBlocks(reader)).toEqual([0, 1, 2])
    expect(presentBlocks(reader, 512 * KiB)).toEqual([1, 6, 7, 10]) // 2 MiB blocks: chunk 1, chunks 6-7, chunk 10
    const plan = planDiskVhd(reader)
    const parts: Uint8Array[] = []
    for await (const part of diskVhdBytes(reader, plan, 2)) parts.push(part)
    const bytes = Buffer.concat(parts)
    expect(bytes.length).toBe(plan.length)
    const vhd = await openVhd(memoryAccess(bytes))
    const out = Buffer.alloc(disk.length)
    for (let b = 0; b < 3; b++) {
      const block = (await vhd.readBlock(b))!.data
      Buffer.from(block.subarray(0, Math.max(0, Math.min(2 * MiB, disk.length - b * 2 * MiB)))).copy(
        out,
        b * 2 * MiB,
      )
    }
    expect(out.equals(disk)).toBe(true)
  })

  // Direct I/O on the temporary directory's file system (ext4 here); tmpfs, which takes direct I/O only on recent
  // kernels, must restore the same either way. The 512-byte tail always goes through the page cache.
  it.each([
    ['the temporary directory (direct I/O)', tmpdir(), true],
    ['tmpfs', '/dev/shm', undefined],
  ])('restores a raw file exactly and sparse on %s, the odd tail included', async (_, root, direct) => {
    const dir = await mkdtemp(join(root, 'strata-raw-'))
    try {
      const probe = join(dir, 'probe')
      const fh = await open(probe, 'w')
      await fh.truncate(MiB)
      await fh.close()
      const writes = await DirectWrites.open(probe, CHUNK, 0)
      if (direct !== undefined) expect(writes !== undefined).toBe(direct)
      await writes?.close()
      const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
      const disk = makeDisk()
      const { ids } = await backup([repo], disk)
      const reader = await DiskReader.open(repo, { vm: 'vm', pointId: ids[0]! })
      const out = join(dir, 'disk.raw')
      expect(await writeDiskToFile(reader, out, 'raw')).toBe(disk.length)
      expect((await readFile(out)).equals(disk)).toBe(true)
      // 7 of the 11 chunks are zeros: holes, not written.
      expect((await stat(out)).blocks * 512).toBeLessThanOrEqual(3 * CHUNK + 64 * KiB)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('lends each span until the next is asked for, from a bounded set of buffers given back', async () => {
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    // Unique chunks, one block repeated all over (the cache shares it), and zeros.
    const disk = Buffer.alloc(40 * CHUNK)
    const repeated = randomBytes(CHUNK)
    for (let i = 0; i < 40; i++) {
      if (i % 5 === 0) repeated.copy(disk, i * CHUNK)
      else if (i % 7 !== 3) randomBytes(CHUNK).copy(disk, i * CHUNK)
    }
    const { ids } = await backup([repo], disk)
    const lentBefore = sharedMemory.stats.made - sharedMemory.stats.free
    const reader = await DiskReader.open(repo, { vm: 'vm', pointId: ids[0]! })
    const chunks = [...reader.nonZeroChunks()]
    const expected = (index: number): Buffer => disk.subarray(index * CHUNK, (index + 1) * CHUNK)
    for (let pass = 0; pass < 3; pass++) {
      const seen: number[] = []
      for await (const { index, data } of readSpans(reader, chunks, CHUNK, 8)) {
        expect(data.equals(expected(index))).toBe(true)
        // A slow consumer, while another reader of the disk takes buffers: none may be this span's.
        const other = await reader.leaseChunk(chunks[(seen.length + 20) % chunks.length]!)
        await sleep(1)
        other.release()
        expect(data.equals(expected(index)), `span ${index} intact until the next is asked for`).toBe(true)
        seen.push(index)
      }
      expect(seen).toEqual(chunks)
    }
    // A consumer that leaves early, and a read that fails, give their buffers back too.
    for await (const { index } of readSpans(reader, chunks, CHUNK, 8)) if (index > 10) break
    await sleep(50)
    const missing = chunks.find((c) => c > 15 && c % 5 !== 0)!
    await repo.store.delete(chunkKey(reader.idOf(missing)!))
    await expect(async () => {
      for await (const span of readSpans(reader, chunks, CHUNK, 8)) void span
    }).rejects.toMatchObject({ code: 'CHUNK_MISSING' })
    await sleep(50)
    const made = reader.buffersMade
    // At most the window, the cache, the span lent and the other lease: not one per chunk read.
    expect(made).toBeLessThanOrEqual(8 + 8 + 1 + 1)
    for await (const span of readSpans(
      reader,
      chunks.filter((c) => c !== missing),
      CHUNK,
      8,
    ))
      void span
    expect(reader.buffersMade).toBe(made)
    // Closed, the reader's cache goes back to the process's shared memory: nothing stays lent.
    expect(sharedMemory.stats.made - sharedMemory.stats.free).toBeGreaterThan(lentBefore)
    reader.close()
    await sleep(1)
    expect(sharedMemory.stats.made - sharedMemory.stats.free).toBe(lentBefore)
  })
})
