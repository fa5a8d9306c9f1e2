import { describe, expect, it } from 'vitest'
import { sleep } from '../shared/index.js'
import { ImportSegment } from './import-segment.js'

const BLOCK = 2 * 1024 * 1024

/** Offers blocks as copyDisk does: in order, lent, at most 16 stores pending; resolves when all are in. */
async function offerAll(segment: ImportSegment, count: number): Promise<void> {
  const pending = new Set<Promise<void>>()
  for (let i = 0; i < count; i++) {
    const tracked = segment.offer(i, new Uint8Array(BLOCK).fill(i % 251), true)
    const entry = tracked.finally(() => pending.delete(entry))
    entry.catch(() => {})
    pending.add(entry)
    if (pending.size >= 16) await Promise.race(pending)
  }
  await Promise.all(pending)
}

describe('ImportSegment', () => {
  it('holds an ordered source back while the upload is slower, instead of failing it', async () => {
    const count = 120
    const segment = new ImportSegment(
      Array.from({ length: count }, (_, i) => i),
      count * BLOCK,
      BLOCK,
    )
    const signal = new AbortController().signal
    let seen = 0
    const upload = (async () => {
      for await (const part of segment.body('vhd', signal)) {
        // A slow host: each part takes a moment to reach the socket.
        if (part.length === BLOCK) {
          expect(part[0]).toBe(seen % 251)
          seen++
          await sleep(1)
        }
      }
    })()
    await offerAll(segment, count)
    segment.close()
    await upload
    expect(seen).toBe(count)
  })

  it('still refuses a source out of order: the upload waits for a block that never comes first', async () => {
    const count = 100
    const indexes = Array.from({ length: count }, (_, i) => i)
    const segment = new ImportSegment(indexes, count * BLOCK, BLOCK)
    const signal = new AbortController().signal
    const upload = (async () => {
      for await (const part of segment.body('vhd', signal)) void part
    })()
    const offers = indexes.slice(1).map((i) => segment.offer(i, new Uint8Array(BLOCK), true))
    await expect(Promise.all(offers)).rejects.toMatchObject({ code: 'DISK_SOURCE_INVALID' })
    await expect(upload).rejects.toMatchObject({ code: 'DISK_SOURCE_INVALID' })
  })

  it('sends a chunked body of exactly its planned frames and length; a block never given goes as zeros', async () => {
    const size = 3 * BLOCK + 1536
    const runs = new Map([
      [
        1,
        [
          { offset: 65536, length: 65536 },
          { offset: BLOCK - 65536, length: 65536 },
        ],
      ],
    ])
    const segment = new ImportSegment([0, 1, 3], size, BLOCK, runs)
    const parts = runs.get(1)!.map((r) => ({ offset: r.offset, bytes: new Uint8Array(r.length).fill(7) }))
    const out: Uint8Array[] = []
    const upload = (async () => {
      for await (const piece of segment.body('chunked', AbortSignal.timeout(5000)))
        out.push(Buffer.from(piece))
    })()
    await segment.offerParts(1, parts, false)
    await segment.offer(3, new Uint8Array(1536).fill(3), false)
    segment.close() // block 0 never came
    await upload
    const body = Buffer.concat(out)
    expect(body.length).toBe(segment.length('chunked'))
    expect(segment.length('chunked')).toBe(4 * 12 + BLOCK + 2 * 65536 + 1536 + 12)
    const frames: [number, number, number][] = []
    for (let at = 0; ;) {
      const offset = Number(body.readBigUInt64LE(at))
      const length = body.readUInt32LE(at + 8)
      if (offset === 0 && length === 0 && at > 0) break
      frames.push([offset, length, body[at + 12]!])
      at += 12 + length
    }
    expect(frames).toEqual([
      [0, BLOCK, 0],
      [BLOCK + 65536, 65536, 7],
      [2 * BLOCK - 65536, 65536, 7],
      [3 * BLOCK, 1536, 3],
    ])
    expect(segment.missing).toEqual([0])
    expect(segment.dataBytes).toBe(2 * 65536 + 1536)
  })
})
