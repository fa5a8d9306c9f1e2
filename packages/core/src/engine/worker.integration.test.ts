// Jobs in worker processes: events streamed to the parent, pool limits shared across workers through the
// parent, and a worker killed mid-transfer leaving an interrupted run and no stale lock.
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { Repository } from '../repository/index.js'
import { LocalStore } from '../storage/index.js'
import { requireBinary, scratchDir } from '../testing/index.js'
import { parseJob } from './job.js'
import { LimitsRegistry } from './limits-registry.js'
import { listRuns, readRun } from './run-log.js'
import { runDirs } from './run.js'
import type { TaskEvent } from './task-tree.js'
import { runJobInFakeWorker } from './testing/fake-worker.js'

const job = (id: string) =>
  parseJob({
    id,
    pools: [{ id: 'lab', url: 'http://127.0.0.1:1' }],
    repositories: [{ name: 'local', location: 'unused' }],
    vms: { tags: [] },
    settings: { vmConcurrency: 0 },
  })

async function setup() {
  requireBinary('node')
  const dir = await scratchDir()
  await Repository.create(new LocalStore(dir.path('repo')), { chunkSize: 512 * 1024 })
  const env = { FAKE_REPO: dir.path('repo'), FAKE_TRACE: dir.path('trace'), FAKE_VMS: 'a,b' }
  return { dir, env }
}

function peakOverlap(trace: string): number {
  let running = 0
  let peak = 0
  const lines = trace
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
  for (const [kind] of lines.sort((x, y) => Number(x[1]) - Number(y[1]) || (x[0] === 'end' ? -1 : 1))) {
    running += kind === 'start' ? 1 : -1
    peak = Math.max(peak, running)
  }
  return peak
}

describe('runJobInWorker', () => {
  it('runs two jobs in two workers that share the parent pool limits', async () => {
    const { dir, env } = await setup()
    await using _ = dir
    const limits = new LimitsRegistry({ transfers: 2 })
    const events: TaskEvent[] = []
    const signal = new AbortController().signal
    const common = {
      dataDir: dir.path('data'),
      signal,
      limits,
      env: { ...env, FAKE_TRANSFER_MS: '300' },
    }
    const [one, two] = await Promise.all([
      runJobInFakeWorker({ ...common, job: job('one'), onEvent: (e) => events.push(e) }),
      runJobInFakeWorker({ ...common, job: job('two') }),
    ])
    expect([one.status, two.status]).toEqual(['success', 'success'])
    const trace = await readFile(env.FAKE_TRACE, 'utf8')
    expect(
      new Set(
        trace
          .trim()
          .split('\n')
          .map((l) => l.split(' ')[2]),
      ).size,
    ).toBe(2) // two processes
    expect(trace.trim().split('\n')).toHaveLength(8)
    expect(peakOverlap(trace)).toBe(2) // 4 transfers wanted at once, 2 allowed
    expect(events.filter((e) => e.type === 'start').map((e) => (e as { name: string }).name)).toContain(
      'transfer',
    )
    const root = await readRun(runDirs(common.dataDir).runs, one.runId)
    expect(root.status).toBe('success')
  })

  it('records a worker killed mid-transfer as interrupted and lets the next run take the lock', async () => {
    const { dir, env } = await setup()
    await using _ = dir
    const dataDir = dir.path('data')
    const signal = new AbortController().signal
    let pid = 0
    const killed = runJobInFakeWorker({
      job: job('k'),
      dataDir,
      signal,
      env: { ...env, FAKE_VMS: 'a', FAKE_TRANSFER_MS: '60000' },
      onStart: (info) => (pid = info.pid),
      onEvent: (e) => {
        if (e.type === 'progress') process.kill(pid, 'SIGKILL')
      },
    })
    // Another job running at the same time is not disturbed by the crash.
    const other = runJobInFakeWorker({
      job: job('other'),
      dataDir,
      signal,
      env: { ...env, FAKE_VMS: 'b', FAKE_TRANSFER_MS: '2000' },
    })
    await expect(killed).rejects.toThrow(/stopped \(SIGKILL\)/)
    expect((await other).status).toBe('success')
    const run = (await listRuns(runDirs(dataDir).runs)).find((r) => r.jobId === 'k')
    const root = await readRun(runDirs(dataDir).runs, run!.runId)
    expect(root).toMatchObject({ status: 'interrupted', error: { code: 'WORKER_EXITED' } })
    const transfer = root.children.find((c) => c.name === 'VM')!.children[0]!
    expect(transfer).toMatchObject({ name: 'transfer', status: 'interrupted' })
    const again = await runJobInFakeWorker({
      job: job('k'),
      dataDir,
      signal,
      env: { ...env, FAKE_VMS: 'a' },
    })
    expect(again.status).toBe('success')
  })
})
