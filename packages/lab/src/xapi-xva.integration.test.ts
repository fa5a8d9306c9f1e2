// XVA export and import between the client and the lab; the archive checked with GNU tar.
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { gunzipSync } from 'node:zlib'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { XapiClient, exportXva, importXva, snapshotVm } from '@strata/core/xapi'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'

const run = promisify(execFile)

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

describe('XVA export and import', () => {
  let lab: LabPool
  let client: XapiClient
  let scratch: Scratch
  let snapshot: string
  const diskBytes = async (vm: string): Promise<Buffer[]> =>
    Promise.all(lab.guest.disks(vm).map((v) => lab.state.disks.read(v, 0, lab.state.disks.size(v))))

  beforeAll(async () => {
    requireBinary('tar')
    requireBinary('mke2fs')
    scratch = await scratchDir()
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      nbd: false,
      vms: [{ name: 'web-01', power: 'Running', disks: [6, 3] }],
    })
    client = new XapiClient(lab.connection)
    snapshot = await snapshotVm(client, lab.ref('VM', 'web-01'), 'xva')
  })
  afterAll(async () => {
    await client?.close()
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('refuses to export a running VM (VM_BAD_POWER_STATE)', async () => {
    await expect(exportXva(client, lab.ref('VM', 'web-01'))).rejects.toMatchObject({
      code: 'VM_BAD_POWER_STATE',
    })
  })

  it('exports a snapshot as a gzip XVA that tar reads, ova.xml first, chunks with xxhash', async () => {
    const xva = await collect(await exportXva(client, snapshot, { compression: 'gzip' }))
    expect(xva.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]))
    await writeFile(scratch.path('vm.xva'), gunzipSync(xva))
    const { stdout } = await run('tar', ['-tf', scratch.path('vm.xva')])
    const names = stdout.trim().split('\n')
    expect(names[0]).toBe('ova.xml')
    const first = names.find((n) => /^Ref:\d+\/00000000$/.test(n))!
    expect(names[names.indexOf(first) + 1]).toBe(`${first}.xxhash`)
    expect(names.filter((n) => /^Ref:\d+\/\d{8}$/.test(n)).length).toBeGreaterThanOrEqual(4) // first and last of 2 disks
    const { stdout: hash } = await run('tar', ['-xOf', scratch.path('vm.xva'), `${first}.xxhash`])
    expect(hash).toMatch(/^[0-9A-F]{16}$/)
  })

  it('imports an exported zstd XVA as a new VM with the same disks and new MACs', async () => {
    const xva = await collect(await exportXva(client, snapshot, { compression: 'zstd' }))
    expect(xva.readUInt32BE(0)).toBe(0x28b52ffd)
    const [sr] = await client.call<string[]>('SR.get_all', [])
    const [vm] = await importXva(client, sr!, { open: () => Readable.from([xva]), length: xva.length })
    expect(await client.call('VM.get_name_label', [vm])).toBe('xva')
    expect(await client.call('VM.get_power_state', [vm])).toBe('Halted')
    const [a, b] = [await diskBytes(vm!), await diskBytes(snapshot)]
    expect(a.length).toBe(2)
    expect(a.every((d, i) => d.equals(b[i]!))).toBe(true)
    const macs = async (v: string) =>
      Promise.all(
        (await client.call<string[]>('VM.get_VIFs', [v])).map((f) => client.call('VIF.get_MAC', [f])),
      )
    expect(await macs(vm!)).not.toEqual(await macs(snapshot))
  })

  it('fails on a corrupted chunk (IMPORT_ERROR_SOME_CHECKSUMS_FAILED) and leaves nothing behind', async () => {
    const xva = Buffer.from(await collect(await exportXva(client, snapshot)))
    const at = xva.indexOf('/00000000\0') - 'Ref:6'.length
    xva[at + 512 + 1000] = (xva[at + 512 + 1000] ?? 0) ^ 0xff // a byte of the first chunk's data
    const before = (await client.call<string[]>('VM.get_all', [])).length
    const [sr] = await client.call<string[]>('SR.get_all', [])
    await expect(
      importXva(client, sr!, { open: () => Readable.from([xva]), length: xva.length }),
    ).rejects.toMatchObject({
      code: 'IMPORT_ERROR_SOME_CHECKSUMS_FAILED',
    })
    expect((await client.call<string[]>('VM.get_all', [])).length).toBe(before)
  })
})
