// Backup jobs end to end against the lab pool, each run in a worker process like `strata backup run`:
// smart selection, retention over several runs, two jobs at once under shared pool limits, a worker
// killed mid-transfer then a resumed run, retries of failed VMs, the log tree read back (also through
// the CLI), and no snapshot or dom0 VBD left behind on the pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  LimitsRegistry,
  createPoolLimits,
  parseJob,
  listRuns,
  readRun,
  restoreDiskToFile,
  runJobInWorker,
  type Job,
  type PoolLimits,
  type RunResult,
  type TaskEvent,
} from '@strata/core/engine'
import { Repository, listPoints } from '@strata/core/repository'
import { Semaphore, silentTask } from '@strata/core'
import { LocalStore } from '@strata/core/storage'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from '@strata/lab'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { main } from '../main.js'

const MiB = 1024 * 1024

/** Semaphores that remember how many holders they had at once, and whether anyone had to wait. */
class CountingSemaphore extends Semaphore {
  held = 0
  peak = 0
  waited = false
  override async acquire(signal?: AbortSignal): Promise<void> {
    if (this.pending > 0 || this.held >= this.capacity) this.waited = true
    await super.acquire(signal)
    this.peak = Math.max(this.peak, ++this.held)
  }
  override release(): void {
    this.held--
    super.release()
  }
}

class CountingRegistry extends LimitsRegistry {
  readonly pools = new Map<string, PoolLimits>()
  override forPool(key: string): PoolLimits {
    let limits = this.pools.get(key)
    if (limits === undefined) {
      const sizes = createPoolLimits(this.sizes)
      limits = {
        snapshots: new CountingSemaphore(sizes.snapshots.capacity),
        transfers: new CountingSemaphore(sizes.transfers.capacity),
        exports: new CountingSemaphore(sizes.exports.capacity),
      }
      this.pools.set(key, limits)
    }
    return limits
  }
}

describe('backup jobs against the lab', () => {
  let lab: LabPool
  let scratch: Scratch
  let repoDir: string
  let dataDir: string

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    scratch = await scratchDir('strata-jobs-')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 50,
      vms: [
        { name: 'web-a', power: 'Running', tags: ['prod', 'web'], disks: [8] },
        { name: 'web-b', power: 'Running', tags: ['prod', 'web', 'scratch'], disks: [8] },
        { name: 'db-a', power: 'Halted', tags: ['prod'], disks: [8] },
        { name: 'quiet', power: 'Running', tags: ['prod', 'strata:no-bak=test'], disks: [8] },
        { name: 'big', power: 'Running', tags: [], disks: [64] },
      ],
    })
    repoDir = scratch.path('repo')
    dataDir = scratch.path('data')
    await Repository.create(new LocalStore(repoDir), { chunkSize: 512 * 1024 })
  })
  afterAll(async () => {
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  const job = (id: string, vms: unknown, extra: Record<string, unknown> = {}): Job =>
    parseJob({
      id,
      pools: [{ id: 'lab', url: lab.url, user: lab.user, fingerprint: lab.fingerprint }],
      repositories: [{ name: 'local', location: repoDir }],
      vms,
      ...extra,
    })

  const run = (j: Job, o: Partial<Parameters<typeof runJobInWorker>[0]> = {}): Promise<RunResult> =>
    runJobInWorker({
      job: j,
      dataDir,
      signal: AbortSignal.timeout(120_000),
      env: { STRATA_XAPI_PASSWORD: lab.password },
      ...o,
    })

  const uuid = (name: string): string => String(lab.state.db.get('VM', lab.ref('VM', name)).uuid)

  /** No dom0 VBD left once transfers are over; per VM, at most one backup snapshot per job (retention 1). */
  async function expectNoLeaks(): Promise<void> {
    await new Promise((r) => setTimeout(r, 200)) // dom0 VBDs detach 50 ms after a transfer
    const dom0s = new Set(lab.state.db.find('VM', (r) => r.is_control_domain === true).map(([ref]) => ref))
    expect(lab.state.db.find('VBD', (r) => dom0s.has(String(r.VM)))).toEqual([])
    for (const name of lab.vmNames()) {
      const vm = lab.ref('VM', name)
      const jobs = lab.state.db
        .find('VM', (r) => r.is_a_snapshot === true && r.snapshot_of === vm)
        .map(([, r]) => (r.other_config as Record<string, string>)['strata:backup:job'] ?? 'untagged')
      expect(jobs.length, `snapshots of ${name}: ${jobs.join(', ')}`).toBe(new Set(jobs).size)
      expect(jobs).not.toContain('untagged')
    }
  }

  it('selects VMs by tags and power state, with exclusions, and logs a readable tree', async () => {
    const smart = { tags: ['prod'], powerState: 'Running', excludeTags: ['scratch'] }
    const result = await run(job('smart', smart))
    expect(result.status).toBe('success')
    expect(result.vms.map((v) => v.name)).toEqual(['web-a']) // not db-a (halted), web-b (scratch), quiet (no-bak)
    const both = await run(job('smart-2', { tags: ['prod'], excludeVms: ['web-b', 'quiet'] }))
    expect(both.vms.map((v) => v.name).sort()).toEqual(['db-a', 'web-a'])
    const root = await readRun(join(dataDir, 'runs'), result.runId)
    expect(root).toMatchObject({ name: 'backup run', status: 'success', data: { jobId: 'smart' } })
    const vm = root.children.find((c) => c.name === 'VM')!
    expect(vm).toMatchObject({ status: 'success', data: { name: 'web-a', uuid: uuid('web-a') } })
    expect(vm.children.map((c) => c.name)).toEqual(expect.arrayContaining(['snapshot', 'transfer']))
    const transfer = vm.children.find((c) => c.name === 'transfer')!
    expect(transfer).toMatchObject({ status: 'success', data: { disk: 0, size: 8 * MiB } })
    expect(vm.data.bytesRead).toBeGreaterThan(0)
    const out = await cli(['backup', 'logs', result.runId, '--data-dir', dataDir])
    expect(out).toMatch(/^backup run smart {2}success in /)
    expect(out).toMatch(/VM web-a {2}success in .*read [\d.]+ [KM]iB/)
    expect(out).toMatch(/transfer disk 0 {2}success/)
    expect(await cli(['backup', 'logs', '--data-dir', dataDir])).toContain(`${result.runId}  `)
    await expectNoLeaks()
  })

  it('keeps N restore points per schedule over several runs; the newest restores to the VM bytes', async () => {
    const j = job('retention', ['web-a'], { schedules: [{ id: 'hourly', retention: { keepLast: 2 } }] })
    const vdi = lab.guest.disks(lab.ref('VM', 'web-a'))[0]!
    const results: RunResult[] = []
    for (let i = 0; i < 4; i++) {
      await lab.guest.writeFile(vdi, `/srv/run-${i}.txt`, `run ${i}\n`)
      results.push(await run(j))
    }
    expect(results.map((r) => r.status)).toEqual(['success', 'success', 'success', 'success'])
    expect(results.slice(1).map((r) => r.vms[0]!.result!.full)).toEqual([false, false, false])
    const repo = await Repository.open(new LocalStore(repoDir))
    const written = results.map((r) => r.vms[0]!.result!.points[0]!.pointId)
    const left = (await listPoints(repo, uuid('web-a'))).map((p) => p.pointId)
    expect(left.filter((id) => written.includes(id))).toEqual(written.slice(2))
    const root = await readRun(join(dataDir, 'runs'), results[3]!.runId)
    const retention = root.children
      .find((c) => c.name === 'VM')!
      .children.find((c) => c.name === 'retention')!
    expect(retention).toMatchObject({ status: 'success', data: { kept: 2, removed: [written[1]] } })
    const file = scratch.path('web-a.raw')
    await restoreDiskToFile(silentTask(), {
      repository: repo,
      pointId: written[3]!,
      disk: 0,
      path: file,
      format: 'raw',
    })
    expect((await readFile(file)).equals(await lab.readDisk(vdi))).toBe(true)
    await expectNoLeaks()
  })

  it('waits out a base snapshot that dom0 still holds after the last run, and reads only changed blocks', async () => {
    const vdi = lab.guest.disks(lab.ref('VM', 'web-a'))[0]!
    const j = job('linger', ['web-a'])
    // xapi-nbd keeps its dom0 VBDs a moment after the connections end: longer than the next run takes to start.
    lab.state.dom0DetachMs = 4000
    try {
      await lab.guest.writeRandomBlocks(vdi, 4)
      const first = await run(j)
      await lab.guest.writeRandomBlocks(vdi, 4)
      const second = await run(j)
      expect([first.status, second.status]).toEqual(['success', 'success'])
      expect(second.vms[0]!.result!.full).toBe(false)
      const root = await readRun(join(dataDir, 'runs'), second.runId)
      const transfer = root.children
        .find((c) => c.name === 'VM')!
        .children.find((c) => c.name === 'transfer')!
      expect(transfer.warnings).toEqual([]) // no fallback from CBT
      expect(transfer.data).toMatchObject({ path: 'cbt', nbd: true })
    } finally {
      lab.state.dom0DetachMs = 50
    }
    await new Promise((r) => setTimeout(r, 4000)) // the VBDs of the second run go too
    await expectNoLeaks()
  })

  it('runs two jobs at once in two workers within the per-pool limits', async () => {
    const limits = new CountingRegistry({ snapshots: 1, transfers: 1 })
    // Transfers slow enough that every VM asks for a slot while another holds it.
    const settings = { settings: { vmConcurrency: 0, maxBytesPerSecond: 4 * MiB } }
    const [one, two] = await Promise.all([
      run(job('pair-1', ['web-a', 'web-b'], settings), { limits }),
      run(job('pair-2', ['db-a', 'quiet'], settings), { limits }),
    ])
    expect([one.status, two.status]).toEqual(['success', 'success'])
    const [pool] = [...limits.pools.values()]
    const snapshots = pool!.snapshots as CountingSemaphore
    const transfers = pool!.transfers as CountingSemaphore
    expect([snapshots.peak, transfers.peak]).toEqual([1, 1])
    expect(snapshots.waited && transfers.waited).toBe(true) // four VMs wanted the slots at once
    expect([snapshots.held, transfers.held]).toEqual([0, 0])
    await expectNoLeaks()
  })

  it('resumes a run killed mid-transfer, reading less than a full backup does', async () => {
    const vdi = lab.guest.disks(lab.ref('VM', 'big'))[0]!
    await lab.guest.writeRandomBlocks(vdi, 600)
    const fresh = scratch.path('fresh-repo')
    await Repository.create(new LocalStore(fresh), { chunkSize: 512 * 1024 })
    const baseline = await run(
      parseJob({
        id: 'baseline',
        pools: [{ id: 'lab', url: lab.url, fingerprint: lab.fingerprint }],
        repositories: [{ name: 'fresh', location: fresh }],
        vms: ['big'],
      }),
    )
    const fullRead = baseline.vms[0]!.result!.bytesRead
    const j = job('resume', ['big'], { settings: { maxBytesPerSecond: 4 * MiB } })
    let pid = 0
    const events: TaskEvent[] = []
    const killed = run(j, {
      onStart: (info) => (pid = info.pid),
      onEvent: (e) => {
        events.push(e)
        if (e.type === 'progress' && e.done >= 4 * MiB) process.kill(pid, 'SIGKILL')
      },
    })
    await expect(killed).rejects.toThrow(/SIGKILL/)
    const [last] = await listRuns(join(dataDir, 'runs'))
    expect(last).toMatchObject({ jobId: 'resume', status: 'interrupted' })
    const resumed = await run({ ...j, settings: { ...j.settings, maxBytesPerSecond: undefined } })
    expect(resumed.status).toBe('success')
    expect(resumed.vms[0]!.result!.bytesRead).toBeLessThan(fullRead)
    const vm = (await readRun(join(dataDir, 'runs'), resumed.runId)).children.find((c) => c.name === 'VM')!
    const transfer = vm.children.find((c) => c.name === 'transfer')!
    expect(transfer.data.resumedChunks).toBeGreaterThan(0)
    expect(transfer.infos.map((i) => i.message)).toEqual([expect.stringMatching(/^resumed: \d+ chunks/)])
    const repo = await Repository.open(new LocalStore(repoDir))
    const file = scratch.path('big.raw')
    const pointId = resumed.vms[0]!.result!.points[0]!.pointId
    await restoreDiskToFile(silentTask(), { repository: repo, pointId, disk: 0, path: file, format: 'raw' })
    expect((await readFile(file)).equals(await lab.readDisk(vdi))).toBe(true)
    await expectNoLeaks()
  })

  it('keeps only the resumable snapshot of a cancelled run, which the next run resumes from', async () => {
    const vdi = lab.guest.disks(lab.ref('VM', 'web-b'))[0]!
    await lab.guest.writeRandomBlocks(vdi, 100)
    const controller = new AbortController()
    const j = job('cancel', ['web-b'], { settings: { maxBytesPerSecond: 2 * MiB } })
    const cancelled = await run(j, {
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'progress' && e.done > 0) controller.abort(new Error('cancelled by the test'))
      },
    })
    expect(cancelled).toMatchObject({ status: 'interrupted', vms: [{ status: 'interrupted' }] })
    const jobSnapshots = () =>
      lab.state.db
        .find('VM', (r) => r.is_a_snapshot === true && r.snapshot_of === lab.ref('VM', 'web-b'))
        .filter(([, r]) => (r.other_config as Record<string, string>)['strata:backup:job'] === 'cancel')
    expect(jobSnapshots()).toHaveLength(1)
    await expectNoLeaks()
    const next = await run({ ...j, settings: { ...j.settings, maxBytesPerSecond: undefined } })
    expect(next.status).toBe('success')
    const vm = (await readRun(join(dataDir, 'runs'), next.runId)).children.find((c) => c.name === 'VM')!
    expect(vm.children.find((c) => c.name === 'transfer')!.data.resumedChunks).toBeGreaterThan(0)
    expect(jobSnapshots()).toHaveLength(1)
    await expectNoLeaks()
  })

  it('logs a fallback as a warning when NBD fails, and the run still succeeds from the VHD export', async () => {
    const vdi = lab.guest.disks(lab.ref('VM', 'db-a'))[0]!
    await lab.guest.writeRandomBlocks(vdi, 40)
    lab.faults.failMethod('VDI.get_nbd_info', 'INTERNAL_ERROR', ['injected'], 1)
    try {
      const result = await run(job('nbd-drop', ['db-a']))
      expect(result.status).toBe('success')
      const root = await readRun(join(dataDir, 'runs'), result.runId)
      const transfer = root.children
        .find((c) => c.name === 'VM')!
        .children.find((c) => c.name === 'transfer')!
      expect(transfer.status).toBe('success')
      expect(transfer.warnings.map((w) => w.message)).toEqual([expect.stringMatching(/NBD/)])
      const out = await cli(['backup', 'logs', result.runId, '--data-dir', dataDir])
      expect(out).toMatch(/transfer disk 0 {2}success[^\n]*\n.*! .*NBD/)
      const repo = await Repository.open(new LocalStore(repoDir))
      const file = scratch.path('db-a.raw')
      const pointId = result.vms[0]!.result!.points[0]!.pointId
      await restoreDiskToFile(silentTask(), { repository: repo, pointId, disk: 0, path: file, format: 'raw' })
      expect((await readFile(file)).equals(await lab.readDisk(vdi))).toBe(true)
    } finally {
      lab.faults.clear()
    }
    await expectNoLeaks()
  })

  it('retries a failed VM N times and fails it when the retries run out', async () => {
    lab.faults.failMethod('VM.snapshot', 'SR_BACKEND_FAILURE_44', ['', 'no space', ''], 1)
    const ok = await run(job('retry', ['web-b'], { settings: { retries: 1 } }))
    expect(ok.status).toBe('success')
    expect(ok.vms[0]).toMatchObject({ status: 'success', attempts: 2 })
    const vm = (await readRun(join(dataDir, 'runs'), ok.runId)).children.find((c) => c.name === 'VM')!
    expect(vm.warnings[0]).toMatchObject({ data: { isRetry: true, code: 'SR_BACKEND_FAILURE_44' } })
    lab.faults.failMethod('VM.snapshot', 'SR_BACKEND_FAILURE_44', ['', 'no space', ''], 2)
    const failed = await run(job('retry', ['web-b'], { settings: { retries: 1 } }))
    expect(failed.status).toBe('failure')
    expect(failed.vms[0]).toMatchObject({
      status: 'failure',
      attempts: 2,
      error: { code: 'SR_BACKEND_FAILURE_44' },
    })
    lab.faults.clear()
    await expectNoLeaks()
  })
})

async function cli(argv: string[]): Promise<string> {
  let out = ''
  const sink = (write: (s: string) => void) => ({ write: (s: string) => (write(s), true) }) as never
  const code = await main(argv, { stdout: sink((s) => (out += s)), stderr: sink(() => {}) })
  if (code !== 0) throw new Error(`strata ${argv.join(' ')} exited with ${code}: ${out}`)
  return out
}
