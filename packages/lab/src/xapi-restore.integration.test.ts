// Rebuilding a VM from saved records (xapi.md §2.3) through the client, its disks uploaded with
// /import_raw_vdi (through a 302), and a slow host.
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  XapiClient,
  callAsync,
  createVbd,
  createVdi,
  createVif,
  createVm,
  importVdi,
  snapshotVm,
  type XapiRecord,
} from '@strata/core/xapi'
import { requireBinary } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'

describe('restore: a VM rebuilt from saved records', () => {
  let lab: LabPool
  let client: XapiClient

  beforeAll(async () => {
    requireBinary('mke2fs')
    lab = await LabPool.start({
      hosts: 2,
      authFailureDelayMs: 10,
      nbd: false,
      vms: [{ name: 'db-01', power: 'Halted', tags: ['prod'], disks: [4] }],
    })
    client = new XapiClient(lab.connection)
  })
  afterAll(async () => {
    await client?.close()
    await lab?.close()
  })

  it('creates the VM, its disk (uploaded through a 302), VBD and VIF from the saved records', async () => {
    const source = lab.ref('VM', 'db-01')
    const saved = await client.call<XapiRecord>('VM.get_record', [source])
    const [sr] = await client.call<string[]>('SR.get_all', [])
    const vm = await createVm(client, saved, { name_label: 'db-01 (restored)' })
    for (const vbdRef of saved.VBDs as string[]) {
      const vbd = await client.call<XapiRecord>('VBD.get_record', [vbdRef])
      if (vbd.type !== 'Disk') {
        await createVbd(client, vm, 'OpaqueRef:NULL', vbd)
        continue
      }
      const vdiRecord = await client.call<XapiRecord>('VDI.get_record', [vbd.VDI])
      const vdi = await createVdi(client, vdiRecord, sr!)
      const bytes = await lab.state.disks.read(String(vbd.VDI), 0, Number(vdiRecord.virtual_size))
      lab.faults.failHttp('/import_raw_vdi', { kind: 'redirect' })
      await importVdi(
        client,
        vdi,
        { open: () => Readable.from([bytes]), length: bytes.length },
        { format: 'raw' },
      )
      expect((await lab.state.disks.read(vdi, 0, bytes.length)).equals(bytes)).toBe(true)
      await createVbd(client, vm, vdi, vbd)
    }
    for (const vifRef of saved.VIFs as string[]) {
      const vif = await client.call<XapiRecord>('VIF.get_record', [vifRef])
      await createVif(client, vm, String(vif.network), vif, { keepMac: true })
    }
    const restored = await client.call<XapiRecord>('VM.get_record', [vm])
    expect(restored).toMatchObject({
      name_label: 'db-01 (restored)',
      tags: ['prod'],
      bios_strings: saved.bios_strings,
      is_a_template: false,
    })
    expect((restored.VBDs as string[]).length).toBe((saved.VBDs as string[]).length)
    expect((restored.other_config as Record<string, string>).mac_seed).toBe(
      (saved.other_config as Record<string, string>).mac_seed,
    )
    await client.call('VM.start', [vm, false, false])
    expect(await client.call('VM.get_power_state', [vm])).toBe('Running')
  })

  it('keeps a VTPM and its contents through a snapshot and a rebuild', async () => {
    const source = lab.ref('VM', 'db-01')
    const vtpm = await client.call<string>('VTPM.create', [source, true])
    await client.call('VTPM.set_contents', [vtpm, 'dHBtLXN0YXRl'])
    expect(await client.call('VTPM.get_record', [vtpm])).not.toHaveProperty('contents')
    const snap = await snapshotVm(client, source, 'with-tpm')
    const [copy] = await client.call<string[]>('VM.get_VTPMs', [snap])
    expect(await client.call('VTPM.get_contents', [copy])).toBe('dHBtLXN0YXRl')
    const rebuilt = await createVm(client, await client.call<XapiRecord>('VM.get_record', [snap]), {
      name_label: 'tpm',
    })
    const fresh = await client.call<string>('VTPM.create', [rebuilt, true])
    await client.call('VTPM.set_contents', [fresh, await client.call('VTPM.get_contents', [copy])])
    expect(await client.call('VTPM.get_contents', [fresh])).toBe('dHBtLXN0YXRl')
    await client.call('VM.start', [rebuilt, false, false])
    await expect(client.call('VTPM.destroy', [fresh])).rejects.toMatchObject({ code: 'VM_BAD_POWER_STATE' })
  })

  it('reverts a VM to a snapshot: its disks get the snapshot content back', async () => {
    const vm = lab.ref('VM', 'db-01')
    const snap = await snapshotVm(client, vm, 'before-change')
    const [disk] = lab.guest.disks(vm)
    const before = await lab.readDisk(disk!)
    await lab.guest.write(disk!, 1024 * 1024, Buffer.alloc(4096, 0xee))
    expect((await lab.readDisk(disk!)).equals(before)).toBe(false)
    await callAsync(client, 'VM.revert', [snap])
    const [reverted] = lab.guest.disks(vm)
    expect(reverted).not.toBe(disk)
    expect((await lab.readDisk(reverted!)).equals(before)).toBe(true)
    await expect(client.call('VDI.get_record', [disk])).rejects.toMatchObject({ code: 'HANDLE_INVALID' })
  })

  it('waits for a slow host', async () => {
    lab.faults.slowHosts.set(lab.hosts[0]!.ref, 300)
    const started = Date.now()
    await client.call('VM.get_all', [])
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    lab.faults.slowHosts.clear()
  })
})
