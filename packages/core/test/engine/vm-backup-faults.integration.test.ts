// Per-VM backups into an S3 repository (Ceph radosgw) while the lab misbehaves: dropped NBD connections,
// a transfer task failing after its HTTP 200, VDI_IN_USE after NBD disconnects, expired sessions, a failing
// call and a cancelled run. Each ends recovered (with a warning where a fallback happened) or in a typed
// failure, every point equals its snapshot, and nothing is left on the pool.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { backupVm, type VmBackupResult, type VmBackupSettings } from '../../src/engine/index.js'
import { silentTask, type TaskContext } from '../../src/shared/index.js'
import { requireBinary } from '../../src/testing/index.js'
import { expectNoLeaks, expectPointEqualsSnapshots, startLabEnv, type LabEnv } from './lab-backup-fixture.js'

describe('backupVm into S3 with faults', () => {
  let env: LabEnv
  let vmUuid: string
  let disks: string[]
  const backup = (o: Partial<VmBackupSettings> = {}, task: TaskContext = silentTask()) =>
    backupVm(task, env.xapi, env.limits, vmUuid, [{ name: 's3', repository: env.repo }], {
      runId: `run-${Math.random().toString(16).slice(2)}`,
      jobId: 'job-s3',
      mode: 'delta',
      ...o,
    })
  const verified = async (result: VmBackupResult) => {
    await expectPointEqualsSnapshots(env, result.points[0]!.pointId)
    await expectNoLeaks(env, 1)
    env.lab.faults.clear()
  }
  const calls = (method: string): number =>
    (env.lab.calls.get(method) ?? 0) + (env.lab.calls.get(`Async.${method}`) ?? 0)
  const activity = () => env.lab.guest.writeRandomBlocks(disks[0]!, 4)

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    const s3 = inject('s3')
    if (s3 === undefined) throw new Error('no S3 server from the global setup')
    env = await startLabEnv({
      vms: [{ name: 'vm-s3', power: 'Running', disks: [32] }],
      s3,
      dom0DetachMs: 800,
      chunkSize: 2 * 1024 * 1024,
    })
    const vm = env.lab.ref('VM', 'vm-s3')
    vmUuid = String(env.lab.state.db.get('VM', vm).uuid)
    disks = env.lab.guest.disks(vm)
  })
  afterAll(async () => {
    await env?.close()
  })

  it('makes a full then an incremental backup in S3', async () => {
    const first = await backup()
    expect(first.full).toBe(true)
    await verified(first)
    await activity()
    const second = await backup()
    expect(second.full).toBe(false)
    expect(second.warnings).toEqual([])
    await verified(second)
  })

  it('recovers from NBD connections dropped mid-transfer', async () => {
    await activity()
    env.lab.faults.nbdDropAfterBytes = 3 * 1024 * 1024
    await verified(await backup({ changedBlocks: 'full' }))
  })

  it('falls back with a warning when the export task fails after its HTTP 200', async () => {
    await activity()
    env.lab.faults.failHttp('/export_raw_vdi', { kind: 'task-failure', code: 'VDI_IO_ERROR' })
    const result = await backup({ preferNbd: false })
    expect(result.warnings.join('\n')).toMatch(/cbt failed .*falling back to vhd-bat/)
    await verified(result)
  })

  it('waits out VDI_IN_USE after NBD disconnects when reducing snapshots to metadata', async () => {
    await activity()
    env.lab.faults.failMethod('VDI.data_destroy', 'VDI_IN_USE', ['OpaqueRef:x', 'data_destroy'], 2)
    const result = await backup({ snapshotRetention: 0 })
    expect(result.points).toHaveLength(1) // its snapshot is now metadata only: nothing to compare with
    await expectNoLeaks(env, 0)
    env.lab.faults.clear()
    await activity()
    await verified(await backup()) // back to retention 1, CBT from the metadata snapshot
  })

  it('survives a session expiry in the middle of a transfer', async () => {
    await activity()
    let expired = false
    const task: TaskContext = {
      ...silentTask(),
      child: (_name, fn) => fn(task),
      progress: () => {
        if (!expired) env.lab.expireSessions()
        expired = true
      },
    }
    const result = await backup({ changedBlocks: 'full' }, task)
    expect(expired).toBe(true)
    await verified(result)
  })

  it('fails cleanly with a typed error and leaves nothing behind', async () => {
    await activity()
    env.lab.faults.failMethod('VDI.list_changed_blocks', 'SR_BACKEND_FAILURE_460', [], 5)
    await expect(backup({ changedBlocks: 'cbt' })).rejects.toMatchObject({ code: 'SR_BACKEND_FAILURE_460' })
    await expectNoLeaks(env, 1)
    env.lab.faults.clear()
    env.lab.faults.failHttp('/export_raw_vdi', { kind: 'garbage' })
    await expect(backup({ changedBlocks: 'vhd-stream' })).rejects.toMatchObject({
      code: expect.stringMatching(/^(XAPI_|VHD_|SR_BACKEND_FAILURE)/),
    })
    await expectNoLeaks(env, 1)
    env.lab.faults.clear()
    const abort = new AbortController()
    const task: TaskContext = {
      ...silentTask(abort.signal),
      child: (_n, fn) => fn(task),
      progress: () => abort.abort(),
    }
    await expect(backup({ changedBlocks: 'full' }, task)).rejects.toMatchObject({ code: 'ABORTED' })
    // The interrupted run keeps its snapshot; the next attempt resumes from it instead of snapshotting.
    const snapshots = env.lab.state.db.find('VM', (r) => r.is_a_snapshot === true)
    expect(snapshots).toHaveLength(2)
    const taken = calls('VM.snapshot')
    const resumed = await backup()
    expect(calls('VM.snapshot')).toBe(taken)
    expect(resumed.full).toBe(false)
    await verified(resumed) // the chain still works after all that
  })
})
