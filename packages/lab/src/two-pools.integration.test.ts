// Two lab pools in one process (a replication source and target): nothing collides. Different uuids,
// names, certificates, SRs, ports, NBD servers, data directories and CBT logs; a session of one is
// invalid on the other; a disk copied from one to the other over HTTP arrives byte for byte.
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import {
  XapiClient,
  createVdi,
  enableCbt,
  exportVdi,
  getNbdInfo,
  importVdi,
  listChangedBlocks,
  snapshotVm,
} from '@strata/core/xapi'
import type { LabPool } from './lab-pool.js'
import { startLabPools, type LabPools } from './testing/index.js'

const run = promisify(execFile)
const MiB = 1024 * 1024

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

describe('two lab pools at once', () => {
  let pools: LabPools
  let a: LabPool
  let b: LabPool
  let xa: XapiClient
  let xb: XapiClient
  let scratch: Scratch
  const poolRecord = async (x: XapiClient): Promise<Record<string, unknown>> => {
    const [pool] = await x.call<string[]>('pool.get_all', [])
    return x.call('pool.get_record', [pool])
  }

  beforeAll(async () => {
    for (const tool of ['mke2fs', 'openssl', 'nbdinfo']) requireBinary(tool)
    scratch = await scratchDir()
    const vms = [{ name: 'web', power: 'Running' as const, disks: [8] }]
    pools = await startLabPools({ vms, authFailureDelayMs: 10 }, { vms, authFailureDelayMs: 10 })
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

  it('gives each its own identity: uuids, names, certificates, SRs, ports, NBD, data directory', async () => {
    const [pa, pb] = [await poolRecord(xa), await poolRecord(xb)]
    expect(pa.uuid).not.toBe(pb.uuid)
    expect([pa.name_label, pb.name_label]).toEqual(['Strata lab pool A', 'Strata lab pool B'])
    expect(a.fingerprint).not.toBe(b.fingerprint)
    expect(a.url).not.toBe(b.url)
    expect(a.dir).not.toBe(b.dir)
    expect(a.nbd?.port).not.toBe(b.nbd?.port)
    const srUuid = async (x: XapiClient): Promise<string> => {
      const [sr] = await x.call<string[]>('SR.get_all', [])
      return x.call('SR.get_uuid', [sr])
    }
    expect(await srUuid(xa)).not.toBe(await srUuid(xb))
    const hostName = async (x: XapiClient): Promise<string> => {
      const [host] = await x.call<string[]>('host.get_all', [])
      return x.call('host.get_hostname', [host])
    }
    expect([await hostName(xa), await hostName(xb)]).toEqual([
      'strata-lab-pool-a-host-1',
      'strata-lab-pool-b-host-1',
    ])
    // A client pinned to one pool's certificate cannot talk to the other.
    const crossed = new XapiClient({ ...b.connection, fingerprint: a.fingerprint })
    await expect(crossed.connect()).rejects.toThrow()
    await crossed.close().catch(() => undefined)
  })

  it('keeps sessions, NBD exports, guest writes and CBT logs apart', async () => {
    const call = (lab: LabPool, method: string, params: unknown[]) =>
      lab.dispatcher.dispatch(method, params, lab.hosts[0]!.ref, AbortSignal.timeout(5000))
    await expect(call(b, 'VM.get_all', [xa.sessionRef()])).rejects.toMatchObject({ code: 'SESSION_INVALID' })
    const [vdiA] = a.guest.disks(a.ref('VM', 'web'))
    const [vdiB] = b.guest.disks(b.ref('VM', 'web'))
    const [info] = await getNbdInfo(xa, vdiA!)
    // A's export name (its VDI uuid and session) on B's NBD server: closed without a reply.
    const dir = scratch.path('ca-b')
    await mkdir(dir, { recursive: true })
    await writeFile(`${dir}/ca-cert.pem`, b.certificate)
    const q = new URLSearchParams({ 'tls-certificates': dir }).toString()
    const wrong = `nbds://127.0.0.1:${b.nbd!.port}/${encodeURIComponent(info!.exportname)}?${q}`
    await expect(run('nbdinfo', ['--size', wrong])).rejects.toThrow()
    const beforeB = await b.readDisk(vdiB!)
    await enableCbt(xa, vdiA!)
    await enableCbt(xb, vdiB!)
    await snapshotVm(xa, a.ref('VM', 'web'), 'base')
    await snapshotVm(xb, b.ref('VM', 'web'), 'base')
    await a.guest.write(vdiA!, 2 * MiB, Buffer.alloc(4096, 7))
    expect((await b.readDisk(vdiB!)).equals(beforeB)).toBe(true)
    await snapshotVm(xa, a.ref('VM', 'web'), 'next')
    await snapshotVm(xb, b.ref('VM', 'web'), 'next')
    const changed = async (x: XapiClient, vdi: string): Promise<number> => {
      const [base, next] = await x.call<string[]>('VDI.get_snapshots', [vdi])
      return (await listChangedBlocks(x, base!, next!)).changedCount
    }
    expect(await changed(xa, vdiA!)).toBe(1)
    expect(await changed(xb, vdiB!)).toBe(0)
  })

  it('copies a disk from one pool to the other over HTTP, byte for byte, and survives the other closing', async () => {
    const [vdiA] = a.guest.disks(a.ref('VM', 'web'))
    const vhd = await collect(await exportVdi(xa, vdiA!, { format: 'vhd' }))
    const [sr] = await xb.call<string[]>('SR.get_all', [])
    const copy = await createVdi(xb, { name_label: 'replica of web', virtual_size: 8 * MiB }, sr!)
    await importVdi(xb, copy, { open: () => Readable.from([vhd]), length: vhd.length }, { format: 'vhd' })
    expect((await b.readDisk(copy)).equals(await a.readDisk(vdiA!))).toBe(true)
    await xa.close()
    await a.close()
    expect((await xb.call<string[]>('VM.get_all', [])).length).toBeGreaterThan(0)
  })
})
