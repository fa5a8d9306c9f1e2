import { describe, expect, it } from 'vitest'
import { listPoints, PointWriter, readManifest, Repository, RepositoryError } from '../repository/index.js'
import { sleep, StrataError, type TaskContext } from '../shared/index.js'
import { XapiError } from '../xapi/index.js'
import { MemoryStore } from '../storage/index.js'
import { scratchDir } from '../testing/index.js'
import type { XapiClient, XapiRecord } from '../xapi/index.js'
import { parseJob, type Job } from './job.js'
import { createPoolLimits } from './limits.js'
import { readRun } from './run-log.js'
import { runDirs, runJob, type RunDeps } from './run.js'
import type { BackupTarget, VmBackupSettings } from './vm-backup.js'

const vmRecord = (name: string, tags: string[], power = 'Running'): XapiRecord => ({
  uuid: `uuid-${name}`,
  name_label: name,
  tags,
  power_state: power,
})

interface Fake {
  deps: RunDeps
  calls: { vm: string; settings: VmBackupSettings }[]
  peak: () => number
}

/** A pool with three VMs and a data path that writes a one-chunk point per VM into every repository. */
async function fake(
  behaviour: (vm: string, attempt: number, task: TaskContext) => Promise<void> = async () => {},
) {
  const repo = await Repository.create(new MemoryStore('mem'), { chunkSize: 512 * 1024 })
  const vms = new Map(
    [
      vmRecord('a', ['prod']),
      vmRecord('b', ['prod']),
      vmRecord('c', ['prod'], 'Halted'),
      vmRecord('d', []),
    ].map((r, i) => [`OpaqueRef:${i}`, r]),
  )
  const calls: Fake['calls'] = []
  const attempts = new Map<string, number>()
  let running = 0
  let peak = 0
  const deps: RunDeps = {
    connectPool: async (pool) => ({
      poolId: pool.id,
      uuid: 'pool-uuid',
      xapi: {} as XapiClient,
      cache: { all: () => vms },
      close: async () => {},
    }),
    openRepository: async () => repo,
    limits: () => createPoolLimits(),
    retryDelayMs: 1,
    backupVm: async (task, _xapi, _limits, vmUuid, targets: readonly BackupTarget[], settings) => {
      calls.push({ vm: vmUuid, settings })
      const attempt = (attempts.get(vmUuid) ?? 0) + 1
      attempts.set(vmUuid, attempt)
      peak = Math.max(peak, ++running)
      try {
        await task.child('snapshot', () => sleep(20, task.signal))
        await behaviour(vmUuid, attempt, task)
        const points = []
        for (const target of targets) {
          const writer = await PointWriter.begin(target.repository, {
            vm: vmUuid,
            jobId: settings.jobId,
            scheduleId: settings.scheduleId,
          })
          await writer.openDisk('disk 0', 1024).putChunk(0, Buffer.alloc(1024, attempt))
          points.push({ target: target.name, pointId: (await writer.commit()).pointId })
        }
        return { vmUuid, points, full: attempt === 1, bytesRead: 1024, bytesStored: 10, warnings: [] }
      } finally {
        running--
      }
    },
  }
  return { deps, calls, peak: () => peak, repo }
}

const job = (extra: Record<string, unknown> = {}, settings: Record<string, unknown> = {}): Job =>
  parseJob({
    id: 'nightly',
    pools: [{ id: 'lab', url: 'http://127.0.0.1:1' }],
    repositories: [{ name: 'mem', location: 'unused' }],
    vms: { tags: ['prod'] },
    settings: { vmConcurrency: 2, ...settings },
    ...extra,
  })

describe('runJob', () => {
  it('backs up the selected VMs a few at a time and logs the tree', async () => {
    await using dir = await scratchDir()
    const f = await fake()
    const result = await runJob({
      job: job(),
      dataDir: dir.dir,
      signal: new AbortController().signal,
      deps: f.deps,
    })
    expect(result.status).toBe('success')
    expect(result.vms.map((v) => v.name).sort()).toEqual(['a', 'b', 'c'])
    expect(f.peak()).toBe(2)
    const root = await readRun(runDirs(dir.dir).runs, result.runId)
    expect(root).toMatchObject({ name: 'backup run', status: 'success', data: { jobId: 'nightly' } })
    expect(root.infos[0]!.data).toEqual({ vms: ['uuid-a', 'uuid-b', 'uuid-c'] })
    const vms = root.children.filter((c) => c.name === 'VM')
    expect(vms.map((v) => [v.data.name, v.status, v.children[0]!.name])).toEqual([
      ['a', 'success', 'snapshot'],
      ['b', 'success', 'snapshot'],
      ['c', 'success', 'snapshot'],
    ])
    expect(vms[0]!.data).toMatchObject({ bytesRead: 1024, bytesStored: 10, full: true })
  })

  it('resumes a VM whose repository session lapsed at once, even without retries, but only once', async () => {
    await using dir = await scratchDir()
    const lapsed = () => new RepositoryError('SESSION_EXPIRED', 'backup session lapsed', { retryable: true })
    const f = await fake(async (vm) => {
      if (vm === 'uuid-a' && f.calls.filter((c) => c.vm === vm).length === 1) throw lapsed()
      if (vm === 'uuid-b') throw lapsed()
    })
    const result = await runJob({
      job: job(),
      dataDir: dir.dir,
      signal: new AbortController().signal,
      deps: f.deps,
    })
    const byName = Object.fromEntries(result.vms.map((v) => [v.name, v]))
    expect([byName.a!.status, byName.a!.attempts]).toEqual(['success', 2])
    expect([byName.b!.status, byName.b!.attempts, byName.b!.error?.code]).toEqual([
      'failure',
      2,
      'SESSION_EXPIRED',
    ])
    const root = await readRun(runDirs(dir.dir).runs, result.runId)
    const a = root.children.find((c) => c.data.name === 'a')!
    expect(a.warnings).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/resuming the backup of VM 'a'/),
        data: expect.objectContaining({ isRetry: true, code: 'SESSION_EXPIRED' }),
      }),
    ])
  })

  it('retries a failed VM N times, each retry a warning, and fails it after the last', async () => {
    await using dir = await scratchDir()
    const f = await fake(async (vm, attempt) => {
      if (vm === 'uuid-a' && attempt === 1) throw new StrataError('VDI_IN_USE', 'busy')
      if (vm === 'uuid-b') throw new StrataError('SR_FULL', 'full')
    })
    const result = await runJob({
      job: job({}, { retries: 2 }),
      dataDir: dir.dir,
      signal: new AbortController().signal,
      deps: f.deps,
    })
    expect(result.status).toBe('failure')
    const byName = Object.fromEntries(result.vms.map((v) => [v.name, v]))
    expect([byName.a!.status, byName.a!.attempts]).toEqual(['success', 2])
    expect([byName.b!.status, byName.b!.attempts, byName.b!.error?.code]).toEqual(['failure', 3, 'SR_FULL'])
    const root = await readRun(runDirs(dir.dir).runs, result.runId)
    expect(root.error).toMatchObject({ code: 'VMS_FAILED' })
    const a = root.children.find((c) => c.data.name === 'a')!
    expect(a.status).toBe('success')
    expect(a.warnings.map((w) => w.data)).toEqual([
      expect.objectContaining({ isRetry: true, code: 'VDI_IN_USE' }),
    ])
    expect(a.children.map((c) => c.status)).toEqual(['success', 'success'])
  })

  it('keeps N points per VM for the run schedule and never touches other schedules', async () => {
    await using dir = await scratchDir()
    const f = await fake()
    const schedules = [
      { id: 'daily', retention: { keepLast: 2 } },
      { id: 'weekly', retention: { keepLast: 1 } },
    ]
    const j = job({ vms: ['a'], schedules })
    const signal = new AbortController().signal
    await expect(runJob({ job: j, dataDir: dir.dir, signal, deps: f.deps })).rejects.toThrow(
      "job 'nightly' has schedules daily, weekly: say which one this run is for",
    )
    await runJob({ job: j, scheduleId: 'weekly', dataDir: dir.dir, signal, deps: f.deps })
    for (let i = 0; i < 4; i++)
      await runJob({ job: j, scheduleId: 'daily', dataDir: dir.dir, signal, deps: f.deps })
    const points = await listPoints(f.repo, 'uuid-a')
    const schedulesLeft = await Promise.all(
      points.map(async (p) => (await readManifest(f.repo, p)).scheduleId),
    )
    expect(schedulesLeft.sort()).toEqual(['daily', 'daily', 'weekly'])
  })

  it('never overlaps a run of the same job', async () => {
    await using dir = await scratchDir()
    const f = await fake(() => sleep(200))
    const signal = new AbortController().signal
    const first = runJob({ job: job(), dataDir: dir.dir, signal, deps: f.deps })
    await sleep(50)
    await expect(runJob({ job: job(), dataDir: dir.dir, signal, deps: f.deps })).rejects.toThrow(
      /already running/,
    )
    expect((await first).status).toBe('success')
  })

  it('fails VMs still running at the job timeout', async () => {
    await using dir = await scratchDir()
    const f = await fake((_vm, _a, task) => sleep(10_000, task.signal))
    const j = { ...job({ vms: ['a'] }), settings: { ...job().settings, timeoutMs: 150 } }
    const result = await runJob({
      job: j,
      dataDir: dir.dir,
      signal: new AbortController().signal,
      deps: f.deps,
    })
    expect(result.status).toBe('failure')
    expect(result.vms[0]).toMatchObject({ status: 'failure', error: { code: 'RUN_TIMEOUT' } })
  })

  it('forces a full every N runs of a VM', async () => {
    await using dir = await scratchDir()
    const f = await fake()
    const j = job({ vms: ['a'] }, { fullInterval: 3 })
    const signal = new AbortController().signal
    for (let i = 0; i < 4; i++) await runJob({ job: j, dataDir: dir.dir, signal, deps: f.deps })
    expect(f.calls.map((c) => c.settings.forceFull)).toEqual([false, false, false, true])
  })

  it('skips a run whose selection matches nothing and fails names it cannot resolve', async () => {
    await using dir = await scratchDir()
    const f = await fake()
    const signal = new AbortController().signal
    const none = await runJob({
      job: job({ vms: { tags: ['nope'] } }),
      dataDir: dir.dir,
      signal,
      deps: f.deps,
    })
    expect(none.status).toBe('skipped')
    const missing = await runJob({ job: job({ vms: ['a', 'zz'] }), dataDir: dir.dir, signal, deps: f.deps })
    expect(missing.status).toBe('failure')
    const root = await readRun(runDirs(dir.dir).runs, missing.runId)
    expect(root.children.map((c) => [c.data.name, c.status, c.error?.code])).toEqual(
      expect.arrayContaining([
        ['zz', 'failure', 'VM_NOT_FOUND'],
        ['a', 'success', undefined],
      ]),
    )
  })

  it('fails a run whose pool refuses the login, naming the pool and the reason (not skipped)', async () => {
    await using dir = await scratchDir()
    const f = await fake()
    const deps: RunDeps = {
      ...f.deps,
      connectPool: () => Promise.reject(new XapiError('SESSION_AUTHENTICATION_FAILED', ['root'])),
    }
    const signal = new AbortController().signal
    const result = await runJob({ job: job(), dataDir: dir.dir, signal, deps })
    expect(result.status).toBe('failure')
    expect(f.calls).toEqual([])
    const root = await readRun(runDirs(dir.dir).runs, result.runId)
    expect(root.error?.code).toBe('POOL_UNREACHABLE')
    expect(root.error?.message).toContain("pool 'lab' (http://127.0.0.1:1)")
    expect(root.error?.message).toContain('SESSION_AUTHENTICATION_FAILED')
    const connect = root.children.find((c) => c.name === 'connect pool')!
    expect(connect).toMatchObject({ status: 'failure', error: { code: 'SESSION_AUTHENTICATION_FAILED' } })
  })

  it('fails a run with an unreachable pool even when the other pools backed up their VMs', async () => {
    await using dir = await scratchDir()
    const f = await fake()
    const deps: RunDeps = {
      ...f.deps,
      connectPool: (pool, signal) =>
        pool.id === 'far'
          ? Promise.reject(new StrataError('XAPI_CONNECTION', 'connect ECONNREFUSED 127.0.0.1:2'))
          : f.deps.connectPool(pool, signal),
    }
    const pools = [
      { id: 'lab', url: 'http://127.0.0.1:1' },
      { id: 'far', name: 'Far away', url: 'http://127.0.0.1:2' },
    ]
    const signal = new AbortController().signal
    const result = await runJob({ job: job({ pools }), dataDir: dir.dir, signal, deps })
    expect(result.status).toBe('failure')
    expect(result.vms.map((v) => [v.name, v.status])).toEqual([
      ['a', 'success'],
      ['b', 'success'],
      ['c', 'success'],
    ])
    const root = await readRun(runDirs(dir.dir).runs, result.runId)
    expect(root.error).toMatchObject({ code: 'POOL_UNREACHABLE' })
    expect(root.error?.message).toContain("pool 'Far away' (http://127.0.0.1:2): connect ECONNREFUSED")
  })
})
