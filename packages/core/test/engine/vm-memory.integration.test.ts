// Backups with memory against the lab: the checkpoint's suspend VDI stored as the point's memory image
// (role 'memory', always whole, deduplicated), restored as the suspend VDI of a VM created Suspended that
// VM.resume brings back with the guest's memory at checkpoint time; restores without memory, points
// without memory, and points whose image is missing or unusable (a clear error, nothing left on the pool).
import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import {
  backupVm,
  listRestorePoints,
  restoreDiskToFile,
  restoreDiskToSr,
  restoreVm,
  type VmBackupSettings,
} from '../../src/engine/index.js'
import { PointWriter, readDiskIndex, readManifest, resolvePoint } from '../../src/repository/index.js'
import { chunkKey } from '../../src/repository/format/layout.js'
import { ID_LENGTH } from '../../src/repository/format/constants.js'
import { silentTask, type TaskContext } from '../../src/shared/index.js'
import { requireBinary } from '../../src/testing/index.js'
import { NULL_REF, callAsync, undoCall } from '../../src/xapi/index.js'
import {
  orphanSuspendVdis,
  expectNoLeaks,
  expectPointEqualsSnapshots,
  labRef,
  startLabEnv,
  type LabEnv,
} from './lab-backup-fixture.js'

const MiB = 1024 * 1024
const IMAGE = 4 * MiB
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
type Row = Record<string, unknown>

describe('backups with memory against the lab', () => {
  let env: LabEnv | undefined
  afterEach(async () => {
    await env?.close()
    env = undefined
  })

  const setup = async (power: 'Running' | 'Halted' = 'Running') => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    env = await startLabEnv({
      vms: [{ name: 'vm-1', power, disks: [16, 8] }],
      bootDelayMs: 50,
      memoryImageBytes: IMAGE,
    })
    const vm = env.lab.ref('VM', 'vm-1')
    await new Promise((r) => setTimeout(r, 300)) // the guest boots and reports
    return { env, vm, vmUuid: String(env.lab.state.db.get('VM', vm).uuid) }
  }
  const backup = (e: LabEnv, vmUuid: string, o: Partial<VmBackupSettings> = {}) =>
    backupVm(silentTask(), e.xapi, e.limits, vmUuid, [{ name: 'local', repository: e.repo }], {
      runId: `run-${Math.random().toString(16).slice(2)}`,
      jobId: 'job-1',
      mode: 'delta',
      ...o,
    })
  const restore = (e: LabEnv, pointId: string, o: { start?: boolean; withMemory?: boolean } = {}) =>
    restoreVm(silentTask(), e.xapi, e.limits, {
      repository: e.repo,
      pointId,
      srUuid: String(e.lab.state.db.find('SR', (r) => r.name_label === 'Local storage')[0]?.[1].uuid),
      ...o,
    })
  const vmRow = (e: LabEnv, uuid: string): Row => e.lab.state.db.get('VM', labRef(e.lab, 'VM', uuid))
  /** What the pool holds besides dom0 and templates: VMs and VDIs by ref. */
  const inventory = (e: LabEnv) => ({
    vms: e.lab.state.db.find('VM', (r) => r.is_control_domain !== true && r.is_a_template !== true).length,
    vdis: e.lab.state.db.find('VDI', () => true).map(([ref]) => ref),
  })

  it('stores the checkpoint memory image; the restored VM is Suspended and resumes the checkpoint state', async () => {
    const { env, vm, vmUuid } = await setup()
    await env.xapi.call('lab.guest_write_vm_data', [vm, 'app-state', 'warm'])
    const first = await backup(env, vmUuid, { withMemory: true })
    expect(first.warnings).toEqual([])
    const pointId = first.points[0]!.pointId
    const manifest = await readManifest(env.repo, await resolvePoint(env.repo, pointId))
    expect(manifest.disks.map((d) => [d.name, d.role])).toEqual([
      [expect.any(String), undefined],
      [expect.any(String), undefined],
      ['memory image', 'memory'],
    ])
    const meta = manifest.vm.metadata as {
      withMemory: boolean
      memory: { disk: number; snapshot: string; vdi: Row }
    }
    expect(meta).toMatchObject({ withMemory: true, memory: { disk: 2, vdi: { type: 'suspend' } } })
    // The stored image is the checkpoint's suspend VDI, byte for byte; the disks are the snapshot's.
    const checkpoint = env.lab.state.db.find('VM', (r) => r.snapshot_of === vm)[0]![1]
    const image = await env.lab.readDisk(String(checkpoint.suspend_VDI))
    expect(meta.memory.snapshot).toBe(env.lab.state.db.get('VDI', String(checkpoint.suspend_VDI)).uuid)
    const path = env.scratch.path('memory.raw')
    await restoreDiskToFile(silentTask(), { repository: env.repo, pointId, disk: 2, path, format: 'raw' })
    expect(sha(await readFile(path))).toBe(sha(image))
    // Restored alone into an SR, the image is a plain VDI named after it.
    const sr = String(env.lab.state.db.get('SR', env.lab.ref('SR', 'Local storage')).uuid)
    const loose = await restoreDiskToSr(silentTask(), env.xapi, env.limits, {
      repository: env.repo,
      pointId,
      disk: 2,
      srUuid: sr,
    })
    const looseRef = labRef(env.lab, 'VDI', loose.vdiUuid)
    expect(env.lab.state.db.get('VDI', looseRef)).toMatchObject({ name_label: 'memory image', type: 'user' })
    expect(sha(await env.lab.readDisk(looseRef))).toBe(sha(image))
    await undoCall(() => env.xapi.call('VDI.destroy', [looseRef])) // once the import's dom0 VBD lets go
    await expectPointEqualsSnapshots(env, pointId)
    expect((await listRestorePoints(env.repo, vmUuid)).map((p) => p.withMemory)).toEqual([true])
    await expectNoLeaks(env)

    // The guest moves on after the checkpoint; the restore brings back what it was then.
    await env.xapi.call('lab.guest_write_vm_data', [vm, 'app-state', 'cold'])
    const restored = await restore(env, pointId)
    expect(restored.withMemory).toBe(true)
    const row = vmRow(env, restored.vmUuid)
    expect(row.power_state).toBe('Suspended')
    const suspendVdi = String(row.suspend_VDI)
    expect(suspendVdi).not.toBe(NULL_REF)
    expect(env.lab.state.db.get('VDI', suspendVdi).type).toBe('suspend')
    expect(sha(await env.lab.readDisk(suspendVdi))).toBe(sha(image))
    const ref = labRef(env.lab, 'VM', restored.vmUuid)
    const start = await callAsync(env.xapi, 'VM.start', [ref, false, false]).catch((e: unknown) => e)
    expect(start).toMatchObject({ code: 'VM_BAD_POWER_STATE' })
    await callAsync(env.xapi, 'VM.resume', [ref, false, false])
    expect(vmRow(env, restored.vmUuid).power_state).toBe('Running')
    const resumed = env.lab.resumedMemory(ref)
    expect(resumed).toMatchObject({ sha256: sha(image), size: IMAGE })
    expect(resumed?.header).toMatchObject({ vm: vmUuid, vmData: { 'app-state': 'warm' } })
  })

  it('resumes at once with start, restores halted without memory, and keeps the image whole in a delta', async () => {
    const { env, vm, vmUuid } = await setup()
    const first = await backup(env, vmUuid, { withMemory: true })
    const [disk] = env.lab.guest.disks(vm)
    await env.lab.guest.writeRandomBlocks(disk!, 2)
    const second = await backup(env, vmUuid, { withMemory: true })
    expect(second.full).toBe(false)
    const manifest = await readManifest(env.repo, await resolvePoint(env.repo, second.points[0]!.pointId))
    // The disks are read as deltas; the new image is read and stored whole (it is all new random bytes).
    expect(second.bytesRead).toBeGreaterThanOrEqual(IMAGE)
    expect(manifest.disks[2]).toMatchObject({ role: 'memory', size: IMAGE, newChunks: IMAGE / MiB })
    await expectPointEqualsSnapshots(env, second.points[0]!.pointId)

    const resumed = await restore(env, second.points[0]!.pointId, { start: true })
    expect(vmRow(env, resumed.vmUuid)).toMatchObject({ power_state: 'Running', suspend_VDI: NULL_REF })
    expect(env.lab.resumedMemory(labRef(env.lab, 'VM', resumed.vmUuid))?.header.vm).toBe(vmUuid)

    const before = inventory(env).vdis.length
    const halted = await restore(env, first.points[0]!.pointId, { withMemory: false })
    expect(halted.withMemory).toBe(false)
    expect(vmRow(env, halted.vmUuid)).toMatchObject({ power_state: 'Halted', suspend_VDI: NULL_REF })
    expect(inventory(env).vdis.length).toBe(before + 2) // its two disks, no image
    await callAsync(env.xapi, 'VM.start', [labRef(env.lab, 'VM', halted.vmUuid), false, false])
    expect(vmRow(env, halted.vmUuid).power_state).toBe('Running')
  })

  it("reads a suspended VM's unchanged image whole at every run but stores its chunks once", async () => {
    const { env, vm, vmUuid } = await setup()
    await callAsync(env.xapi, 'VM.suspend', [vm])
    const image = sha(await env.lab.readDisk(String(env.lab.state.db.get('VM', vm).suspend_VDI)))
    const first = await backup(env, vmUuid, { withMemory: true })
    const second = await backup(env, vmUuid, { withMemory: true })
    expect(second.bytesRead).toBeGreaterThanOrEqual(IMAGE)
    const memoryDisk = async (pointId: string) =>
      (await readManifest(env.repo, await resolvePoint(env.repo, pointId))).disks[2]!
    expect(await memoryDisk(first.points[0]!.pointId)).toMatchObject({
      role: 'memory',
      newChunks: IMAGE / MiB,
    })
    expect(await memoryDisk(second.points[0]!.pointId)).toMatchObject({ role: 'memory', newChunks: 0 })
    const restored = await restore(env, second.points[0]!.pointId, { start: true })
    expect(env.lab.resumedMemory(labRef(env.lab, 'VM', restored.vmUuid))?.sha256).toBe(image)
    // Like xapi, the lab destroys a resumed image once the import's dom0 VBD has let go of it.
    const deadline = Date.now() + 5000
    while (orphanSuspendVdis(env).length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100))
    await expectNoLeaks(env)
  })

  it('a failed run leaves no image behind; an interrupted one resumes from its checkpoint and its image', async () => {
    const { env, vmUuid } = await setup()
    env.lab.faults.failHttp('/export_raw_vdi', { kind: 'garbage' })
    await expect(backup(env, vmUuid, { withMemory: true })).rejects.toMatchObject({
      code: expect.any(String),
    })
    env.lab.faults.clear()
    await expectNoLeaks(env, 0)
    const abort = new AbortController()
    const task: TaskContext = {
      ...silentTask(abort.signal),
      child: (_n, fn) => fn(task),
      progress: () => abort.abort(),
    }
    const interrupted = backupVm(
      task,
      env.xapi,
      env.limits,
      vmUuid,
      [{ name: 'local', repository: env.repo }],
      {
        runId: 'run-interrupted',
        jobId: 'job-1',
        mode: 'delta',
        withMemory: true,
      },
    )
    await expect(interrupted).rejects.toMatchObject({ code: 'ABORTED' })
    // The kept checkpoint holds the memory of the interrupted attempt: the next one stores that image.
    const snapshots = env.lab.state.db.find('VM', (r) => r.is_a_snapshot === true)
    expect(snapshots).toHaveLength(1)
    const kept = snapshots[0]![1]
    const image = sha(await env.lab.readDisk(String(kept.suspend_VDI)))
    const checkpoints =
      (env.lab.calls.get('VM.checkpoint') ?? 0) + (env.lab.calls.get('Async.VM.checkpoint') ?? 0)
    const resumed = await backup(env, vmUuid, { withMemory: true })
    expect((env.lab.calls.get('VM.checkpoint') ?? 0) + (env.lab.calls.get('Async.VM.checkpoint') ?? 0)).toBe(
      checkpoints,
    )
    const pointId = resumed.points[0]!.pointId
    const path = env.scratch.path('resumed-memory.raw')
    await restoreDiskToFile(silentTask(), { repository: env.repo, pointId, disk: 2, path, format: 'raw' })
    expect(sha(await readFile(path))).toBe(image)
    await expectNoLeaks(env)
  })

  it('a point without memory restores halted (a halted VM, or a job without the option)', async () => {
    const { env, vm, vmUuid } = await setup('Halted')
    const ofHalted = await backup(env, vmUuid, { withMemory: true })
    expect(ofHalted.warnings.join()).toMatch(/no memory in this backup/)
    await callAsync(env.xapi, 'VM.start', [vm, false, false])
    const plain = await backup(env, vmUuid)
    for (const result of [ofHalted, plain]) {
      const pointId = result.points[0]!.pointId
      const manifest = await readManifest(env.repo, await resolvePoint(env.repo, pointId))
      expect(manifest.disks.map((d) => d.role)).toEqual([undefined, undefined])
      expect(manifest.vm.metadata).toMatchObject({ withMemory: false })
      const restored = await restore(env, pointId)
      expect(restored.withMemory).toBe(false)
      expect(vmRow(env, restored.vmUuid)).toMatchObject({ power_state: 'Halted', suspend_VDI: NULL_REF })
    }
    expect((await listRestorePoints(env.repo, vmUuid)).map((p) => p.withMemory)).toEqual([false, false])
  })

  it('refuses a missing or unusable memory image with a clear error and leaves nothing on the pool', async () => {
    const { env, vmUuid } = await setup()
    const { points } = await backup(env, vmUuid, { withMemory: true })
    const good = await resolvePoint(env.repo, points[0]!.pointId)
    const manifest = await readManifest(env.repo, good)
    const meta = manifest.vm.metadata as Record<string, unknown> & { disks: unknown[] }
    const writePoint = async (metadata: unknown, image: Buffer | undefined) => {
      const point = await PointWriter.begin(env.repo, { vm: vmUuid, metadata })
      await point.openDisk('root', 1 * MiB).putChunk(0, Buffer.alloc(MiB, 7))
      if (image !== undefined)
        await point.openDisk('memory image', image.length, -1, 'memory').putChunk(0, image)
      return (await point.commit()).pointId
    }
    const empty = inventory(env)

    // The records name an image the manifest does not hold: refused before anything is made.
    const noImage = await writePoint(
      { ...meta, disks: [meta.disks[0]], memory: { ...(meta.memory as object), disk: 1 } },
      undefined,
    )
    await expect(restore(env, noImage)).rejects.toMatchObject({
      code: 'RESTORE_NO_MEMORY_IMAGE',
      message: expect.stringContaining(noImage),
    })
    expect(inventory(env)).toEqual(empty)

    // The image's chunks are gone from the repository: the restore fails, what it made is removed.
    const index = await readDiskIndex(env.repo, manifest.disks[2]!.index)
    for (let i = 0; i < index.ids.length; i += ID_LENGTH)
      await env.repo.store.delete(chunkKey(Buffer.from(index.ids.subarray(i, i + ID_LENGTH)).toString('hex')))
    await expect(restore(env, points[0]!.pointId)).rejects.toMatchObject({ code: 'CHUNK_MISSING' })
    expect(inventory(env)).toEqual(empty)

    // An image the host cannot resume from: started, the restore fails and removes the VM and its VDIs.
    const garbage = await writePoint(
      { ...meta, disks: [meta.disks[0]], memory: { ...(meta.memory as object), disk: 1 } },
      Buffer.alloc(MiB, 1),
    )
    const error = await restore(env, garbage, { start: true }).catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'RESTORE_RESUME_FAILED',
      message: expect.stringMatching(/without memory/),
    })
    expect((error as Error).cause).toMatchObject({ code: 'INTERNAL_ERROR' })
    expect(inventory(env)).toEqual(empty)
    // Without memory, the same point restores (halted).
    const halted = await restore(env, garbage, { withMemory: false })
    expect(vmRow(env, halted.vmUuid).power_state).toBe('Halted')
  })
})
