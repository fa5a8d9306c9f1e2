import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { DEFAULT_MAINTENANCE } from '@strata/contract'
import { runRootTask, type TaskEvent } from '@strata/core/engine'
import { addTier, attachColdTier, PointWriter, Repository } from '@strata/core/repository'
import { MemoryStore } from '@strata/core/storage'
import { runMaintenanceTask } from './maintenance-tasks.js'

const CHUNK = 512 * 1024

async function point(repo: Repository, image: Buffer, time: Date): Promise<void> {
  const writer = await PointWriter.begin(repo, { vm: 'vm', time })
  const disk = writer.openDisk('xvda', image.length)
  for (let i = 0; i < disk.chunkCount; i++) await disk.putChunk(i, image.subarray(i * CHUNK, (i + 1) * CHUNK))
  await writer.commit()
}

async function hotChunks(store: MemoryStore): Promise<number> {
  let n = 0
  for await (const _ of store.list('chunks/')) n++
  return n
}

describe('the gc maintenance task', () => {
  it('moves chunks only old points reference to the cold tier of a repository that has one', async () => {
    const hot = new MemoryStore('hot')
    const cold = new MemoryStore('cold')
    const repo = await Repository.create(hot, { chunkSize: CHUNK })
    await addTier(repo, { cold: 'cold', olderThanSeconds: 30 * 86_400 }, cold)
    await attachColdTier(repo, async () => cold)
    await point(repo, randomBytes(4 * CHUNK), new Date(Date.now() - 40 * 86_400_000))
    await point(repo, randomBytes(2 * CHUNK), new Date())
    await new Promise((r) => setTimeout(r, 5))
    const events: TaskEvent[] = []
    const schedule = { ...DEFAULT_MAINTENANCE, gc: { everyHours: 24, safetyMarginMinutes: 0 } }
    await runRootTask(
      { emit: (e) => events.push(e), signal: AbortSignal.timeout(60_000) },
      'maintenance',
      (t) => runMaintenanceTask(t, repo, 'gc', schedule),
    )
    expect(events.some((e) => e.type === 'start' && e.name === 'tier move')).toBe(true)
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'set', data: expect.objectContaining({ moved: 4 }) }),
    )
    expect(await hotChunks(hot)).toBe(2)
    expect(await hotChunks(cold)).toBe(4)
  })
})
