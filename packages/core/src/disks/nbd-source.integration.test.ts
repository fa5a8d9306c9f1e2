// Chunks over NBD from a server that caps requests below the chunk size (nbdkit's blocksize-policy
// filter refuses larger ones with an error): each chunk is still one buffer in shared memory, filled by
// several requests in place (no reassembly copy), which the repository then stores without staging.
import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NbdClient } from '../nbd/index.js'
import { makeTestImage } from '../nbd/testing/image.js'
import { startNbdkit, type RunningServer } from '../nbd/testing/servers.js'
import { DiskReader, PointWriter, Repository } from '../repository/index.js'
import { BufferPool } from '../shared/index.js'
import { MemoryStore } from '../storage/index.js'
import { requireBinary, scratchDir, type Scratch } from '../testing/index.js'
import { ChunkSink } from './chunk-sink.js'
import { nbdChunks } from './nbd-source.js'
import { readSpans } from './repository-source.js'

const MiB = 1024 * 1024
const CHUNK = 2 * MiB
const SIZE = 16 * MiB + 4096
let scratch: Scratch
let server: RunningServer | undefined

beforeAll(async () => {
  requireBinary('nbdkit')
  scratch = await scratchDir('strata-nbd-source-')
  await makeTestImage(scratch.path('disk.raw'), SIZE)
})
afterAll(async () => {
  await server?.stop()
  await scratch?.[Symbol.asyncDispose]()
})

describe('nbdChunks', () => {
  it('reads each chunk whole into one shared buffer when the server caps requests at 256 KiB', async () => {
    server = await startNbdkit(
      scratch.path('capped.sock'),
      ['file', scratch.path('disk.raw'), 'blocksize-maximum=256K', 'blocksize-error-policy=error'],
      ['--filter=blocksize-policy'],
    )
    const pool = new BufferPool({ shared: true })
    const client = await NbdClient.open({ socketPath: server.socketPath, allocator: pool, retries: 0 })
    expect(client.requestSize).toBe(256 * 1024)
    const image = await readFile(scratch.path('disk.raw'))
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    const point = await PointWriter.begin(repo, { vm: 'vm' })
    const sink = new ChunkSink([point.openDisk('xvda', SIZE)])
    const list = Array.from({ length: sink.chunkCount }, (_, i) => i)
    const seen: number[] = []
    for await (const { index, lease } of nbdChunks(client, list, CHUNK, SIZE, AbortSignal.timeout(20_000))) {
      const bytes = lease!.bytes
      expect(bytes.buffer).toBeInstanceOf(SharedArrayBuffer)
      expect(bytes.byteOffset).toBe(0)
      expect(bytes.equals(image.subarray(index * CHUNK, index * CHUNK + sink.chunkLength(index)))).toBe(true)
      await sink.put(index, bytes)
      lease!.release()
      seen.push(index)
    }
    expect(seen.sort((a, b) => a - b)).toEqual(list)
    expect(pool.lent).toBe(0)
    await client.close()
    const done = await point.commit()
    const reader = await DiskReader.open(repo, done)
    const out = Buffer.alloc(SIZE)
    for await (const { index, data } of readSpans(reader, list, CHUNK, 4)) data.copy(out, index * CHUNK)
    expect(out.equals(image)).toBe(true)
  })

  it('reads only the given runs of a chunk in parts, in order, and whole chunks beside them', async () => {
    const pool = new BufferPool({ shared: true })
    const client = await NbdClient.open({ socketPath: server!.socketPath, allocator: pool, retries: 0 })
    const image = await readFile(scratch.path('disk.raw'))
    const K = 64 * 1024
    // Chunk 1: three runs, one of them larger than a request; chunk 8 (4 KiB, the short last): one.
    const parts = new Map([
      [
        1,
        [
          { offset: 0, length: K },
          { offset: 5 * K, length: 6 * K },
          { offset: CHUNK - K, length: K },
        ],
      ],
      [8, [{ offset: 0, length: 4096 }]],
    ])
    const seen: { index: number; parts?: number[][] }[] = []
    const read = nbdChunks(client, [0, 1, 3, 8], CHUNK, SIZE, AbortSignal.timeout(20_000), true, parts)
    for await (const chunk of read) {
      const start = chunk.index * CHUNK
      if (chunk.parts === undefined) {
        expect(chunk.lease!.bytes.equals(image.subarray(start, start + CHUNK))).toBe(true)
        chunk.lease!.release()
        seen.push({ index: chunk.index })
        continue
      }
      expect(chunk.lease).toBeUndefined()
      seen.push({ index: chunk.index, parts: chunk.parts.map((p) => [p.offset, p.lease.bytes.length]) })
      for (const p of chunk.parts) {
        const at = start + p.offset
        expect(p.lease.bytes.equals(image.subarray(at, at + p.lease.bytes.length))).toBe(true)
        p.lease.release()
      }
    }
    expect(seen).toEqual([
      { index: 0 },
      { index: 1, parts: parts.get(1)!.map((e) => [e.offset, e.length]) },
      { index: 3 },
      { index: 8, parts: [[0, 4096]] },
    ])
    expect(pool.lent).toBe(0)
    await client.close()
  })
})
