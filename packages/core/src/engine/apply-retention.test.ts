import { describe, expect, it } from 'vitest'
import { MemoryStore } from '../storage/index.js'
import { listPoints, PointWriter, protectPoint, Repository } from '../repository/index.js'
import { silentTask } from '../shared/index.js'
import { applyScheduleRetention } from './apply-retention.js'

const CHUNK = 512 * 1024

async function point(repo: Repository, scheduleId = 's1') {
  const writer = await PointWriter.begin(repo, { vm: 'vm-1', jobId: 'j1', scheduleId })
  await writer.openDisk('xvda', 1024).putChunk(0, Buffer.alloc(1024, 7))
  const committed = await writer.commit()
  await new Promise((r) => setTimeout(r, 2)) // distinct point times
  return committed.pointId
}

describe('applyScheduleRetention', () => {
  it('leaves protected points out of the policy: neither counted nor removed, and says so', async () => {
    const repo = await Repository.create(new MemoryStore('retention'), { chunkSize: CHUNK })
    const oldest = await point(repo)
    const middle = await point(repo)
    const other = await point(repo, 's2')
    const newest = await point(repo)
    await protectPoint(repo, { vm: 'vm-1', pointId: oldest })
    const infos: string[] = []
    const task = { ...silentTask(), info: (m: string) => void infos.push(m) }
    const result = await applyScheduleRetention(task, repo, {
      vmUuid: 'vm-1',
      jobId: 'j1',
      scheduleId: 's1',
      policy: { keepLast: 1 },
      timeZone: 'UTC',
      protect: newest,
    })
    expect(result).toEqual({ kept: [oldest, newest], removed: [middle], protected: [oldest] })
    expect(infos).toEqual([`kept: protected: ${oldest}`])
    expect((await listPoints(repo, 'vm-1')).map((p) => p.pointId)).toEqual([oldest, other, newest])
  })
})
