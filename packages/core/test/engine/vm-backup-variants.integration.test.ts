// Snapshot variants and restores against the lab: [NOBAK] disks (ignore_vdis on 8.3, per-disk snapshots on
// 8.2), memory checkpoints, offline backups, no NBD network, CBT snapshots reduced to metadata, and
// restores of a whole VM, a disk to an SR and a disk to a VHD file, each compared byte for byte.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import {
  backupVm,
  restoreDiskToFile,
  restoreDiskToSr,
  restoreVm,
  type VmBackupSettings,
} from '../../src/engine/index.js'
import { readManifest, resolvePoint } from '../../src/repository/index.js'
import { silentTask } from '../../src/shared/index.js'
import { requireBinary } from '../../src/testing/index.js'
import {
  expectNoLeaks,
  expectPointEqualsSnapshots,
  labRef,
  startLabEnv,
  type LabEnv,
} from './lab-backup-fixture.js'

const run = promisify(execFile)
/** Calls of a method, synchronous or Async. */
const calls = (e: LabEnv, method: string): number =>
  (e.lab.calls.get(method) ?? 0) + (e.lab.calls.get(`Async.${method}`) ?? 0)
const MiB = 1024 * 1024

describe('backupVm variants and restores against the lab', () => {
  let env: LabEnv | undefined
  afterEach(async () => {
    await env?.close()
    env = undefined
  })

  const setup = async (options: Parameters<typeof startLabEnv>[0] = {}) => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    env = await startLabEnv({ vms: [{ name: 'vm-1', power: 'Running', disks: [16, 8] }], ...options })
    const vm = env.lab.ref('VM', 'vm-1')
    const disks = env.lab.guest.disks(vm)
    return { env, vm, vmUuid: String(env.lab.state.db.get('VM', vm).uuid), disks }
  }
  const backup = (e: LabEnv, vmUuid: string, o: Partial<VmBackupSettings> = {}) =>
    backupVm(silentTask(), e.xapi, e.limits, vmUuid, [{ name: 'local', repository: e.repo }], {
      runId: `run-${Math.random().toString(16).slice(2)}`,
      jobId: 'job-1',
      mode: 'delta',
      ...o,
    })
  const nobak = async (e: LabEnv, vdi: string) => e.xapi.call('VDI.set_name_label', [vdi, 'scratch [NOBAK]'])

  for (const profile of ['xcp-ng-8.3', 'xcp-ng-8.2'] as const) {
    it(`leaves [NOBAK] disks out (${profile})`, async () => {
      const { env, vmUuid, disks } = await setup({ profile })
      await nobak(env, disks[1]!)
      const first = await backup(env, vmUuid)
      const ref = await resolvePoint(env.repo, first.points[0]!.pointId)
      expect((await readManifest(env.repo, ref)).disks).toHaveLength(1)
      if (profile === 'xcp-ng-8.2') expect(first.warnings.join()).toMatch(/ignore_vdis/)
      else expect(first.warnings).toEqual([])
      await expectPointEqualsSnapshots(env, first.points[0]!.pointId)
      await env.lab.guest.writeRandomBlocks(disks[0]!, 3)
      const second = await backup(env, vmUuid)
      expect(second.full).toBe(false)
      await expectPointEqualsSnapshots(env, second.points[0]!.pointId)
      // No snapshot of the [NOBAK] disk is left behind.
      const nobakSnaps = env.lab.state.db.find('VDI', (r) => r.snapshot_of === disks[1])
      expect(nobakSnaps).toEqual([])
      await expectNoLeaks(env)
    })
  }

  it('checkpoints with memory, backs up offline and without NBD', async () => {
    const { env, vm, vmUuid, disks } = await setup({ nbd: 'none' })
    const first = await backup(env, vmUuid, { withMemory: true })
    expect(first.warnings.join()).toMatch(/NBD/)
    await expectPointEqualsSnapshots(env, first.points[0]!.pointId)
    await expectNoLeaks(env)
    await env.lab.guest.writeRandomBlocks(disks[0]!, 3)
    const second = await backup(env, vmUuid, { offline: true })
    expect(second.full).toBe(false)
    expect(env.lab.state.db.get('VM', vm).power_state).toBe('Running')
    expect(calls(env, 'VM.clean_shutdown')).toBe(1)
    await expectPointEqualsSnapshots(env, second.points[0]!.pointId)
    await expectNoLeaks(env)
  })

  it('leaves no VDI behind after memory backups, the checkpoint removed at once or by retention', async () => {
    const { env, vmUuid } = await setup()
    const vdis = () => env.lab.state.db.find('VDI', (r) => r.type !== 'cbt_metadata').map(([ref]) => ref)
    const before = vdis()
    const first = await backup(env, vmUuid, { withMemory: true, snapshotRetention: 0 })
    expect(first.warnings).toEqual([])
    expect(calls(env, 'VM.checkpoint')).toBe(1)
    expect(vdis()).toEqual(before)
    await expectNoLeaks(env, 0)
    // Kept as the next run's base, then removed by retention when a newer one is kept.
    await backup(env, vmUuid, { withMemory: true })
    const suspend = env.lab.state.db.find('VDI', (r) => r.type === 'suspend')
    expect(suspend).toHaveLength(1)
    await backup(env, vmUuid, { withMemory: true })
    expect(env.lab.state.db.has('VDI', suspend[0]![0])).toBe(false)
    await expectNoLeaks(env)
  })

  it('reduces CBT snapshots to metadata with retention 0 and still gets changed blocks', async () => {
    const { env, vmUuid, disks } = await setup()
    await backup(env, vmUuid, { snapshotRetention: 0 })
    const meta = env.lab.state.db.find('VDI', (r) => r.snapshot_of === disks[0])
    expect(meta.map(([, r]) => r.type)).toEqual(['cbt_metadata'])
    await env.lab.guest.writeRandomBlocks(disks[0]!, 2)
    const before = calls(env, 'VDI.list_changed_blocks')
    const second = await backup(env, vmUuid, { snapshotRetention: 0 })
    expect(second.full).toBe(false)
    expect(calls(env, 'VDI.list_changed_blocks')).toBe(before + 2)
    expect(second.bytesRead).toBeLessThan(8 * MiB)
    await expectNoLeaks(env, 0)
    expect(env.lab.state.db.find('VDI', (r) => r.snapshot_of === disks[0])).toHaveLength(1)
  })

  it('restores a VM (with its vTPM), a disk to an SR and a disk to a VHD file, byte for byte', async () => {
    requireBinary('qemu-img')
    const {
      env,
      vm: source,
      vmUuid,
      disks,
    } = await setup({
      vms: [{ name: 'vm-1', power: 'Halted', disks: [16, 8] }],
    })
    const vtpm = await env.xapi.call<string>('VTPM.create', [source, true])
    await env.xapi.call('VTPM.set_contents', [vtpm, Buffer.from('tpm state').toString('base64')])
    await backup(env, vmUuid)
    await env.lab.guest.writeFile(disks[0]!, '/srv/vm-1/after.txt', 'changed after the first backup\n')
    const point = (await backup(env, vmUuid)).points[0]!.pointId
    const ref = await resolvePoint(env.repo, point)
    const meta = (await readManifest(env.repo, ref)).vm.metadata as { disks: { snapshot: string }[] }
    const snapshot = (i: number) => env.lab.readDisk(labRef(env.lab, 'VDI', meta.disks[i]!.snapshot))
    const sr = String(env.lab.state.db.get('SR', env.lab.ref('SR', 'Local storage')).uuid)

    const { vmUuid: restored } = await restoreVm(silentTask(), env.xapi, env.limits, {
      repository: env.repo,
      pointId: point,
      srUuid: sr,
      nameSuffix: ' (restored)',
      start: true,
    })
    const vm = labRef(env.lab, 'VM', restored)
    const record = env.lab.state.db.get('VM', vm)
    expect(record.name_label).toBe('vm-1 (restored)')
    expect(record.power_state).toBe('Running')
    expect(record.blocked_operations).toEqual({})
    expect(record.VIFs).toHaveLength(1)
    const [restoredTpm] = record.VTPMs as string[]
    expect(await env.xapi.call('VTPM.get_contents', [restoredTpm])).toBe(
      Buffer.from('tpm state').toString('base64'),
    )
    const restoredDisks = env.lab.guest.disks(vm)
    expect(restoredDisks).toHaveLength(2)
    for (const [i, vdi] of restoredDisks.entries())
      expect((await env.lab.readDisk(vdi)).equals(await snapshot(i))).toBe(true)

    const { vdiUuid } = await restoreDiskToSr(silentTask(), env.xapi, env.limits, {
      repository: env.repo,
      pointId: point,
      disk: 1,
      srUuid: sr,
    })
    expect((await env.lab.readDisk(labRef(env.lab, 'VDI', vdiUuid))).equals(await snapshot(1))).toBe(true)

    const vhd = env.scratch.path('disk-0.vhd')
    await restoreDiskToFile(silentTask(), {
      repository: env.repo,
      pointId: point,
      disk: 0,
      path: vhd,
      format: 'vhd',
    })
    const raw = env.scratch.path('disk-0.raw')
    await run('qemu-img', ['convert', '-f', 'vpc', '-O', 'raw', vhd, raw])
    expect((await readFile(raw)).equals(await snapshot(0))).toBe(true)
    await expectNoLeaks(env)
  })
})
