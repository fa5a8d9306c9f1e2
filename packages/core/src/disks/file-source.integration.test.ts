// A sparse raw image as a disk source, with the allocation map filefrag reads through FIEMAP on the
// scratch directory's file system (ext4 here): holes are never read, and a point restores to the image.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { open, readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DiskReader, PointWriter, Repository, type PointRef } from '../repository/index.js'
import { MemoryStore } from '../storage/index.js'
import { requireBinary, scratchDir, type Scratch } from '../testing/index.js'
import { ChunkSink } from './chunk-sink.js'
import { copyDisk } from './copy-disk.js'
import { FileDiskSource, type FileSourceOptions } from './file-source.js'
import { readSpans } from './repository-source.js'

const MiB = 1024 * 1024
const CHUNK = MiB
const SIZE = 64 * MiB + 4096 // a short last chunk

let scratch: Scratch
beforeAll(async () => {
  requireBinary('filefrag')
  requireBinary('fallocate')
  scratch = await scratchDir('strata-file-source-')
})
afterAll(() => scratch?.[Symbol.asyncDispose]())

/** A sparse image: data in chunks 3, 10 (part), 11-12 and the short tail; an unwritten extent at 40. */
async function makeImage(name: string, extra: (bytes: Buffer) => void = () => {}): Promise<string> {
  const path = scratch.path(name)
  const handle = await open(path, 'w')
  const writes: [number, Buffer][] = [
    [3 * CHUNK, randomBytes(CHUNK)],
    [10 * CHUNK + 64 * 1024, randomBytes(4096)],
    [11 * CHUNK, randomBytes(2 * CHUNK)],
    [64 * MiB, randomBytes(4096)],
  ]
  for (const [at, bytes] of writes) {
    extra(bytes)
    await handle.write(bytes, 0, bytes.length, at)
  }
  await handle.truncate(SIZE)
  await handle.close()
  await promisify(execFile)('fallocate', ['-o', String(40 * CHUNK), '-l', String(CHUNK), path])
  return path
}

async function backup(repo: Repository, path: string, options: FileSourceOptions = {}, base?: PointRef) {
  const point = await PointWriter.begin(repo, { vm: 'vm', base })
  const writer = point.openDisk('xvda', SIZE)
  const sink = new ChunkSink([writer])
  const source = await FileDiskSource.open(path, options)
  const warnings: string[] = []
  try {
    const outcome = await copyDisk(source, sink, {
      signal: AbortSignal.timeout(30_000),
      complete: base !== undefined,
      warn: (m) => warnings.push(m),
    })
    const done = await point.commit()
    return { outcome, warnings, ref: { vm: done.vm, pointId: done.pointId }, bytesRead: sink.bytesRead }
  } finally {
    await source.close()
  }
}

async function restore(repo: Repository, ref: PointRef): Promise<Buffer> {
  const reader = await DiskReader.open(repo, ref)
  const out = Buffer.alloc(reader.size)
  const all = Array.from({ length: reader.chunkCount }, (_, i) => i)
  for await (const { index, data } of readSpans(reader, all, reader.chunkSize, 4))
    data.copy(out, index * CHUNK)
  return out
}

describe('FileDiskSource', () => {
  it('reads only the chunks the allocation map shows data in, and the point restores to the image', async () => {
    const path = await makeImage('a.img')
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    const { outcome, warnings, ref, bytesRead } = await backup(repo, path)
    expect(warnings).toEqual([])
    // Chunks 3, 10, 11, 12 and the 4 KiB tail; not the 60 holes, nor the unwritten (fallocated) extent.
    expect(outcome).toMatchObject({ path: 'allocation-map', via: 'file', chunks: 5, holes: 0 })
    expect(bytesRead).toBe(4 * CHUNK + 4096)
    expect((await restore(repo, ref)).equals(await readFile(path))).toBe(true)
  })

  it('reads every chunk, with a warning, when no allocation map is known', async () => {
    const path = await makeImage('b.img')
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    const { outcome, warnings, ref } = await backup(repo, path, { allocation: null })
    expect(outcome).toMatchObject({ path: 'full', chunks: 65 })
    expect(warnings).toEqual([expect.stringContaining('no allocation map for file')])
    expect((await restore(repo, ref)).equals(await readFile(path))).toBe(true)
  })

  it('over a base, delivers the holes where the base had data (as zeros), and only the changed chunks', async () => {
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    const full = await makeImage('c.img', (b) => b.fill(0x11))
    const first = await backup(repo, full)
    // The next image has data only in chunk 20: chunks 3, 10-12 and the tail became holes.
    const next = scratch.path('d.img')
    const handle = await open(next, 'w')
    await handle.write(Buffer.alloc(CHUNK, 0x22), 0, CHUNK, 20 * CHUNK)
    await handle.truncate(SIZE)
    await handle.close()
    const second = await backup(repo, next, {}, first.ref)
    expect(second.outcome).toMatchObject({ path: 'allocation-map', chunks: 1, holes: 64 })
    expect((await restore(repo, second.ref)).equals(await readFile(next))).toBe(true)
    // A changed list limits both: chunk 20 is read, chunk 3 becomes zeros, chunk 11 keeps the base's data.
    const third = await backup(repo, next, { changed: [3, 20] }, first.ref)
    expect(third.outcome).toMatchObject({ chunks: 1, holes: 1 })
    const restored = await restore(repo, third.ref)
    expect(restored.subarray(3 * CHUNK, 4 * CHUNK).every((b) => b === 0)).toBe(true)
    expect(restored.subarray(11 * CHUNK, 12 * CHUNK).every((b) => b === 0x11)).toBe(true)
    expect(restored.subarray(20 * CHUNK, 21 * CHUNK).every((b) => b === 0x22)).toBe(true)
  })
})
