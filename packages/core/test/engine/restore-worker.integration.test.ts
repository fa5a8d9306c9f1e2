// Restores in worker processes, against the lab pool with the real effects: a VM and a disk restored with
// their task events streamed to the parent; a cancel that the worker undoes itself; and a worker that
// dies mid-transfer (SIGKILL, or a fatal error injected through engine/testing/) whose half-restored VM
// and VDI the parent removes, the run ending interrupted with the reason.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { destroyVm } from '../../src/xapi/index.js'
import {
  backupVm,
  connectPool,
  createPoolLimits,
  parseJob,
  readRun,
  runDirs,
  runJob,
  runRestoreInWorker,
  type RestoreOrder,
  type TaskEvent,
} from '../../src/engine/index.js'
import { runRestoreInFaultyWorker } from '../../src/engine/testing/fake-worker.js'
import { requireBinary } from '../../src/testing/index.js'
import { expectNoLeaks, startLabEnv, type LabEnv } from './lab-backup-fixture.js'

const MiB = 1024 * 1024

describe('restores in worker processes', () => {
  let env: LabEnv
  let pointId: string
  let order: RestoreOrder
  const counts = () => ({
    vms: env.lab.state.db.find('VM', (r) => r.is_control_domain !== true).length,
    vdis: env.lab.state.db.table('VDI').size,
  })
  let before: ReturnType<typeof counts>

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs', 'node']) requireBinary(tool)
    env = await startLabEnv({ vms: [{ name: 'web-01', power: 'Running', tags: ['prod'], disks: [16] }] })
    const limits = createPoolLimits()
    const pool = { id: 'lab', url: env.lab.url, user: env.lab.user, fingerprint: env.lab.fingerprint }
    const run = await runJob({
      job: parseJob({
        id: 'j',
        pools: [pool],
        repositories: [{ name: 'r', location: 'unused' }],
        vms: ['web-01'],
      }),
      dataDir: env.scratch.path('data'),
      signal: AbortSignal.timeout(120_000),
      deps: {
        connectPool: (p, signal) => connectPool(p, { STRATA_XAPI_PASSWORD: env.lab.password }, signal),
        openRepository: async () => env.repo,
        backupVm,
        limits: () => limits,
      },
    })
    pointId = run.vms[0]!.result!.points[0]!.pointId
    order = {
      kind: 'vm',
      pool: { ...pool, password: env.lab.password },
      repository: { name: 'r', location: env.scratch.path('repo') },
      pointId,
      srUuid: 'Local storage',
      facts: { jobName: 'restore of web-01' },
    }
    before = counts()
  })
  afterEach(() => env.lab.faults.clear())
  afterAll(() => env?.close())

  const common = () => ({ dataDir: env.scratch.path('data'), signal: AbortSignal.timeout(120_000) })
  const root = (runId: string) => readRun(runDirs(env.scratch.path('data')).runs, runId)
  /** An upload that never ends: the restore stays mid-transfer until it is stopped. */
  const stallImports = () => env.lab.faults.failHttp('/import_raw_vdi', { kind: 'stall', afterBytes: MiB })
  const firstProgress = (then: () => void) => {
    let done = false
    return (e: TaskEvent) => {
      if (e.type === 'progress' && !done) {
        done = true
        then()
      }
    }
  }

  it('restores a VM in a worker, streaming its task tree to the parent', async () => {
    const events: TaskEvent[] = []
    let pid = 0
    const result = await runRestoreInWorker({
      ...common(),
      order,
      onStart: (info) => (pid = info.pid),
      onEvent: (e) => events.push(e),
    })
    expect(result).toMatchObject({ status: 'success', restored: { vmUuid: expect.any(String) } })
    const { vmUuid, vmName } = result.restored as { vmUuid: string; vmName: string }
    expect(vmName).toMatch(/^web-01 \(restored /)
    expect(events.filter((e) => e.type === 'start').map((e) => (e as { name: string }).name)).toEqual([
      'restore',
      'transfer',
    ])
    const tree = await root(result.runId)
    expect(tree).toMatchObject({
      name: 'restore',
      status: 'success',
      data: { pid, vmUuid, jobName: 'restore of web-01' },
    })
    expect(pid).not.toBe(process.pid)
    expect(tree.children[0]).toMatchObject({
      name: 'transfer',
      progress: { done: 16 * MiB, total: 16 * MiB },
    })
    await expectNoLeaks(env) // waits out the transfer's dom0 VBD, which holds the VDI a moment
    await destroyVm(env.xapi, env.lab.ref('VM', vmName))
    expect(counts()).toEqual(before)
  })

  it('restores a disk into a new VDI in a worker', async () => {
    const result = await runRestoreInWorker({
      ...common(),
      order: { ...order, kind: 'disk', disk: 0 },
    })
    expect(result).toMatchObject({ status: 'success', restored: { vdiUuid: expect.any(String) } })
    const { vdiUuid } = result.restored as { vdiUuid: string }
    const vdi = env.lab.state.db.find('VDI', (r) => r.uuid === vdiUuid)
    expect(vdi).toHaveLength(1)
    expect((await root(result.runId)).data).toMatchObject({ vdiUuid })
    await expectNoLeaks(env)
    await env.xapi.call('VDI.destroy', [vdi[0]![0]])
    expect(counts()).toEqual(before)
  })

  it('a cancelled restore: the worker removes what it created and the run ends interrupted', async () => {
    stallImports()
    const controller = new AbortController()
    const result = await runRestoreInWorker({
      ...common(),
      signal: controller.signal,
      order,
      onEvent: firstProgress(() => controller.abort(new Error('cancelled by the test'))),
    })
    expect(result).toMatchObject({ status: 'interrupted' })
    const tree = await root(result.runId)
    expect(tree.status).toBe('interrupted')
    expect(tree.infos).toEqual([]) // the worker undid its work: the parent had nothing to remove
    expect(counts()).toEqual(before)
    await expectNoLeaks(env)
  })

  it('a worker killed mid-transfer: the parent removes the VM and VDI it left, the run is interrupted', async () => {
    stallImports()
    let started = { pid: 0, runId: '' }
    const killed = runRestoreInWorker({
      ...common(),
      order,
      xapi: () => env.xapi,
      onStart: (info) => (started = info),
      onEvent: firstProgress(() => process.kill(started.pid, 'SIGKILL')),
    })
    await expect(killed).rejects.toMatchObject({
      code: 'WORKER_EXITED',
      message: expect.stringMatching(
        /the worker of the restore of point '.+' stopped \(SIGKILL\) during run /,
      ),
    })
    await expectLeftoversRemoved(started.runId)
  })

  it('a fatal error in the worker (injected): the parent removes what it left, the run is interrupted', async () => {
    stallImports()
    let runId = ''
    const crashed = runRestoreInFaultyWorker({
      ...common(),
      order,
      fatal: 'transfer',
      xapi: () => env.xapi,
      onStart: (info) => (runId = info.runId),
    })
    await expect(crashed).rejects.toMatchObject({
      code: 'WORKER_EXITED',
      message: expect.stringContaining('stopped (exit code 1)'),
    })
    await expectLeftoversRemoved(runId)
  })

  /** The run's log: interrupted by the worker's end, naming what the parent removed; the lab clean. */
  async function expectLeftoversRemoved(runId: string): Promise<void> {
    expect(counts()).toEqual(before)
    await expectNoLeaks(env)
    const tree = await root(runId)
    expect(tree).toMatchObject({ status: 'interrupted', error: { code: 'WORKER_EXITED' } })
    expect(tree.infos.map((i) => i.message)).toEqual([
      expect.stringMatching(/^removed what the restore had created: VM OpaqueRef:\S+, VDI OpaqueRef:\S+$/),
    ])
  }
})
