// A lab pool with 200 small sparse VMs (issue 26's scale tests): seeded quickly without mke2fs, cheap
// on disk (sparse files: one 64 KiB granule of each VM's own bytes), and VM.get_all_records and
// event.from stay fast. The time bounds are generous, for a loaded 2-core CI box.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from '@strata/core/testing'
import { XapiClient } from '@strata/core/xapi'
import { LabOptionError } from './lab-errors.js'
import { LabPool } from './lab-pool.js'

const run = promisify(execFile)
const COUNT = 200
const MiB = 1024 * 1024

describe('a lab pool with 200 VMs', () => {
  let lab: LabPool
  let xapi: XapiClient
  let seedMs: number

  beforeAll(async () => {
    const started = Date.now()
    lab = await LabPool.start({
      nbd: false,
      authFailureDelayMs: 10,
      vms: { count: COUNT, diskSize: '64MiB', power: 'Running', tags: ['scale'] },
    })
    seedMs = Date.now() - started
    xapi = new XapiClient(lab.connection)
  })
  afterAll(async () => {
    await xapi?.close()
    await lab?.close()
  })

  it('seeds them in seconds, as sparse disks with their own bytes and no filesystem', async () => {
    console.log(`seeded ${COUNT} VMs in ${seedMs} ms`)
    expect(seedMs).toBeLessThan(30_000)
    const names = lab.vmNames()
    expect(names).toHaveLength(COUNT)
    expect(names[0]).toBe('vm-001')
    expect(names.at(-1)).toBe('vm-200')
    const { stdout } = await run('du', ['-sk', `${lab.dir}/disks`])
    const kib = Number(stdout.split('\t')[0])
    console.log(`${COUNT} disks of 64 MiB take ${kib} KiB on disk`)
    expect(kib * 1024).toBeLessThan(COUNT * MiB) // well under a MiB each (64 MiB virtual)
    const [d1] = lab.guest.disks(lab.ref('VM', 'vm-001'))
    const [d2] = lab.guest.disks(lab.ref('VM', 'vm-002'))
    const tail = (b: Buffer) => b.subarray(64 * MiB - 65536)
    const [b1, b2] = [await lab.readDisk(d1!), await lab.readDisk(d2!)]
    expect(tail(b1).equals(tail(b2))).toBe(false)
    expect(b1.subarray(0, 512).every((x) => x === 0)).toBe(true)
    // Not bootable: no guest ever reports.
    expect(await xapi.call('lab.get_guest_state', [lab.ref('VM', 'vm-001')])).not.toBe('running')
  })

  it('answers VM.get_all_records and event.from quickly', async () => {
    const t0 = Date.now()
    const all = await xapi.call<Record<string, { is_control_domain: boolean; tags: string[] }>>(
      'VM.get_all_records',
      [],
    )
    const recordsMs = Date.now() - t0
    expect(Object.values(all).filter((r) => r.tags.includes('scale'))).toHaveLength(COUNT)
    const t1 = Date.now()
    const first = await xapi.call<{ events: unknown[]; token: string }>('event.from', [['*'], '', 30])
    const fromAllMs = Date.now() - t1
    expect(first.events.length).toBeGreaterThan(COUNT * 4) // VMs, VBDs, VDIs, VIFs…
    await xapi.call('VM.add_tags', [lab.ref('VM', 'vm-150'), 'touched'])
    const t2 = Date.now()
    const next = await xapi.call<{ events: { class: string; operation: string }[] }>('event.from', [
      ['vm'],
      first.token,
      30,
    ])
    const fromNextMs = Date.now() - t2
    expect(next.events.map((e) => `${e.class}/${e.operation}`)).toEqual(['vm/mod'])
    console.log(
      `get_all_records ${recordsMs} ms, event.from('') ${fromAllMs} ms, next event ${fromNextMs} ms`,
    )
    expect(recordsMs).toBeLessThan(2000)
    expect(fromAllMs).toBeLessThan(3000)
    expect(fromNextMs).toBeLessThan(1000)
  })
})

describe('many VMs with a filesystem', () => {
  it('copies one mke2fs image into every disk: the VMs boot and report', async () => {
    requireBinary('mke2fs')
    requireBinary('debugfs')
    await using lab = await startLab({
      nbd: false,
      bootDelayMs: 50,
      vms: { count: 5, diskSize: '16MiB', power: 'Running', filesystem: true, namePrefix: 'app-' },
    })
    const vms = lab.vmNames()
    expect(vms).toEqual(['app-001', 'app-002', 'app-003', 'app-004', 'app-005'])
    const deadline = Date.now() + 10_000
    const reported = (): string[] => vms.filter((n) => lab.state.agents.state(lab.ref('VM', n)) === 'running')
    while (reported().length < vms.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    expect(reported()).toEqual(vms)
    const gm = String(lab.state.db.get('VM', lab.ref('VM', 'app-003')).guest_metrics)
    expect(lab.state.db.get('VM_guest_metrics', gm).os_version).toMatchObject({ distro: 'debian' })
  })

  it('refuses a count or a disk size out of bounds', async () => {
    for (const vms of [
      { count: 0, diskSize: '1MiB' },
      { count: 10_001, diskSize: '1MiB' },
      { count: 1, diskSize: '1K' },
    ])
      await expect(LabPool.start({ nbd: false, vms })).rejects.toThrow(LabOptionError)
  })
})

/** A lab closed by `await using`. */
async function startLab(options: Parameters<typeof LabPool.start>[0]): Promise<LabPool & AsyncDisposable> {
  const lab = await LabPool.start(options)
  return Object.assign(lab, { [Symbol.asyncDispose]: () => lab.close() })
}
