// Every list-then-read of VBDs passes over one that vanished in between (vbdRecordsOf): the lab destroys a
// VM's CD drive just before the first VBD.get_record is handled, after the VM's VBDs were listed. A backup
// still reads the VM's disks and records its other drives; a health check's VM is still destroyed with
// its disks (a HANDLE_INVALID there used to skip the whole destroy, leaving the VM behind).
import { afterEach, describe, expect, it } from 'vitest'
import { destroyVmAndDisks } from '../../src/engine/health/destroy-vm.js'
import { backupVm } from '../../src/engine/index.js'
import { readManifest, resolvePoint } from '../../src/repository/index.js'
import { silentTask } from '../../src/shared/index.js'
import { requireBinary } from '../../src/testing/index.js'
import { vmDisks } from '../../src/xapi/index.js'
import { startLabEnv, type LabEnv } from '../engine/lab-backup-fixture.js'

describe("a VBD that vanishes while a VM's VBDs are read", () => {
  let env: LabEnv | undefined
  afterEach(async () => {
    await env?.close()
    env = undefined
  })

  /** A lab VM whose CD drive is destroyed just before the next VBD.get_record (after the listing). */
  const setup = async () => {
    for (const tool of ['openssl', 'mke2fs', 'debugfs']) requireBinary(tool)
    const e = await startLabEnv({ vms: [{ name: 'vm-1', power: 'Halted', disks: [8, 4] }] })
    env = e
    const vm = e.lab.ref('VM', 'vm-1')
    const cd = e.lab.state.db.find('VBD', (r) => r.VM === vm && r.type === 'CD')[0]![0]
    e.lab.faults.beforeNext('VBD.get_record', () => e.xapi.call('VBD.destroy', [cd]).then(() => undefined))
    return { e, vm, cd, disks: e.lab.guest.disks(vm) }
  }

  it("lists the VM's disks", async () => {
    const { e, vm, cd, disks } = await setup()
    const found = await vmDisks(e.xapi, vm)
    expect(e.lab.state.db.has('VBD', cd)).toBe(false) // the race did happen
    expect(found.map((d) => d.vdi)).toEqual(disks)
  })

  it('backs the VM up', async () => {
    const { e, vm, cd } = await setup()
    const vmUuid = String(e.lab.state.db.get('VM', vm).uuid)
    const settings = { runId: 'run-1', jobId: 'job-1', mode: 'delta' } as const
    const result = await backupVm(
      silentTask(),
      e.xapi,
      e.limits,
      vmUuid,
      [{ name: 'local', repository: e.repo }],
      settings,
    )
    expect(e.lab.state.db.has('VBD', cd)).toBe(false)
    const manifest = await readManifest(e.repo, await resolvePoint(e.repo, result.points[0]!.pointId))
    expect(manifest.disks).toHaveLength(2)
  })

  it('destroys a VM with its disks', async () => {
    const { e, vm, cd, disks } = await setup()
    await destroyVmAndDisks(e.xapi, vm, AbortSignal.timeout(30_000))
    expect(e.lab.state.db.has('VBD', cd)).toBe(false)
    expect(e.lab.state.db.has('VM', vm)).toBe(false)
    for (const vdi of disks) expect(e.lab.state.db.has('VDI', vdi)).toBe(false)
  })
})
