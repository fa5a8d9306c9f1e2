import { spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { scratchDir } from '../testing/index.js'
import { appendRunEvent, listRuns, openRunLog, readRun } from './run-log.js'
import type { TaskEvent } from './task-tree.js'

const start = (id: string, name: string, parentId?: string, data?: Record<string, unknown>): TaskEvent => ({
  type: 'start',
  id,
  parentId,
  name,
  data,
  time: 1000 + Number(id),
})

describe('run logs', () => {
  it('reads a run back as a tree and lists runs newest first', async () => {
    await using dir = await scratchDir()
    const log = await openRunLog(dir.dir, 'r1')
    log.append(start('0', 'backup run', undefined, { runId: 'r1', jobId: 'j', pid: process.pid }))
    log.append(start('1', 'VM', '0', { uuid: 'u' }))
    log.append({ type: 'warning', id: '1', message: 'fell back', time: 1002 })
    log.append({ type: 'end', id: '1', status: 'success', time: 1500 })
    log.append({ type: 'end', id: '0', status: 'success', time: 1600 })
    log.close()
    const other = await openRunLog(dir.dir, 'r0')
    other.append({
      ...start('0', 'backup run', undefined, { runId: 'r0', jobId: 'j', pid: process.pid }),
      time: 1,
    })
    other.close()
    const root = await readRun(dir.dir, 'r1')
    expect(root.status).toBe('success')
    expect(root.children[0]).toMatchObject({ name: 'VM', status: 'success', durationMs: 499 })
    const runs = await listRuns(dir.dir)
    expect(runs.map((r) => [r.runId, r.status])).toEqual([
      ['r1', 'success'],
      ['r0', 'pending'],
    ])
    expect(runs[0]).toMatchObject({ vms: { success: 1 }, warnings: 1, jobName: 'j' })
  })

  it('shows the tasks of a dead process as interrupted and survives a torn last line', async () => {
    await using dir = await scratchDir()
    const dead = spawnSync('true').pid
    const log = await openRunLog(dir.dir, 'r2')
    log.append(start('0', 'backup run', undefined, { runId: 'r2', jobId: 'j', pid: dead }))
    log.append(start('1', 'VM', '0'))
    log.close()
    await writeFile(
      join(dir.dir, 'r2.jsonl'),
      (await readFile(join(dir.dir, 'r2.jsonl'), 'utf8')) + '{"type":"en',
    )
    const root = await readRun(dir.dir, 'r2')
    expect([root.status, root.children[0]!.status]).toEqual(['interrupted', 'interrupted'])
    await appendRunEvent(dir.dir, 'r2', { type: 'end', id: '0', status: 'interrupted', time: 5000 })
    expect((await readRun(dir.dir, 'r2')).end).toBe(5000)
  })

  it('refuses run ids that are paths and names a missing run', async () => {
    await using dir = await scratchDir()
    await expect(readRun(dir.dir, '../x')).rejects.toThrow(/not a run id/)
    await expect(readRun(dir.dir, 'nope')).rejects.toThrow(/no run 'nope'/)
  })

  it('summarizes runs with names and the points they wrote, filtered by job, status and start', async () => {
    await using dir = await scratchDir()
    const write = async (runId: string, jobId: string, status: 'success' | 'failure', at: number) => {
      const log = await openRunLog(dir.dir, runId)
      const data = { runId, jobId, pid: process.pid, pools: ['Lab pool'], repositories: ['local'] }
      log.append({ ...start('0', 'backup run', undefined, data), time: at })
      log.append({ ...start('1', 'VM', '0', { uuid: 'u1', name: 'web-01' }), time: at })
      const points = [{ target: 'local', pointId: `p-${runId}` }]
      log.append({ type: 'set', id: '1', data: { full: true, points }, time: at + 1 })
      log.append({ type: 'end', id: '1', status, time: at + 2 })
      log.append({ type: 'end', id: '0', status, time: at + 3 })
      log.close()
    }
    await write('r1', 'nightly', 'success', 1000)
    await write('r2', 'nightly', 'failure', 2000)
    await write('r3', 'weekly', 'success', 3000)
    const [r1] = await listRuns(dir.dir, { jobId: 'nightly', status: 'success' })
    expect(r1).toMatchObject({
      runId: 'r1',
      pools: ['Lab pool'],
      repositories: ['local'],
      vmNames: ['web-01'],
      points: [{ vm: 'web-01', vmUuid: 'u1', target: 'local', pointId: 'p-r1' }],
    })
    expect((await listRuns(dir.dir, { jobId: 'nightly' })).map((r) => r.runId)).toEqual(['r2', 'r1'])
    expect((await listRuns(dir.dir, { since: 2000 })).map((r) => r.runId)).toEqual(['r3', 'r2'])
    expect((await listRuns(dir.dir, { status: 'failure' })).map((r) => r.runId)).toEqual(['r2'])
  })
})
