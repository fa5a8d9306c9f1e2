// /pool/xmldbdump on the wire: GET streams the pool database as xapi's XML (session required), PUT
// with dry_run checks a dump without applying it, PUT without restores it (the toolstack restarts on
// it: sessions end, objects come back as they were at the dump), and bad dumps are refused with xapi's
// codes. Also a dump of one pool restored into another (the DR case: its host keeps its own identity).
import { request } from 'node:https'
import { Readable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary } from '@strata/core/testing'
import { PoolTrust, XapiClient, callAsync, download, upload, type XapiRecord } from '@strata/core/xapi'
import type { LabPool } from './lab-pool.js'
import { startLabPools, type LabPools } from './testing/index.js'

async function collect(stream: Readable): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

// The restart that applies a restore wipes the tasks: the client must see the upload's task end first,
// which a loaded machine (two test files at once, other work) can delay past 100 ms.
const FUSE_MS = 1000

describe('/pool/xmldbdump', () => {
  let pools: LabPools
  let a: LabPool
  let b: LabPool
  let xa: XapiClient
  let xb: XapiClient
  const dump = async (x: XapiClient): Promise<string> =>
    collect(
      await download(x, { method: 'GET', path: '/pool/xmldbdump', query: {}, label: 'pool database dump' }),
    )
  const restore = (x: XapiClient, xml: string, dryRun: boolean) =>
    upload(x, {
      method: 'PUT',
      path: '/pool/xmldbdump',
      query: { dry_run: String(dryRun) },
      label: 'pool database restore',
      body: { open: () => Readable.from([Buffer.from(xml)]), length: Buffer.byteLength(xml) },
    })
  /** Waits for the restart that applies a restore (sessions end); the client logs in again. */
  const restarted = async (x: XapiClient): Promise<void> => {
    await new Promise((r) => setTimeout(r, FUSE_MS + 400))
    await x.call('pool.get_all', [])
  }

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    const options = { authFailureDelayMs: 10, restoreFuseMs: FUSE_MS, nbd: false as const }
    pools = await startLabPools(
      {
        ...options,
        vms: [
          { name: 'web', power: 'Running', disks: [8] },
          { name: 'db', power: 'Halted', disks: [8] },
        ],
      },
      { ...options, vms: [{ name: 'other', power: 'Halted', disks: [8] }] },
    )
    ;[a, b] = pools.pools as [LabPool, LabPool]
    xa = new XapiClient(a.connection)
    xb = new XapiClient(b.connection)
  })
  afterAll(async () => {
    await xa?.close()
    await xb?.close()
    await pools?.close()
  })

  it('streams the database as xapi XML: manifest, tables, __ columns, S-expressions, protected spaces', async () => {
    const xml = await dump(xa)
    expect(xml).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<database><manifest><pair key="schema_major_vsn" value="5"\/><pair key="schema_minor_vsn" value="786"\/><pair key="generation_count" value="\d+"\/><\/manifest>/,
    )
    expect(xml).toContain('<table name="task"/>')
    expect(xml).not.toContain('<table name="message"')
    const web = new RegExp(`<row ref="${a.ref('VM', 'web')}"[^>]*/>`).exec(xml)?.[0] ?? ''
    expect(web).toMatch(/^<row ref="OpaqueRef:[^"]+" __ctime="\d+" __mtime="\d+" /)
    expect(web).toContain('name__label="web"')
    expect(web).toContain('power_state="Running"')
    expect(web).toMatch(/memory__static_max="\d+"/)
    // Sets and maps are S-expressions, their spaces protected like any other (%.).
    expect(web).toMatch(/VBDs="\('OpaqueRef:[^']+'%\.'OpaqueRef:[^']+'\)"/)
    expect(web).toContain(`HVM__boot_params="(('order'%.'cdn')%.('firmware'%.'bios'))"`)
    expect(web).toContain('recommendations="&lt;restrictions/&gt;"')
    expect(xml).toContain('name__label="Local%.storage"')
  })

  it('refuses a dump without a valid session (401)', async () => {
    const agent = new PoolTrust(new URL(a.url), { fingerprint: a.fingerprint }).agent(false)
    for (const query of ['', '?session_id=OpaqueRef:not-a-session']) {
      const status = await new Promise<number>((resolve, reject) =>
        request(new URL(`/pool/xmldbdump${query}`, a.url), { agent }, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
          .on('error', reject)
          .end(),
      )
      expect(status).toBe(401)
    }
  })

  it('checks a dump with dry_run without changing anything, and refuses bad dumps with xapi codes', async () => {
    const xml = await dump(xa)
    await xa.call('VM.set_name_label', [a.ref('VM', 'db'), 'db renamed'])
    await restore(xa, xml, true)
    await new Promise((r) => setTimeout(r, FUSE_MS + 200))
    expect(a.vmNames()).toContain('db renamed')
    const newer = xml.replace('key="schema_minor_vsn" value="786"', 'key="schema_minor_vsn" value="999"')
    await expect(restore(xa, newer, true)).rejects.toMatchObject({ code: 'RESTORE_INCOMPATIBLE_VERSION' })
    await expect(restore(xa, '<html>not a dump</html>', true)).rejects.toMatchObject({
      code: 'INTERNAL_ERROR',
    })
    const noEth0 = xml.replace(/device="eth0"/g, 'device="eth9"')
    await expect(restore(xa, noEth0, true)).rejects.toMatchObject({
      code: 'RESTORE_TARGET_MISSING_DEVICE',
      params: ['eth9'],
    })
    await xa.call('VM.set_name_label', [a.ref('VM', 'db renamed'), 'db'])
  })

  it('restores a dump: the toolstack restarts and the objects are back as they were', async () => {
    const web = a.ref('VM', 'web')
    const before = await xa.call<XapiRecord>('VM.get_record', [web])
    const xml = await dump(xa)
    // Changes after the dump: a rename, a new VM, a destroyed VM and its disk.
    await xa.call('VM.set_name_label', [web, 'web renamed'])
    const extra = await xa.call<string>('VM.create', [{ name_label: 'extra', other_config: {} }])
    const db = a.ref('VM', 'db')
    const [dbDisk] = a.guest.disks(db)
    await xa.call('VM.destroy', [db])
    await xa.call('VDI.destroy', [dbDisk])
    const session = xa.sessionRef()
    await restore(xa, xml, false)
    await restarted(xa)
    expect(xa.sessionRef()).not.toBe(session)
    expect(a.vmNames()).toEqual(['db', 'web'])
    await expect(xa.call('VM.get_record', [extra])).rejects.toMatchObject({ code: 'HANDLE_INVALID' })
    const after = await xa.call<XapiRecord>('VM.get_record', [web])
    expect({ ...after, current_operations: {} }).toEqual({ ...before, current_operations: {} })
    // The destroyed disk is back in the database, but its data is gone from the SR: missing.
    expect(await xa.call('VDI.get_missing', [dbDisk])).toBe(true)
    expect(await xa.call('VDI.get_missing', [a.guest.disks(web)[0]])).toBe(false)
    await callAsync(xa, 'VM.clean_shutdown', [web])
    await callAsync(xa, 'VM.start', [web, false, false])
  })

  it("restores one pool's dump into another, which keeps its own host identity and address", async () => {
    const [hostB] = await xb.call<string[]>('host.get_all', [])
    const hostBefore = await xb.call<XapiRecord>('host.get_record', [hostB])
    const xml = await dump(xa)
    await restore(xb, xml, false)
    await restarted(xb)
    const [pool] = await xb.call<string[]>('pool.get_all', [])
    const [poolA] = await xa.call<string[]>('pool.get_all', [])
    expect(await xb.call('pool.get_uuid', [pool])).toBe(await xa.call('pool.get_uuid', [poolA]))
    const [host] = await xb.call<string[]>('host.get_all', [])
    const hostAfter = await xb.call<XapiRecord>('host.get_record', [host])
    expect(hostAfter).toMatchObject({
      uuid: hostBefore.uuid,
      address: hostBefore.address,
      hostname: hostBefore.hostname,
    })
    expect(b.vmNames()).toEqual(['db', 'web'])
    // B's own disks are not A's: the restored VDIs are missing there.
    const [vdi] = b.guest.disks(b.ref('VM', 'web'))
    expect(await xb.call('VDI.get_missing', [vdi])).toBe(true)
  })
})
