// CBT and NBD through the client, with the lab's NBD exports read by libnbd's nbdinfo and nbdcopy over
// TLS (pinned to the certificate VDI.get_nbd_info returns).
import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  XapiClient,
  dataDestroy,
  destroyVm,
  enableCbt,
  getNbdInfo,
  listChangedBlocks,
  snapshotVm,
  type NbdInfo,
} from '@strata/core/xapi'
import { NbdConnection } from '@strata/core/nbd'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'

const run = promisify(execFile)
const MiB = 1024 * 1024

describe('CBT and NBD against the lab', () => {
  let lab: LabPool
  let client: XapiClient
  let scratch: Scratch
  let vm: string
  let vdi: string

  const uri = async (info: NbdInfo): Promise<string> => {
    const dir = scratch.path('ca')
    await mkdir(dir, { recursive: true })
    await writeFile(`${dir}/ca-cert.pem`, info.cert)
    const q = new URLSearchParams({ 'tls-certificates': dir })
    return `nbds://${info.address}:${info.port}/${encodeURIComponent(info.exportname)}?${q.toString().replace(/\+/g, '%20')}`
  }

  beforeAll(async () => {
    for (const tool of ['nbdinfo', 'nbdcopy', 'openssl', 'mke2fs']) requireBinary(tool)
    scratch = await scratchDir()
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      dom0DetachMs: 1500,
      vms: [{ name: 'web-01', power: 'Running', disks: [16] }],
    })
    client = new XapiClient(lab.connection)
    vm = lab.ref('VM', 'web-01')
    vdi = lab.guest.disks(vm)[0]!
  })
  afterAll(async () => {
    await client?.close()
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('tracks guest writes at 64 KiB granularity between snapshots, also from a cbt_metadata base', async () => {
    await enableCbt(client, vdi)
    const first = await snapshotVm(client, vm, 'cbt-1')
    const [base] = await client.call<string[]>('VDI.get_snapshots', [vdi])
    await lab.guest.write(vdi, 3 * MiB + 10, Buffer.alloc(70_000, 1)) // granules 48 and 49
    await lab.guest.write(vdi, 9 * MiB, Buffer.alloc(512, 2)) // granule 144
    await snapshotVm(client, vm, 'cbt-2')
    const snaps = await client.call<string[]>('VDI.get_snapshots', [vdi])
    const next = snaps.find((s) => s !== base)!
    const changed = await listChangedBlocks(client, base!, next)
    const granules = Array.from({ length: changed.blockCount }, (_, k) => k).filter((k) =>
      changed.isChanged(k),
    )
    expect(granules).toEqual([48, 49, 144])
    expect(changed.changedBlocks(2 * MiB)).toEqual([1, 4])
    // The backup keeps only the CBT log of its snapshot: destroy the VM, then the data.
    await destroyVm(client, first, { keepDisks: true })
    await dataDestroy(client, base!)
    expect(await client.call('VDI.get_type', [base])).toBe('cbt_metadata')
    expect((await listChangedBlocks(client, base!, next)).changedCount).toBe(3)
    await expect(getNbdInfo(client, base!)).rejects.toMatchObject({ code: 'VDI_INCOMPATIBLE_TYPE' })
  })

  it('serves a snapshot over NBD with TLS that nbdinfo and nbdcopy read', async () => {
    const snap = await snapshotVm(client, vm, 'nbd')
    const [, vbd] = await client.call<string[]>('VM.get_VBDs', [snap]).then(async (vbds) => {
      const types = await Promise.all(vbds.map((v) => client.call<string>('VBD.get_type', [v])))
      return [types, vbds[types.indexOf('Disk')]]
    })
    const snapVdi = await client.call<string>('VBD.get_VDI', [vbd])
    const [info] = await getNbdInfo(client, snapVdi)
    expect(info).toMatchObject({ address: '127.0.0.1', subject: 'lab-host-1' })
    expect(info!.exportname).toMatch(/^\/[0-9a-f-]{36}\?session_id=OpaqueRef:/)
    const target = await uri(info!)
    const { stdout } = await run('nbdinfo', ['--json', target])
    expect(JSON.parse(stdout).exports[0]['export-size']).toBe(16 * MiB)
    await run('nbdcopy', [target, scratch.path('copy.raw')])
    const expected = await lab.state.disks.read(snapVdi, 0, 16 * MiB)
    expect((await readFile(scratch.path('copy.raw'))).equals(expected)).toBe(true)
  })

  it('holds the VDI (VDI_IN_USE) right after an NBD connection ends; data_destroy waits for it', async () => {
    const snap = await snapshotVm(client, vm, 'in-use')
    const vbds = await client.call<string[]>('VM.get_VBDs', [snap])
    const disk = (
      await Promise.all(vbds.map(async (v) => [v, await client.call('VBD.get_type', [v])] as const))
    ).find(([, t]) => t === 'Disk')![0]
    const snapVdi = await client.call<string>('VBD.get_VDI', [disk])
    const [info] = await getNbdInfo(client, snapVdi)
    await run('nbdinfo', ['--size', await uri(info!)])
    await destroyVm(client, snap, { keepDisks: true })
    await expect(client.call('VDI.destroy', [snapVdi])).rejects.toMatchObject({
      code: 'VDI_IN_USE',
      params: [snapVdi, 'destroy'],
    })
    // data_destroy waits (up to 4 s, like xapi) for the dom0 VBD to go, then succeeds.
    await dataDestroy(client, snapVdi)
    expect(await client.call('VDI.get_type', [snapVdi])).toBe('cbt_metadata')
    await client.call('VDI.destroy', [snapVdi])
  })

  it("reads changed blocks with Strata's NBD client, pinned to the certificate from get_nbd_info", async () => {
    const snaps = await client.call<string[]>('VDI.get_snapshots', [vdi])
    let target: string | undefined
    for (const s of snaps) if ((await client.call('VDI.get_type', [s])) !== 'cbt_metadata') target = s
    const [info] = await getNbdInfo(client, target!)
    const nbd = await NbdConnection.connect({
      host: info!.address,
      port: info!.port,
      exportName: info!.exportname,
      tls: { pinnedCertificate: info!.cert, servername: info!.subject },
    })
    try {
      expect(nbd.size).toBe(16 * MiB)
      const block = await nbd.read(2 * MiB, 2 * MiB)
      expect(block.equals(await lab.state.disks.read(target!, 2 * MiB, 2 * MiB))).toBe(true)
    } finally {
      await nbd.close()
    }
    const wrong = NbdConnection.connect({
      host: info!.address,
      port: info!.port,
      exportName: info!.exportname.replace(/session_id=.*/, 'session_id=OpaqueRef:bogus'),
      tls: { pinnedCertificate: info!.cert, servername: info!.subject },
    })
    await expect(wrong).rejects.toThrow() // xapi-nbd closes without a reply on a bad session
  })

  it('accepts at most 16 NBD connections per host, like xapi-nbd', async () => {
    const snaps = await client.call<string[]>('VDI.get_snapshots', [vdi])
    let target: string | undefined
    for (const s of snaps) if ((await client.call('VDI.get_type', [s])) !== 'cbt_metadata') target = s
    const [info] = await getNbdInfo(client, target!)
    const open = () =>
      NbdConnection.connect({
        host: info!.address,
        port: info!.port,
        exportName: info!.exportname,
        tls: { pinnedCertificate: info!.cert, servername: info!.subject },
      })
    const connections: NbdConnection[] = []
    try {
      for (let i = 0; i < 16; i++) connections.push(await open())
      await expect(open()).rejects.toThrow()
    } finally {
      await Promise.all(connections.map((c) => c.close()))
    }
  })

  it('drops NBD connections on demand: nbdcopy fails', async () => {
    const snaps = await client.call<string[]>('VDI.get_snapshots', [vdi])
    const live = []
    for (const s of snaps) if ((await client.call('VDI.get_type', [s])) !== 'cbt_metadata') live.push(s)
    const [info] = await getNbdInfo(client, live[0]!)
    lab.faults.nbdDropAfterBytes = 4 * MiB
    await expect(
      run('nbdcopy', ['--connections=1', await uri(info!), scratch.path('dropped.raw')]),
    ).rejects.toThrow()
  })
})

describe('NBD network purposes', () => {
  const small = [{ name: 'vm', power: 'Halted' as const, disks: [4] }]

  it('serves clear-text NBD when the network has purpose insecure_nbd (empty cert)', async () => {
    requireBinary('nbdinfo')
    const lab = await LabPool.start({ authFailureDelayMs: 10, nbd: 'insecure_nbd', vms: small })
    const client = new XapiClient(lab.connection)
    try {
      const [vdi] = lab.guest.disks(lab.ref('VM', 'vm'))
      const [info] = await getNbdInfo(client, vdi!)
      expect(info!.cert).toBe('')
      const { stdout } = await run('nbdinfo', [
        '--size',
        `nbd://${info!.address}:${info!.port}/${encodeURIComponent(info!.exportname)}`,
      ])
      expect(Number(stdout.trim())).toBe(4 * MiB)
    } finally {
      await client.close()
      await lab.close()
    }
  })

  it('follows a change of purpose at the next connection, as xapi-nbd does', async () => {
    const lab = await LabPool.start({ authFailureDelayMs: 10, vms: small })
    const client = new XapiClient(lab.connection)
    try {
      const [vdi] = lab.guest.disks(lab.ref('VM', 'vm'))
      const [net] = await client.call<string[]>('network.get_all', [])
      const [secure] = await getNbdInfo(client, vdi!)
      expect(secure!.cert).not.toBe('')
      const connect = (info: NbdInfo, tls: boolean) =>
        NbdConnection.connect({
          host: info.address,
          port: info.port,
          exportName: info.exportname,
          tls: tls ? { pinnedCertificate: info.cert, servername: info.subject } : undefined,
        })
      const kept = await connect(secure!, true)
      await client.call('network.remove_purpose', [net, 'nbd'])
      await client.call('network.add_purpose', [net, 'insecure_nbd'])
      const [clear] = await getNbdInfo(client, vdi!)
      expect(clear!.cert).toBe('')
      const plain = await connect(clear!, false)
      expect(plain.info.tls).toBe(false)
      expect((await plain.read(0, 4096)).length).toBe(4096)
      await expect(connect(secure!, true)).rejects.toMatchObject({ code: 'NBD_TLS' })
      expect((await kept.read(0, 4096)).equals(await plain.read(0, 4096))).toBe(true)
      await client.call('network.remove_purpose', [net, 'insecure_nbd'])
      expect(await getNbdInfo(client, vdi!)).toEqual([])
      await expect(connect(clear!, false)).rejects.toMatchObject({ code: 'NBD_CONNECTION_CLOSED' })
      await Promise.all([kept.close(), plain.close()])
    } finally {
      await client.close()
      await lab.close()
    }
  })

  it('answers [] when no network has an NBD purpose (clients fall back to HTTP)', async () => {
    const lab = await LabPool.start({ authFailureDelayMs: 10, nbd: 'none', vms: small })
    const client = new XapiClient(lab.connection)
    try {
      const [vdi] = lab.guest.disks(lab.ref('VM', 'vm'))
      expect(await getNbdInfo(client, vdi!)).toEqual([])
    } finally {
      await client.close()
      await lab.close()
    }
  })

  it('refuses CBT on an unlicensed XenServer pool (LICENCE_RESTRICTION)', async () => {
    const lab = await LabPool.start({
      authFailureDelayMs: 10,
      nbd: false,
      profile: 'xenserver-8',
      vms: small,
    })
    const client = new XapiClient(lab.connection)
    try {
      const [vdi] = lab.guest.disks(lab.ref('VM', 'vm'))
      await expect(enableCbt(client, vdi!)).rejects.toMatchObject({
        code: 'LICENCE_RESTRICTION',
        params: ['CBT'],
      })
    } finally {
      await client.close()
      await lab.close()
    }
  })
})
