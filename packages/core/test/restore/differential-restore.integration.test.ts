// Differential restore onto a lab VM's own disk: a backup, guest writes of about 1 % of the disk, then
// a restore that rewrites only what differs, found by CBT (the backup's snapshot still there) or by
// comparing the disk read over NBD with the point's chunk ids (the snapshot gone). Either way the VDI
// ends byte-identical to the point and about the share written by the guest crossed. And the refusals.
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  backupVm,
  restoreDiskToFile,
  runRootTask,
  TaskView,
  walkTasks,
  type VmBackupSettings,
} from '../../src/engine/index.js'
import { readManifest, resolvePoint } from '../../src/repository/index.js'
import {
  findInPlaceTarget,
  restoreDiskDifferential,
  restoreVmDifferential,
  type DifferentialRestoreOptions,
} from '../../src/restore/index.js'
import { silentTask } from '../../src/shared/index.js'
import { requireBinary } from '../../src/testing/index.js'
import { undoCall } from '../../src/xapi/index.js'
import { labRef, startLabEnv, type LabEnv } from '../engine/lab-backup-fixture.js'

const MiB = 1024 * 1024
const SIZE = 512 * MiB
/** The repository's chunks (startLabEnv's default). */
const CHUNK = 1 * MiB

describe('differential restore onto a lab VM disk', { timeout: 120_000 }, () => {
  let env: LabEnv
  let vm: string
  let vmUuid: string
  let disk: string
  let diskUuid: string

  beforeAll(async () => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    env = await startLabEnv({ vms: [{ name: 'app', power: 'Halted', disks: [SIZE / MiB, 8] }] })
    vm = env.lab.ref('VM', 'app')
    vmUuid = String(env.lab.state.db.get('VM', vm).uuid)
    disk = env.lab.guest.disks(vm)[0]!
    diskUuid = String(env.lab.state.db.get('VDI', disk).uuid)
  })
  afterAll(() => env?.close())

  const backup = async (): Promise<string> => {
    const settings: VmBackupSettings = { runId: `run-${Math.random()}`, jobId: 'job', mode: 'delta' }
    const result = await backupVm(
      silentTask(),
      env.xapi,
      env.limits,
      vmUuid,
      [{ name: 'local', repository: env.repo }],
      settings,
    )
    return result.points[0]!.pointId
  }
  /** About 1 % of the disk in three places, none aligned on a chunk or a VHD block. */
  const guestWrites = async (): Promise<number> => {
    const writes = [
      [5 * MiB + 12_345, 2 * MiB],
      [100 * MiB + 4096, 2.5 * MiB],
      [300 * MiB - 65_536, 700_000],
    ] as const
    for (const [offset, length] of writes) await env.lab.guest.write(disk, offset, randomBytes(length))
    return writes.reduce((n, [, length]) => n + length, 0)
  }
  const pointImage = async (pointId: string, index = 0): Promise<Buffer> => {
    const path = env.scratch.path(`point-${pointId}-${index}.raw`)
    const o = { repository: env.repo, pointId, disk: index, path, format: 'raw', overwrite: true } as const
    await restoreDiskToFile(silentTask(), o)
    return readFile(path)
  }
  const restore = async (o: Partial<DifferentialRestoreOptions> & { pointId: string }) => {
    const view = new TaskView()
    const result = await runRootTask(
      { emit: (e) => view.apply(e), signal: AbortSignal.timeout(120_000), progressIntervalMs: 0 },
      'restore',
      (task) =>
        restoreDiskDifferential(task, env.xapi, { repository: env.repo, disk: 0, vdiUuid: diskUuid, ...o }),
    )
    return { result, view }
  }
  /** The race made to happen: `vbd` unplugged and destroyed just before the next VBD.get_record is handled. */
  const vanishBeforeNextRead = (vbd: string): void =>
    env.lab.faults.beforeNext('VBD.get_record', async () => {
      if (env.lab.state.db.get('VBD', vbd).currently_attached === true)
        await env.xapi.call('VBD.unplug', [vbd])
      await env.xapi.call('VBD.destroy', [vbd])
    })
  const expectRewroteAbout = (rewritten: number, written: number): void => {
    expect(rewritten).toBeGreaterThanOrEqual(written)
    // 2 MiB VHD blocks around each unaligned write: at most 3 % of the disk plus one chunk.
    expect(rewritten).toBeLessThanOrEqual(0.03 * SIZE + CHUNK)
  }

  it('finds the changes by CBT while the backup snapshot exists, and leaves the VDI equal to the point', async () => {
    const pointId = await backup()
    const written = await guestWrites()
    expect(written / SIZE).toBeGreaterThan(0.009)
    expect((await env.lab.readDisk(disk)).equals(await pointImage(pointId))).toBe(false)
    const vdisBefore = env.lab.state.db.find('VDI', () => true).length

    const created: string[] = []
    const { result, view } = await restore({ pointId, onCreated: (o) => created.push(o.ref) })
    expect(result.path).toBe('cbt')
    expect(result.readBytes).toBe(0)
    expect(result.comparedBytes).toBe(SIZE)
    expectRewroteAbout(result.rewrittenBytes, written)
    expect((await env.lab.readDisk(disk)).equals(await pointImage(pointId))).toBe(true)
    // The snapshot taken to ask CBT was told of (for a worker's parent to remove), and is gone again.
    expect(created).toHaveLength(1)
    expect(env.lab.state.db.has('VDI', created[0]!)).toBe(false)
    expect(env.lab.state.db.find('VDI', () => true).length).toBe(vdisBefore)
    const root = view.roots[0]!
    expect(root.data).toMatchObject({
      path: 'cbt',
      comparedBytes: SIZE,
      rewrittenBytes: result.rewrittenBytes,
    })
    expect([...walkTasks(view.roots)].map((t) => t.name)).toContain('transfer')
    console.log(
      `cbt: compared ${result.comparedBytes} B, ${result.differingBytes} B differing, rewrote ${result.rewrittenBytes} B of ${written} B written`,
    )
  })

  it('compares chunk ids over NBD once the snapshot is gone, with the same result', async () => {
    const pointId = await backup()
    const ref = await resolvePoint(env.repo, pointId)
    const meta = (await readManifest(env.repo, ref)).vm.metadata as { disks: { snapshot: string }[] }
    const snapshot = labRef(env.lab, 'VDI', meta.disks[0]!.snapshot)
    await undoCall(() => env.xapi.call('VDI.destroy', [snapshot])) // once dom0 let go of it
    const written = await guestWrites()

    const { result, view } = await restore({ pointId })
    expect(result.path).toBe('compare')
    expect(result.readBytes).toBe(SIZE)
    expect(result.comparedBytes).toBe(SIZE)
    expectRewroteAbout(result.rewrittenBytes, written)
    expect((await env.lab.readDisk(disk)).equals(await pointImage(pointId))).toBe(true)
    expect(view.roots[0]!.data).toMatchObject({ path: 'compare', readBytes: SIZE })
    console.log(
      `compare: compared ${result.comparedBytes} B, read ${result.readBytes} B, ${result.differingBytes} B differing, rewrote ${result.rewrittenBytes} B of ${written} B written`,
    )

    // Nothing differs any more: a second restore reads the disk and writes nothing.
    const again = await restore({ pointId })
    expect(again.result).toMatchObject({ path: 'compare', rewrittenBytes: 0, differingBytes: 0 })

    // Without a network for NBD, the disk cannot be read to compare it: refused, nothing written.
    const { db } = env.lab.state
    const networks = db
      .find('network', () => true)
      .map(([ref, row]) => [ref, [...(row.purpose as string[])]] as const)
    for (const [ref] of networks) db.update('network', ref, { purpose: [] })
    try {
      await env.lab.guest.write(disk, 0, randomBytes(512))
      const before = await env.lab.readDisk(disk)
      await expect(restore({ pointId })).rejects.toMatchObject({
        code: 'NBD_UNAVAILABLE',
        message: expect.stringContaining(diskUuid),
      })
      expect((await env.lab.readDisk(disk)).equals(before)).toBe(true)
    } finally {
      for (const [ref, purpose] of networks) db.update('network', ref, { purpose })
    }
  })

  it('falls back to comparing, with a warning, when CBT fails, and removes the snapshot it took', async () => {
    const pointId = await backup()
    const written = await guestWrites()
    const vdisBefore = env.lab.state.db.find('VDI', () => true).length
    env.lab.faults.failMethod(
      'VDI.list_changed_blocks',
      'SR_BACKEND_FAILURE_460',
      ['', 'cbt log broken', ''],
      1,
    )
    try {
      const { result, view } = await restore({ pointId })
      expect(result.path).toBe('compare')
      expectRewroteAbout(result.rewrittenBytes, written)
      expect(view.roots[0]!.warnings.map((w) => w.message)).toEqual([
        expect.stringMatching(
          /^CBT of VDI \S+ is unusable \(.*SR_BACKEND_FAILURE_460.*\): comparing the disk instead$/,
        ),
      ])
    } finally {
      env.lab.faults.clear()
    }
    expect((await env.lab.readDisk(disk)).equals(await pointImage(pointId))).toBe(true)
    expect(env.lab.state.db.find('VDI', () => true).length).toBe(vdisBefore)
  })

  it("passes over a dom0 VBD that vanishes between the listing of the VDI's VBDs and its read", async () => {
    const pointId = await backup()
    await guestWrites()
    // An NBD connection or a transfer that just ended: dom0 still has the disk plugged, for a moment.
    const dom0 = env.lab.state.db.find('VM', (r) => r.is_control_domain === true)[0]![0]
    const args = { VM: dom0, VDI: disk, userdevice: 'autodetect', mode: 'RO', type: 'Disk' }
    const vbd = await env.xapi.call<string>('VBD.create', [{ ...args, currently_attached: true }])
    expect(env.lab.state.db.get('VDI', disk).VBDs).toContain(vbd)
    vanishBeforeNextRead(vbd)
    try {
      const { result } = await restore({ pointId })
      expect(result.path).toBe('cbt')
    } finally {
      env.lab.faults.clear()
    }
    expect(env.lab.state.db.has('VBD', vbd)).toBe(false) // the race did happen
    expect((await env.lab.readDisk(disk)).equals(await pointImage(pointId))).toBe(true)
  })

  it('refuses a VDI of another size, a VDI in use by a running VM, and a VDI that does not exist', async () => {
    const pointId = await backup()
    const other = String(env.lab.state.db.get('VDI', env.lab.guest.disks(vm)[1]!).uuid)
    await expect(restore({ pointId, vdiUuid: other })).rejects.toMatchObject({
      code: 'DISK_SIZE_MISMATCH',
      message: expect.stringContaining(other),
    })
    const missing = '00000000-0000-4000-8000-000000000000'
    await expect(restore({ pointId, vdiUuid: missing })).rejects.toMatchObject({
      code: 'VDI_NOT_FOUND',
      message: expect.stringContaining(missing),
    })
    const before = await env.lab.readDisk(disk)
    await env.xapi.call('VM.start', [vm, false, false])
    try {
      await expect(restore({ pointId })).rejects.toMatchObject({
        code: 'VDI_IN_USE_BY_VM',
        message: expect.stringContaining('app'),
      })
    } finally {
      await env.xapi.call('VM.hard_shutdown', [vm])
    }
    expect((await env.lab.readDisk(disk)).equals(before)).toBe(true)
  })
  it("rewrites a halted VM's own disks in place, and says why when it cannot", async () => {
    const pointId = await backup()
    const second = env.lab.guest.disks(vm)[1]!
    await guestWrites()
    await env.lab.guest.write(second, 1 * MiB, randomBytes(70_000))
    const ref = await resolvePoint(env.repo, pointId)
    // The VM's CD drive removed by someone else while its VBDs are read: no reason to refuse.
    const cd = env.lab.state.db.find('VBD', (r) => r.VM === vm && r.type === 'CD')[0]![0]
    vanishBeforeNextRead(cd)
    const target = await findInPlaceTarget(env.xapi, await readManifest(env.repo, ref))
    expect(env.lab.state.db.has('VBD', cd)).toBe(false) // the race did happen
    expect(target).toMatchObject({ vmUuid, vmName: 'app', disks: [{ index: 0 }, { index: 1 }] })

    const view = new TaskView()
    const result = await runRootTask(
      { emit: (e) => view.apply(e), signal: AbortSignal.timeout(120_000), progressIntervalMs: 0 },
      'restore',
      (task) => restoreVmDifferential(task, env.xapi, { repository: env.repo, pointId }),
    )
    expect(result).toMatchObject({ vmUuid, vmName: 'app' })
    expect((await env.lab.readDisk(disk)).equals(await pointImage(pointId, 0))).toBe(true)
    expect((await env.lab.readDisk(second)).equals(await pointImage(pointId, 1))).toBe(true)
    const disks = [...walkTasks(view.roots)].filter((t) => t.name === 'disk')
    expect(disks.map((t) => t.data.path)).toEqual(['cbt', 'cbt'])
    expect(view.roots[0]!.data).toMatchObject({
      rewrittenBytes: expect.any(Number),
      comparedBytes: SIZE + 8 * MiB,
    })

    await env.xapi.call('VM.start', [vm, false, false])
    try {
      await expect(findInPlaceTarget(env.xapi, await readManifest(env.repo, ref))).rejects.toMatchObject({
        code: 'VM_NOT_HALTED',
        message: expect.stringContaining("'app'"),
      })
    } finally {
      await env.xapi.call('VM.hard_shutdown', [vm])
    }
    const vbd = env.lab.state.db.find('VBD', (r) => r.VDI === second)[0]![0]
    await env.xapi.call('VBD.destroy', [vbd])
    await expect(findInPlaceTarget(env.xapi, await readManifest(env.repo, ref))).rejects.toMatchObject({
      code: 'VM_DISKS_CHANGED',
    })
  })
})
