// Booting guests, on the wire: a started VM whose first disk holds an MBR and an ext4 filesystem reports
// guest metrics after the boot delay (VM_guest_metrics add, VM mod), and writes the vm-data keys of its
// /etc/strata-lab/vm-data into VM.xenstore_data; a zeroed disk or a damaged boot sector or superblock
// never reports; shutdown and destroy remove the metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from '@strata/core/testing'
import { XapiClient, callAsync, isXapiError, NULL_REF } from '@strata/core/xapi'
import { LabPool } from './lab-pool.js'
import { PARTITION_OFFSET } from './disks/ext4-image.js'

const BOOT_MS = 150
type Row = Record<string, unknown>

interface Event {
  class: string
  operation: string
  ref: string
  snapshot?: Row
}

/** Follows event.from until `done` sees what it waits for; returns the events seen. */
async function eventsUntil(
  xapi: XapiClient,
  token: string,
  done: (events: Event[]) => boolean,
  timeoutMs = 10_000,
): Promise<Event[]> {
  const seen: Event[] = []
  const deadline = Date.now() + timeoutMs
  while (!done(seen)) {
    if (Date.now() > deadline) throw new Error(`timed out; saw ${JSON.stringify(seen.map((e) => e.class))}`)
    const batch = await xapi.call<{ events: Event[]; token: string }>('event.from', [
      ['vm', 'vm_guest_metrics'],
      token,
      1,
    ])
    seen.push(...batch.events)
    token = batch.token
  }
  return seen
}

describe('booting guests', () => {
  let lab: LabPool
  let xapi: XapiClient
  const token = async (): Promise<string> =>
    (await xapi.call<{ token: string }>('event.from', [['vm'], '', 0])).token
  const record = (vm: string): Promise<Row> => xapi.call<Row>('VM.get_record', [vm])
  const metricsOf = async (vm: string): Promise<Row | undefined> => {
    const gm = String((await record(vm)).guest_metrics)
    return gm === NULL_REF ? undefined : xapi.call<Row>('VM_guest_metrics.get_record', [gm])
  }
  /** Long enough for a boot that would report to have reported. */
  const pastBoot = (): Promise<void> => new Promise((r) => setTimeout(r, BOOT_MS * 6))

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('debugfs')
    lab = await LabPool.start({
      nbd: false,
      bootDelayMs: BOOT_MS,
      vms: [
        { name: 'web', power: 'Running', disks: [16] },
        { name: 'db', power: 'Halted', disks: [16, 8] },
        { name: 'broken-mbr', power: 'Halted', disks: [16] },
        { name: 'broken-fs', power: 'Halted', disks: [16] },
      ],
    })
    xapi = new XapiClient(lab.connection)
  })
  afterAll(async () => {
    await xapi?.close()
    await lab?.close()
  })

  it('reports the seeded running VM as booted already, with what its guest agent knows', async () => {
    const gm = await metricsOf(lab.ref('VM', 'web'))
    expect(gm).toMatchObject({
      live: true,
      PV_drivers_detected: true,
      PV_drivers_version: { major: '8', minor: '4', micro: '0', build: '1' },
      os_version: { name: 'Debian GNU/Linux 12 (bookworm)', distro: 'debian', major: '12' },
    })
    expect(Object.keys(gm!.networks as object)).toEqual(['0/ip', '0/ipv4/0', '0/ipv6/0'])
    expect(await xapi.call('lab.get_guest_state', [lab.ref('VM', 'web')])).toBe('running')
  })

  it('reports guest metrics and the guest vm-data keys only after the boot delay, with events', async () => {
    const vm = lab.ref('VM', 'db')
    // The lab-only knob: the guest writes the keys of this file once booted (a health-check script).
    await xapi.call('lab.guest_write_file', [
      vm,
      0,
      '/etc/strata-lab/vm-data',
      'xo-backup-health-check=success\n',
    ])
    const from = await token()
    const started = Date.now()
    await callAsync(xapi, 'VM.start', [vm, false, false])
    expect((await record(vm)).guest_metrics).toBe(NULL_REF)
    const events = await eventsUntil(xapi, from, (seen) =>
      seen.some(
        (e) =>
          e.ref === vm &&
          (e.snapshot?.xenstore_data as Row | undefined)?.['vm-data/xo-backup-health-check'] === 'success',
      ),
    )
    expect(Date.now() - started).toBeGreaterThanOrEqual(BOOT_MS)
    const added = events.find((e) => e.class === 'vm_guest_metrics' && e.operation === 'add')
    expect(added?.snapshot).toMatchObject({ live: true, os_version: { distro: 'debian' } })
    const vmMod = events.find((e) => e.ref === vm && e.snapshot?.guest_metrics === added?.ref)
    expect(vmMod?.operation).toBe('mod')
    expect((await record(vm)).xenstore_data).toMatchObject({ 'vm-data/xo-backup-health-check': 'success' })
  })

  it('lets a running guest write a vm-data key over the wire, and refuses it on a halted VM', async () => {
    const vm = lab.ref('VM', 'db')
    await xapi.call('lab.guest_write_vm_data', [vm, 'xo-backup-health-check-error', 'disk check failed'])
    expect((await record(vm)).xenstore_data).toMatchObject({
      'vm-data/xo-backup-health-check-error': 'disk check failed',
    })
    const halted = lab.ref('VM', 'broken-fs')
    const error = await xapi.call('lab.guest_write_vm_data', [halted, 'k', 'v']).catch((e: unknown) => e)
    expect(isXapiError(error, 'VM_BAD_POWER_STATE')).toBe(true)
    const bad = await xapi.call('lab.guest_write_vm_data', [vm, '../etc', 'v']).catch((e: unknown) => e)
    expect(isXapiError(bad, 'INVALID_VALUE')).toBe(true)
  })

  it('removes the metrics at shutdown (del event), even of a boot cut short', async () => {
    const vm = lab.ref('VM', 'db')
    const gm = String((await record(vm)).guest_metrics)
    expect(gm).not.toBe(NULL_REF)
    const from = await token()
    await callAsync(xapi, 'VM.clean_shutdown', [vm])
    const events = await eventsUntil(xapi, from, (seen) =>
      seen.some((e) => e.ref === gm && e.operation === 'del'),
    )
    expect(events.find((e) => e.ref === vm)?.snapshot?.guest_metrics).toBe(NULL_REF)
    expect(await xapi.call('lab.get_guest_state', [vm])).toBe('halted')
    // A boot cut short by a hard shutdown never reports.
    await callAsync(xapi, 'VM.start', [vm, false, false])
    await callAsync(xapi, 'VM.hard_shutdown', [vm])
    await pastBoot()
    expect(await metricsOf(vm)).toBeUndefined()
    const all = await xapi.call<Record<string, Row>>('VM_guest_metrics.get_all_records', [])
    expect(Object.keys(all)).toHaveLength(1) // web's only
  })

  it('never reports a guest whose boot sector or superblock a guest write damaged', async () => {
    const zeros = Buffer.alloc(512).toString('base64')
    const mbrVm = lab.ref('VM', 'broken-mbr')
    await xapi.call('lab.guest_write', [mbrVm, 0, 0, zeros])
    const fsVm = lab.ref('VM', 'broken-fs')
    await xapi.call('lab.guest_write', [fsVm, 0, PARTITION_OFFSET + 1024, zeros])
    for (const vm of [mbrVm, fsVm]) await callAsync(xapi, 'VM.start', [vm, false, false])
    await pastBoot()
    for (const vm of [mbrVm, fsVm]) {
      expect(await metricsOf(vm)).toBeUndefined()
      expect(await xapi.call('lab.get_guest_state', [vm])).toBe('no bootable device')
      expect((await record(vm)).power_state).toBe('Running')
      await callAsync(xapi, 'VM.hard_shutdown', [vm])
    }
  })

  it('never reports a VM whose disk is new (zeroed), and boots a clone of a bootable VM', async () => {
    const [sr] = await xapi.call<string[]>('SR.get_all', [])
    const vm = await xapi.call<string>('VM.create', [{ name_label: 'empty', other_config: {} }])
    const vdi = await xapi.call<string>('VDI.create', [
      {
        name_label: 'empty',
        SR: sr,
        virtual_size: 8 << 20,
        type: 'user',
        sharable: false,
        read_only: false,
        other_config: {},
      },
    ])
    await xapi.call('VBD.create', [
      { VM: vm, VDI: vdi, userdevice: '0', bootable: true, mode: 'RW', type: 'Disk' },
    ])
    const clone = await callAsync<string>(xapi, 'VM.clone', [lab.ref('VM', 'db'), 'db-clone'])
    await xapi.call('VM.set_is_a_template', [clone, false])
    for (const v of [vm, clone]) await callAsync(xapi, 'VM.start', [v, false, false])
    await pastBoot()
    expect(await metricsOf(vm)).toBeUndefined()
    expect(await metricsOf(clone)).toMatchObject({ live: true })
    // The clone's guest wrote the keys its disk lists (they came with the disk).
    expect((await record(clone)).xenstore_data).toMatchObject({ 'vm-data/xo-backup-health-check': 'success' })
    // A suspended guest keeps its metrics; destroying the VM removes them.
    const before = await xapi.call<Record<string, Row>>('VM_guest_metrics.get_all_records', [])
    await callAsync(xapi, 'VM.suspend', [clone])
    const kept = String((await record(clone)).guest_metrics)
    expect(kept).not.toBe(NULL_REF)
    await xapi.call('VM.destroy', [clone])
    const after = await xapi.call<Record<string, Row>>('VM_guest_metrics.get_all_records', [])
    expect(Object.keys(after).sort()).toEqual(
      Object.keys(before)
        .filter((r) => r !== kept)
        .sort(),
    )
  })

  it('refuses to start snapshots and templates like xapi', async () => {
    const snap = await callAsync<string>(xapi, 'VM.snapshot', [lab.ref('VM', 'web'), 's', []])
    const error = await callAsync(xapi, 'VM.start', [snap, false, false]).catch((e: unknown) => e)
    expect(isXapiError(error, 'VM_IS_SNAPSHOT')).toBe(true)
    const template = lab.ref('VM', 'Debian Bookworm 12')
    const t = await callAsync(xapi, 'VM.start', [template, false, false]).catch((e: unknown) => e)
    expect(isXapiError(t, 'VM_IS_TEMPLATE')).toBe(true)
  })
})
