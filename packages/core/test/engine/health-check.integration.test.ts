// Health checks against the lab: a restore point restored as a VM without network, started, waited for
// (guest metrics), destroyed; a point whose boot sector a guest write damaged times out with that reason.
// Then a replication job run end to end (runJob with the real effects) whose schedule checks each new
// replica: green while the guest boots, orange ('warning') once its boot sector is damaged. Nothing a
// check creates is left behind, whatever it found.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { silentTask } from '../../src/shared/index.js'
import { requireBinary, scratchDir, type Scratch } from '../../src/testing/index.js'
import {
  HEALTH_CHECK_TAG,
  backupVm,
  connectPool,
  createPoolLimits,
  healthCheckPoint,
  healthCheckTags,
  restoreVm,
  parseJob,
  readRun,
  replicateVm,
  runDirs,
  runJob,
  sweepHealthChecks,
} from '../../src/engine/index.js'
import type { LabPool } from '@strata/lab'
import { startLabEnv, type LabEnv } from './lab-backup-fixture.js'
import { srUuidOf, startTwoPools, type TwoPools } from './replication-fixture.js'

/** What a check could leak: VMs tagged as checks, and the counts of VMs, VBDs and VDIs. */
function footprint(lab: LabPool): { checks: number; vms: number; vbds: number; vdis: number } {
  const { db } = lab.state
  return {
    checks: db.find('VM', (r) => ((r.tags as string[] | undefined) ?? []).includes(HEALTH_CHECK_TAG)).length,
    vms: db.find('VM', () => true).length,
    vbds: db.find('VBD', () => true).length,
    vdis: db.find('VDI', () => true).length,
  }
}

/** The footprint once dom0 has let go of the disks a backup or a restore attached. */
async function settled(lab: LabPool): Promise<ReturnType<typeof footprint>> {
  const { db } = lab.state
  const dom0 = new Set(db.find('VM', (r) => r.is_control_domain === true).map(([ref]) => ref))
  const deadline = Date.now() + 5000
  while (db.find('VBD', (r) => dom0.has(String(r.VM))).length > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50))
  return footprint(lab)
}

describe('health checks of restore points', () => {
  let env: LabEnv
  let disk0: string
  let srUuid: string
  const backup = async (): Promise<string> => {
    const vmUuid = String(env.lab.state.db.get('VM', env.lab.ref('VM', 'web-01')).uuid)
    const target = [{ name: 'local', repository: env.repo }]
    const settings = { runId: `r-${Math.random()}`, jobId: 'job-h', mode: 'delta' as const }
    const result = await backupVm(silentTask(), env.xapi, env.limits, vmUuid, target, settings)
    return result.points[0]!.pointId
  }
  const check = (pointId: string, timeoutMs: number) =>
    healthCheckPoint(silentTask(), env.xapi, env.limits, {
      repository: env.repo,
      pointId,
      sr: srUuid,
      timeoutMs,
      guestCheck: false,
      pollMs: 50,
    })

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    env = await startLabEnv({ vms: [{ name: 'web-01', power: 'Running', disks: [16] }], bootDelayMs: 200 })
    disk0 = env.lab.guest.disks(env.lab.ref('VM', 'web-01'))[0]!
    srUuid = srUuidOf(env.lab)
  })
  afterAll(async () => {
    await env?.close()
  })

  it('boots a good point, waits for its guest, and leaves nothing', async () => {
    const pointId = await backup()
    const before = await settled(env.lab)
    const result = await check(pointId, 20_000)
    expect(result.status).toBe('success')
    expect(result.bootMs).toBeGreaterThanOrEqual(150)
    expect(await settled(env.lab)).toEqual(before)
  })

  it("waits for the guest's check script: its success, or its failure with the reason it wrote", async () => {
    const script = (text: string) => env.lab.guest.writeFile(disk0, '/etc/strata-lab/vm-data', text)
    const withScript = { guestCheck: true }
    await script('xo-backup-health-check=success\n')
    const good = await backup()
    const result = await healthCheckPoint(silentTask(), env.xapi, env.limits, {
      ...{ repository: env.repo, pointId: good, sr: srUuid, timeoutMs: 20_000, pollMs: 50 },
      ...withScript,
    })
    expect(result.guestCheck).toBe('success')
    await script('xo-backup-health-check=failure\nxo-backup-health-check-error=nginx does not answer\n')
    const bad = await backup()
    const before = await settled(env.lab)
    await expect(
      healthCheckPoint(silentTask(), env.xapi, env.limits, {
        ...{ repository: env.repo, pointId: bad, sr: srUuid, timeoutMs: 20_000, pollMs: 50 },
        ...withScript,
      }),
    ).rejects.toMatchObject({
      code: 'HEALTH_CHECK_FAILED',
      message: expect.stringMatching(/check script failed: nginx does not answer/),
    })
    expect(await settled(env.lab)).toEqual(before)
    await script('')
  })

  it('times out on a point whose boot sector was damaged, naming why, and leaves nothing', async () => {
    await env.lab.guest.write(disk0, 0, Buffer.alloc(512))
    const pointId = await backup()
    const before = await settled(env.lab)
    await expect(check(pointId, 1500)).rejects.toMatchObject({
      code: 'HEALTH_CHECK_TIMEOUT',
      message: expect.stringMatching(/timeout after 2 s: the guest never reported/),
    })
    expect(await settled(env.lab)).toEqual(before)
  })

  it('sweeps a check VM an interrupted check left, once its time is up or when it is its owner', async () => {
    const pointId = await backup()
    const before = await settled(env.lab)
    const controller = new AbortController()
    const task = silentTask(controller.signal)
    const running = healthCheckPoint(task, env.xapi, env.limits, {
      repository: env.repo,
      pointId,
      sr: srUuid,
      timeoutMs: 60_000,
      guestCheck: false,
      owner: 'server-1',
    })
    // Cut short as a killed process would: the check's own cleanup still runs on abort, so the
    // leftover is made by hand below, as a killed process would leave it.
    controller.abort()
    await running.catch(() => undefined)
    expect(await settled(env.lab)).toEqual(before)
    // What a process killed between the restore and the boot leaves: the tagged VM, its disks.
    const tags = healthCheckTags({ owner: 'server-1', timeoutMs: 60_000, guestCheck: false })
    const left = await restoreVm(silentTask(), env.xapi, env.limits, {
      ...{ repository: env.repo, pointId, srUuid, network: false, tag: '', tags, nameSuffix: ' (left)' },
    })
    expect(footprint(env.lab).checks).toBe(1)
    expect(await sweepHealthChecks(env.xapi, { owner: 'server-2' })).toEqual([]) // not its own, not due
    expect(footprint(env.lab).checks).toBe(1)
    const later = { now: Date.now() + 2 * 3600_000 }
    expect(await sweepHealthChecks(env.xapi, { owner: 'server-1' })).toEqual([left.vmName])
    expect(await sweepHealthChecks(env.xapi, later)).toEqual([])
    expect(await settled(env.lab)).toEqual(before)
  })
})

describe('a replication job with a health check per schedule', () => {
  let env: TwoPools
  let scratch: Scratch

  const job = () =>
    parseJob({
      id: 'repl',
      name: 'Replicas',
      kind: 'replication',
      pools: [
        { id: 'a', ...conn(env.a) },
        { id: 'b', ...conn(env.b) },
      ],
      vms: [env.vmUuid],
      targets: [{ pool: 'b', sr: srUuidOf(env.b) }],
      settings: { mode: 'delta', retries: 0 },
      // Booting is slow on a loaded machine: a long wait for the good run, a short one where it times out.
      schedules: [
        { id: 'daily', retention: { keepLast: 2 }, healthCheck: { timeout: '2m' } },
        { id: 'quick', retention: { keepLast: 2 }, healthCheck: { timeout: '3s' } },
      ],
    })
  const conn = (lab: LabPool) => ({
    url: lab.connection.url,
    user: lab.connection.user,
    password: lab.connection.password,
    fingerprint: lab.connection.fingerprint,
  })
  const run = (scheduleId: string) =>
    runJob({
      job: job(),
      scheduleId,
      dataDir: scratch.path('data'),
      signal: new AbortController().signal,
      deps: {
        connectPool: (pool, signal) => connectPool(pool, {}, signal),
        openRepository: () => Promise.reject(new Error('no repository in a replication')),
        backupVm,
        replicateVm,
        limits: () => createPoolLimits(),
        retryDelayMs: 1,
      },
    })

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    env = await startTwoPools([16])
    scratch = await scratchDir()
  })
  afterAll(async () => {
    await env?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('is green while the replica boots, orange once it does not, and leaves no check VM', async () => {
    const good = await run('daily')
    expect(good.status).toBe('success')
    expect(good.vms[0]?.replication?.replicas).toHaveLength(1)
    const before = footprint(env.b)
    await env.a.guest.write(env.disks[0]!, 0, Buffer.alloc(512))
    const bad = await run('quick')
    expect(bad.status).toBe('warning')
    expect(bad.vms[0]).toMatchObject({ status: 'warning', error: { code: 'HEALTH_CHECK_TIMEOUT' } })
    // The replica was made all the same: the check judges it, it does not undo it.
    expect(bad.vms[0]?.replication?.replicas).toHaveLength(1)
    expect(footprint(env.b).checks).toBe(0)
    // The other schedule's first run: a replica and its restore point of its own.
    expect(footprint(env.b).vms).toBe(before.vms + 2)
    const log = await readRun(runDirs(scratch.path('data')).runs, bad.runId)
    expect(JSON.stringify(log)).toMatch(/health check/)
  })
})
