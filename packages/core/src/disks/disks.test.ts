import { randomBytes } from 'node:crypto'
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DiskReader, PointWriter, Repository } from '../repository/index.js'
import { MemoryStore } from '../storage/index.js'
import { memoryAccess, openVhd } from '../vhd/index.js'
import { ChunkSink } from './chunk-sink.js'
import { DirectWrites } from '../shared/index.js'
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
})
