// The client over HTTPS, trusting only the pool's own certificate, through HOST_IS_SLAVE and a 302.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Readable } from 'node:stream'
import { XapiClient, exportVdi, getNbdInfo } from '@strata/core/xapi'
import { requireBinary } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

describe('XAPI over HTTPS with a pinned certificate', () => {
  let lab: LabPool
  const clients: XapiClient[] = []

  beforeAll(async () => {
    requireBinary('openssl')
    requireBinary('mke2fs')
    lab = await LabPool.start({
      https: true,
      hosts: 2,
      authFailureDelayMs: 10,
      vms: [{ name: 'vm', power: 'Halted', disks: [4] }],
    })
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()))
    await lab?.close()
  })

  it('logs in through a pool member, exports through a 302, and sees the same certificate for NBD', async () => {
    expect(lab.url).toMatch(/^https:/)
    const client = new XapiClient({
      url: lab.hosts[1]!.url,
      user: lab.user,
      password: lab.password,
      tls: { ca: lab.certificate },
    })
    clients.push(client)
    await client.connect()
    expect(client.url.hostname).toBe(lab.hosts[0]!.address)
    const [vdi] = lab.guest.disks(lab.ref('VM', 'vm'))
    lab.faults.failHttp('/export_raw_vdi', { kind: 'redirect' })
    const bytes = await collect(await exportVdi(client, vdi!, { format: 'raw' }))
    expect(bytes.equals(await lab.readDisk(vdi!))).toBe(true)
    const [info] = await getNbdInfo(client, vdi!)
    expect(info!.cert).toBe(lab.certificate)
  })

  it('refuses a pool whose certificate it does not trust', async () => {
    const client = new XapiClient({ url: lab.url, user: lab.user, password: lab.password })
    clients.push(client)
    await expect(client.connect()).rejects.toMatchObject({ code: 'XAPI_CONNECTION' })
  })
})
