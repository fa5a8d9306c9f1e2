import { describe, expect, it } from 'vitest'
import type { RunSummary } from '@strata/contract'
import { lastRunsByJob, withRun } from './run-strip'

const run = (runId: string, jobId: string, extra: Partial<RunSummary> = {}): RunSummary => ({
  runId,
  jobId,
  status: 'success',
  start: 0,
  warnings: 0,
  kind: 'backup',
  ...extra,
})

describe('lastRunsByJob', () => {
  it('keeps the newest ten backup runs of each job, in order', () => {
    const runs = [
      ...Array.from({ length: 12 }, (_, i) => run(`a${i}`, 'a')),
      run('b0', 'b', { status: 'failure' }),
      run('r0', 'a', { kind: 'restore' }),
    ]
    const byJob = lastRunsByJob(runs)
    expect(byJob.a!.map((r) => r.runId)).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`))
    expect(byJob.b!.map((r) => r.status)).toEqual(['failure'])
  })

  it('puts a new run first and updates a known one in place', () => {
    const list = Array.from({ length: 10 }, (_, i) => run(`a${i}`, 'a'))
    const added = withRun(list, run('new', 'a', { status: 'pending' }))
    expect(added.map((r) => r.runId)).toEqual(['new', ...list.slice(0, 9).map((r) => r.runId)])
    const ended = withRun(added, run('new', 'a', { status: 'failure' }))
    expect(ended[0]).toMatchObject({ runId: 'new', status: 'failure' })
    expect(ended).toHaveLength(10)
  })
})
