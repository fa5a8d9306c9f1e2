// A restore point as a disk source: a mirror copies a point from one repository into another through the
// same seam as a backup, reading only its stored chunks, and over a base only the chunks that differ.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { DiskReader, PointWriter, Repository, type PointRef } from '../repository/index.js'
import { MemoryStore } from '../storage/index.js'
import { ChunkSink } from './chunk-sink.js'
import { copyDisk } from './copy-disk.js'
import { PointDiskSource } from './point-source.js'
import { readSpans } from './repository-source.js'

const CHUNK = 512 * 1024
const SIZE = 20 * CHUNK + 1000

async function write(repo: Repository, disk: Buffer, base?: PointRef): Promise<PointRef> {
  const point = await PointWriter.begin(repo, { vm: 'vm', base })
  const sink = new ChunkSink([point.openDisk('xvda', disk.length)])
  for (let i = 0; i < sink.chunkCount; i++)
    await sink.put(i, disk.subarray(i * CHUNK, i * CHUNK + sink.chunkLength(i)))
  const done = await point.commit()
  return { vm: done.vm, pointId: done.pointId }
}

async function mirror(
  from: Repository,
  to: Repository,
  ref: PointRef,
  base?: { from: PointRef; to: PointRef },
) {
  const reader = await DiskReader.open(from, ref)
  const source = new PointDiskSource(reader, 'xvda', {
    base: base === undefined ? undefined : await DiskReader.open(from, base.from),
  })
  const point = await PointWriter.begin(to, { vm: 'vm', base: base?.to })
  const sink = new ChunkSink([point.openDisk('xvda', reader.size)])
  const outcome = await copyDisk(source, sink, {
    signal: AbortSignal.timeout(20_000),
    complete: base !== undefined,
  })
  const done = await point.commit()
  return { outcome, ref: { vm: done.vm, pointId: done.pointId } }
}

async function contents(repo: Repository, ref: PointRef): Promise<Buffer> {
  const reader = await DiskReader.open(repo, ref)
  const out = Buffer.alloc(reader.size)
  const all = Array.from({ length: reader.chunkCount }, (_, i) => i)
  for await (const { index, data } of readSpans(reader, all, CHUNK, 4)) data.copy(out, index * CHUNK)
  return out
}

describe('PointDiskSource', () => {
  it('mirrors a point (stored chunks only), then an incremental one over the mirrored base', async () => {
    const [a, b] = await Promise.all(
      [0, 1].map(() => Repository.create(new MemoryStore(), { chunkSize: CHUNK })),
    )
    const disk = Buffer.alloc(SIZE)
    for (const i of [1, 2, 7, 20]) randomBytes(i === 20 ? 1000 : CHUNK).copy(disk, i * CHUNK)
    const first = await write(a!, disk)
    const m1 = await mirror(a!, b!, first)
    expect(m1.outcome).toMatchObject({ path: 'allocated', via: 'repository', chunks: 4, holes: 0 })
    expect((await contents(b!, m1.ref)).equals(disk)).toBe(true)

    const next = Buffer.from(disk)
    randomBytes(CHUNK).copy(next, 9 * CHUNK) // new data
    next.fill(0, 2 * CHUNK, 3 * CHUNK) // a chunk that became zeros
    const second = await write(a!, next, first)
    const m2 = await mirror(a!, b!, second, { from: first, to: m1.ref })
    expect(m2.outcome).toMatchObject({ path: 'changed-ids', chunks: 1, holes: 1 })
    expect((await contents(b!, m2.ref)).equals(next)).toBe(true)
  })

  it('refuses another chunk size, typed', async () => {
    const a = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    const b = await Repository.create(new MemoryStore(), { chunkSize: 2 * CHUNK })
    const first = await write(a, Buffer.alloc(SIZE, 1))
    await expect(mirror(a, b, first)).rejects.toMatchObject({ code: 'DISK_PATH_UNAVAILABLE' })
  })
})
