// A restore must not change what the next backup does: the restored VM is named after its source and the
// point's date and tagged, so a smart job still backs up one VM and an explicit list still names one VM.
// Against the lab pool, with the run's real effects (XAPI sessions, a local repository, the data path).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  backupVm,
  connectPool,
  createPoolLimits,
  parseJob,
  restoreVm,
  runJob,
  runRootTask,
  TaskView,
  walkTasks,
  type RunDeps,
} from '../../src/engine/index.js'
import { requireBinary } from '../../src/testing/index.js'
import { labRef, startLabEnv, type LabEnv } from './lab-backup-fixture.js'

const MiB = 1024 * 1024

describe('a restore, then the next run of the job', () => {
  let env: LabEnv
  const limits = createPoolLimits()

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs']) requireBinary(tool)
    env = await startLabEnv({
      vms: [
        { name: 'web-01', power: 'Running', tags: ['prod'], disks: [32] },
        { name: 'other', power: 'Running', tags: [], disks: [8] },
      ],
    })
  })
  afterAll(() => env?.close())

  const deps = (): RunDeps => ({
    connectPool: (pool, signal) => connectPool(pool, { STRATA_XAPI_PASSWORD: env.lab.password }, signal),
    openRepository: async () => env.repo,
    backupVm,
    limits: () => limits,
    retryDelayMs: 10,
  })
  const run = (id: string, vms: unknown) =>
    runJob({
      job: parseJob({
        id,
        pools: [{ id: 'lab', url: env.lab.url, user: env.lab.user, fingerprint: env.lab.fingerprint }],
        repositories: [{ name: 'local', location: 'unused' }],
        vms,
      }),
      dataDir: env.scratch.path('data'),
      signal: AbortSignal.timeout(120_000),
      deps: deps(),
    })

  it('names and tags the restored VM, and the next runs still back up one VM', async () => {
    const first = await run('smart', { tags: ['prod'] })
    expect(first.vms.map((v) => [v.name, v.status])).toEqual([['web-01', 'success']])
    const pointId = first.vms[0]!.result!.points[0]!.pointId

    const view = new TaskView()
    const { vmUuid, vmName } = await runRootTask(
      { emit: (e) => view.apply(e), signal: AbortSignal.timeout(120_000), progressIntervalMs: 0 },
      'restore',
      (task) => restoreVm(task, env.xapi, limits, { repository: env.repo, pointId, srUuid: 'Local storage' }),
    )
    const record = env.lab.state.db.get('VM', labRef(env.lab, 'VM', vmUuid))
    expect(vmName).toMatch(/^web-01 \(restored \d{4}-\d\d-\d\d \d\d:\d\d\)$/)
    expect(record.name_label).toBe(vmName)
    expect(record.tags).toEqual(['prod', 'restored from backup'])
    expect(view.roots[0]!.data).toMatchObject({ vmUuid, vmName })
    // The rate counts the disk restored (32 MiB), not only its non-zero bytes.
    const transfer = [...walkTasks(view.roots)].find((n) => n.name === 'transfer')!
    expect(transfer.progress).toMatchObject({ done: 32 * MiB, total: 32 * MiB })
    expect(transfer.data).toMatchObject({ size: 32 * MiB, dataBytes: expect.any(Number) })
    expect(Number(transfer.data.dataBytes) + Number(transfer.data.zeroBytes)).toBe(32 * MiB)

    const next = await run('smart', { tags: ['prod'] })
    expect(next.status).toBe('success')
    expect(next.vms.map((v) => v.name)).toEqual(['web-01'])
    const explicit = await run('explicit', ['web-01'])
    expect(explicit.status).toBe('success')
    expect(explicit.vms.map((v) => [v.name, v.status])).toEqual([['web-01', 'success']])
    const both = await run('with-restored', { tags: ['prod'], includeRestored: true })
    expect(both.vms.map((v) => v.name).sort()).toEqual(['web-01', vmName])
  })

  it('refuses an unknown SR with the SRs of the pool, by name and uuid', async () => {
    const [point] = (await run('sr', ['other'])).vms[0]!.result!.points
    const sr = String(env.lab.state.db.get('SR', env.lab.ref('SR', 'Local storage')).uuid)
    const restore = runRootTask({ emit: () => {}, signal: AbortSignal.timeout(60_000) }, 'restore', (task) =>
      restoreVm(task, env.xapi, limits, { repository: env.repo, pointId: point!.pointId, srUuid: 'nas' }),
    )
    await expect(restore).rejects.toMatchObject({
      code: 'SR_NOT_FOUND',
      message: expect.stringContaining(
        `no SR 'nas' on pool ${env.xapi.url.host}; its SRs: 'Local storage' (${sr})`,
      ),
    })
    expect(env.lab.vmNames().filter((n) => n.startsWith('other ('))).toEqual([]) // nothing was created
  })
})
