// Memory, on the wire: VM.checkpoint of a running VM gives a Suspended snapshot with a suspend VDI
// (its memory image), exported like any VDI (raw, VHD read by qemu-img, NBD read by nbdcopy); a VM
// created Suspended on another pool with a copy of that image resumes with VM.resume (VM.start is
// VM_BAD_POWER_STATE), and the lab records the SHA-256 of what it resumed; suspend and resume in place,
// corrupted images, clones and reverts of checkpoints.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import {
  XapiClient,
  callAsync,
  checkpointVm,
  createVdi,
  exportVdi,
  getNbdInfo,
  importVdi,
  isXapiError,
  NULL_REF,
} from '@strata/core/xapi'
import type { LabPool } from './lab-pool.js'
import { startLabPools, type LabPools } from './testing/index.js'

const run = promisify(execFile)
const MiB = 1024 * 1024
const IMAGE = 4 * MiB
type Row = Record<string, unknown>

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describe('memory images: checkpoints, suspend VDIs, resume', () => {
  let pools: LabPools
  let a: LabPool
  let b: LabPool
  let xa: XapiClient
  let xb: XapiClient
  let scratch: Scratch
  const vmRecord = (x: XapiClient, vm: string): Promise<Row> => x.call<Row>('VM.get_record', [vm])
  const bootWait = (): Promise<void> => new Promise((r) => setTimeout(r, 600))

  beforeAll(async () => {
    for (const tool of ['mke2fs', 'debugfs', 'qemu-img', 'nbdcopy', 'openssl']) requireBinary(tool)
    scratch = await scratchDir()
    const options = { bootDelayMs: 100, memoryImageBytes: IMAGE, authFailureDelayMs: 10, dom0DetachMs: 100 }
    pools = await startLabPools(
      { ...options, vms: [{ name: 'web', power: 'Running', disks: [16] }] },
      { ...options, vms: [] },
    )
    ;[a, b] = pools.pools as [LabPool, LabPool]
    xa = new XapiClient(a.connection)
    xb = new XapiClient(b.connection)
  })
  afterAll(async () => {
    await xa?.close()
    await xb?.close()
    await pools?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('checkpoints a running VM into a Suspended snapshot whose suspend VDI holds its memory', async () => {
    const web = a.ref('VM', 'web')
    await xa.call('lab.guest_write_vm_data', [web, 'app-state', 'warm'])
    const cp = await checkpointVm(xa, web, 'with-memory')
    const snap = await vmRecord(xa, cp)
    expect(snap).toMatchObject({ power_state: 'Suspended', is_a_snapshot: true, guest_metrics: NULL_REF })
    const image = String(snap.suspend_VDI)
    expect(image).not.toBe(NULL_REF)
    expect(await xa.call('VDI.get_record', [image])).toMatchObject({ type: 'suspend', virtual_size: IMAGE })
    const bytes = await a.readDisk(image)
    expect(bytes.subarray(0, 26).toString()).toBe('STRATA-LAB-MEMORY-IMAGE 1\n')
    expect(await vmRecord(xa, web)).toMatchObject({ power_state: 'Running', suspend_VDI: NULL_REF })
    // A halted VM's checkpoint is a plain snapshot (Halted, no memory).
    const halted = await xa.call<string>('VM.create', [{ name_label: 'halted', other_config: {} }])
    const plain = await checkpointVm(xa, halted, 'no-memory')
    expect(await vmRecord(xa, plain)).toMatchObject({ power_state: 'Halted', suspend_VDI: NULL_REF })
  })

  it('exports a suspend VDI like any VDI: raw, VHD (qemu-img) and NBD (nbdcopy)', async () => {
    const [cp] = await xa.call<string[]>('VM.get_by_name_label', ['with-memory'])
    const image = String((await vmRecord(xa, cp!)).suspend_VDI)
    const expected = await a.readDisk(image)
    expect((await collect(await exportVdi(xa, image, { format: 'raw' }))).equals(expected)).toBe(true)
    await writeFile(scratch.path('mem.vhd'), await collect(await exportVdi(xa, image, { format: 'vhd' })))
    await run('qemu-img', [
      'convert',
      '-f',
      'vpc',
      '-O',
      'raw',
      scratch.path('mem.vhd'),
      scratch.path('mem.raw'),
    ])
    expect((await readFile(scratch.path('mem.raw'))).equals(expected)).toBe(true)
    const [info] = await getNbdInfo(xa, image)
    const dir = scratch.path('ca')
    await mkdir(dir, { recursive: true })
    await writeFile(`${dir}/ca-cert.pem`, info!.cert)
    const q = new URLSearchParams({ 'tls-certificates': dir }).toString()
    const uri = `nbds://${info!.address}:${info!.port}/${encodeURIComponent(info!.exportname)}?${q}`
    await run('nbdcopy', [uri, scratch.path('mem.nbd')])
    expect((await readFile(scratch.path('mem.nbd'))).equals(expected)).toBe(true)
  })

  it('resumes, on another pool, a VM created Suspended with a copy of the image (VM.start refuses it)', async () => {
    const [cp] = await xa.call<string[]>('VM.get_by_name_label', ['with-memory'])
    const snap = await vmRecord(xa, cp!)
    const image = String(snap.suspend_VDI)
    const [sr] = await xb.call<string[]>('SR.get_all', [])
    const copy = await xb.call<string>('VDI.create', [
      {
        name_label: 'Suspend image',
        SR: sr,
        virtual_size: IMAGE,
        type: 'suspend',
        sharable: false,
        read_only: false,
        other_config: {},
      },
    ])
    const data = await collect(await exportVdi(xa, image, { format: 'raw' }))
    await importVdi(xb, copy, { open: () => Readable.from([data]), length: IMAGE }, { format: 'raw' })
    const disk = await createVdi(xb, { name_label: 'web root', virtual_size: 16 * MiB }, sr!)
    const replica = await xb.call<string>('VM.create', [
      { name_label: 'web replica', power_state: 'Suspended', suspend_VDI: copy, other_config: {} },
    ])
    await xb.call('VBD.create', [
      {
        VM: replica,
        VDI: disk,
        userdevice: '0',
        bootable: true,
        mode: 'RW',
        type: 'Disk',
        currently_attached: true,
      },
    ])
    expect(await vmRecord(xb, replica)).toMatchObject({ power_state: 'Suspended', suspend_VDI: copy })
    const start = await callAsync(xb, 'VM.start', [replica, false, false]).catch((e: unknown) => e)
    expect(start).toMatchObject({ code: 'VM_BAD_POWER_STATE', params: [replica, 'halted', 'suspended'] })
    await callAsync(xb, 'VM.resume', [replica, false, false])
    expect(await vmRecord(xb, replica)).toMatchObject({ power_state: 'Running', suspend_VDI: NULL_REF })
    const resumed = await xb.call<Row>('lab.get_resumed_memory', [replica])
    expect(resumed).toMatchObject({ sha256: sha(await a.readDisk(image)), size: IMAGE })
    expect(resumed.vm_uuid).toBe(await xa.call('VM.get_uuid', [a.ref('VM', 'web')]))
    expect(b.resumedMemory(replica)?.sha256).toBe(resumed.sha256)
    // The resumed guest had booted: its agent reports again, with the keys it had written. The image is
    // gone once the import's dom0 VBD let go of it.
    await bootWait()
    await expect(xb.call('VDI.get_record', [copy])).rejects.toMatchObject({ code: 'HANDLE_INVALID' })
    expect((await vmRecord(xb, replica)).guest_metrics).not.toBe(NULL_REF)
    expect((await vmRecord(xb, replica)).xenstore_data).toMatchObject({ 'vm-data/app-state': 'warm' })
  })

  it('suspends and resumes in place, keeping the devices attached while suspended', async () => {
    const web = a.ref('VM', 'web')
    await callAsync(xa, 'VM.suspend', [web])
    const row = await vmRecord(xa, web)
    expect(row.power_state).toBe('Suspended')
    const image = String(row.suspend_VDI)
    expect(await xa.call('VDI.get_type', [image])).toBe('suspend')
    const [vdi] = a.guest.disks(web)
    await expect(xa.call('VDI.destroy', [vdi])).rejects.toMatchObject({ code: 'VDI_IN_USE' })
    const saved = sha(await a.readDisk(image))
    await callAsync(xa, 'VM.resume', [web, false, false])
    expect(a.resumedMemory(web)?.sha256).toBe(saved)
    expect(await vmRecord(xa, web)).toMatchObject({ power_state: 'Running', suspend_VDI: NULL_REF })
  })

  it('refuses to resume a damaged image (the VM stays Suspended) and drops it at hard shutdown', async () => {
    const web = a.ref('VM', 'web')
    await callAsync(xa, 'VM.suspend', [web])
    const image = String((await vmRecord(xa, web)).suspend_VDI)
    await a.state.disks.write(image, 0, Buffer.alloc(512))
    const error = await callAsync(xa, 'VM.resume', [web, false, false]).catch((e: unknown) => e)
    expect(isXapiError(error, 'INTERNAL_ERROR')).toBe(true)
    expect((error as { params: string[] }).params[0]).toMatch(/Restore_signature_mismatch/)
    expect((await vmRecord(xa, web)).power_state).toBe('Suspended')
    await callAsync(xa, 'VM.hard_shutdown', [web])
    expect(await vmRecord(xa, web)).toMatchObject({ power_state: 'Halted', suspend_VDI: NULL_REF })
    await expect(xa.call('VDI.get_record', [image])).rejects.toMatchObject({ code: 'HANDLE_INVALID' })
    await callAsync(xa, 'VM.start', [web, false, false])
  })

  it('creates Suspended VMs only with a suspend VDI', async () => {
    const none = await xa
      .call('VM.create', [{ name_label: 'x', power_state: 'Suspended', other_config: {} }])
      .catch((e: unknown) => e)
    expect(isXapiError(none, 'VM_HAS_NO_SUSPEND_VDI')).toBe(true)
    const bad = await xa
      .call('VM.create', [
        { name_label: 'x', power_state: 'Suspended', suspend_VDI: 'OpaqueRef:nope', other_config: {} },
      ])
      .catch((e: unknown) => e)
    expect(isXapiError(bad, 'HANDLE_INVALID')).toBe(true)
  })

  it('clones a checkpoint into a Suspended VM with its own image, and reverts to a checkpoint', async () => {
    const [cp] = await xa.call<string[]>('VM.get_by_name_label', ['with-memory'])
    const image = String((await vmRecord(xa, cp!)).suspend_VDI)
    const clone = await callAsync<string>(xa, 'VM.clone', [cp, 'from-checkpoint'])
    const row = await vmRecord(xa, clone)
    expect(row.power_state).toBe('Suspended')
    expect(row.suspend_VDI).not.toBe(image)
    expect((await a.readDisk(String(row.suspend_VDI))).equals(await a.readDisk(image))).toBe(true)
    await xa.call('VM.set_is_a_template', [clone, false])
    await callAsync(xa, 'VM.resume', [clone, false, false])
    expect(a.resumedMemory(clone)?.sha256).toBe(sha(await a.readDisk(image)))
    const web = a.ref('VM', 'web')
    await callAsync(xa, 'VM.revert', [cp])
    const reverted = await vmRecord(xa, web)
    expect(reverted.power_state).toBe('Suspended')
    expect((await a.readDisk(String(reverted.suspend_VDI))).equals(await a.readDisk(image))).toBe(true)
  })
})
