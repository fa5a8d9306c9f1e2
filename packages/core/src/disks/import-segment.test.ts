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
      for await (const part of segment.vhdBody(signal)) {
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
      for await (const part of segment.vhdBody(signal)) void part
    })()
    const offers = indexes.slice(1).map((i) => segment.offer(i, new Uint8Array(BLOCK), true))
    await expect(Promise.all(offers)).rejects.toMatchObject({ code: 'DISK_SOURCE_INVALID' })
    await expect(upload).rejects.toMatchObject({ code: 'DISK_SOURCE_INVALID' })
  })
})
