import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { Repository } from './repository.js'
import { PointWriter } from './point-writer.js'
import { listPoints } from './points.js'

const CHUNK = 512 * 1024
const timing = { leaseMs: 60_000, heartbeatMs: 5, batchMs: 1, pollMs: 2, checkWindowMs: 20 }
/** Real time: the wall clock is the one faked below. */
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('PointWriter and its session lease', () => {
  afterEach(() => void vi.useRealTimers())

  it('refuses to commit after a pause past half the lease, whatever heartbeats land after it', async () => {
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    vi.useFakeTimers({ toFake: ['Date'] }) // only the wall clock: timers and I/O go on
    const point = await PointWriter.begin(repo, { vm: 'vm', timing })
    await point.openDisk('xvda', CHUNK).putChunk(0, randomBytes(CHUNK))
    // The process stops for 40 s (SIGSTOP, a suspended VM): its clock jumps, then its late timers run.
    vi.setSystemTime(Date.now() + 40_000)
    await pause(50) // heartbeats are due every 5 ms: several try to land after the pause
    await expect(point.commit()).rejects.toMatchObject({ code: 'SESSION_EXPIRED', retryable: true })
    await point.abort()
    expect(await listPoints(repo)).toEqual([])
  })

  it('commits after pauses shorter than half the lease', async () => {
    const repo = await Repository.create(new MemoryStore(), { chunkSize: CHUNK })
    vi.useFakeTimers({ toFake: ['Date'] })
    const point = await PointWriter.begin(repo, { vm: 'vm', timing })
    const writer = point.openDisk('xvda', 2 * CHUNK)
    await writer.putChunk(0, randomBytes(CHUNK))
    for (let i = 0; i < 3; i++) {
      vi.setSystemTime(Date.now() + 20_000) // each under 30 s, 60 s in all: heartbeats between them
      await pause(50)
    }
    await writer.putChunk(1, randomBytes(CHUNK))
    expect((await point.commit()).stats[0]).toMatchObject({ newChunks: 2 })
  })
})
