// The lab itself, on the wire: JSON-RPC shapes, generic methods, error codes and semantics, seed disks
// with real ext4 filesystems (read back with debugfs), guest file writes, persistence.
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { request } from 'node:https'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { PoolTrust } from '@strata/core/xapi'
import { LabPool } from './lab-pool.js'
import { PARTITION_OFFSET } from './disks/ext4-image.js'

const run = promisify(execFile)

/** A raw JSON-RPC POST over HTTPS, through an agent pinned to the lab's certificate. */
async function rpc(
  lab: LabPool,
  body: unknown,
): Promise<{ status: number; type: string | null; json: unknown }> {
  const agent = new PoolTrust(new URL(lab.url), { fingerprint: lab.fingerprint }).agent(false)
  const res = await new Promise<IncomingMessage>((resolve, reject) =>
    request(new URL('/jsonrpc', lab.url), {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json' },
    })
      .on('response', resolve)
      .on('error', reject)
      .end(JSON.stringify(body)),
  )
  const chunks: Buffer[] = []
  for await (const chunk of res) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  return {
    status: res.statusCode ?? 0,
    type: res.headers['content-type'] ?? null,
    json: res.statusCode === 200 ? JSON.parse(text) : text,
  }
}

describe('the lab on the wire', () => {
  let lab: LabPool
  let scratch: Scratch
  let session: string
  const call = async (method: string, ...params: unknown[]): Promise<unknown> => {
    const { json } = await rpc(lab, { jsonrpc: '2.0', id: 1, method, params: [session, ...params] })
    const r = json as { result?: unknown; error?: { message: string; data: string[] } }
    if (r.error !== undefined)
      throw Object.assign(new Error(r.error.message), { code: r.error.message, params: r.error.data })
    return r.result
  }

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('debugfs')
    scratch = await scratchDir()
    lab = await LabPool.start({
      dataDir: scratch.path('lab'),
      authFailureDelayMs: 10,
      nbd: false,
      dom0DetachMs: 50,
    })
    const { json } = await rpc(lab, {
      jsonrpc: '2.0',
      id: 0,
      method: 'session.login_with_password',
      params: ['root', lab.password],
    })
    session = (json as { result: string }).result
  })
  afterAll(async () => {
    await lab?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  it('answers JSON-RPC v1 and v2 with their error shapes, and rejects notifications', async () => {
    const v2 = await rpc(lab, {
      jsonrpc: '2.0',
      id: 'a',
      method: 'VM.get_record',
      params: [session, 'OpaqueRef:nope'],
    })
    expect(v2.type).toBe('application/json')
    expect(v2.json).toEqual({
      jsonrpc: '2.0',
      error: { code: 1, message: 'HANDLE_INVALID', data: ['VM', 'OpaqueRef:nope'] },
      id: 'a',
    })
    const v1 = await rpc(lab, { id: 7, method: 'VM.get_by_uuid', params: [session, 'x'] })
    expect(v1.json).toEqual({ result: null, error: ['UUID_INVALID', 'VM', 'x'], id: 7 })
    expect((await rpc(lab, { jsonrpc: '2.0', method: 'system.listMethods' })).status).toBe(500)
    const arity = await rpc(lab, { jsonrpc: '2.0', id: 1, method: 'VM.snapshot', params: [session] })
    expect(arity.json).toMatchObject({
      error: { message: 'MESSAGE_PARAMETER_COUNT_MISMATCH', data: ['VM.snapshot', '2', '0'] },
    })
  })

  it('serves generic methods under both wire names and filters with get_all_records_where', async () => {
    const methods = (await rpc(lab, { jsonrpc: '2.0', id: 1, method: 'system.listMethods', params: [] }))
      .json as { result: string[] }
    expect(methods.result).toContain('VM.get_all_records')
    const web = lab.ref('VM', 'web-01')
    expect(await call('VM_get_name_label', web)).toBe('web-01')
    const running = (await call(
      'VM.get_all_records_where',
      'field "power_state"="Running" and field "is_control_domain"="false"',
    )) as Record<string, unknown>
    expect(Object.keys(running)).toEqual([web])
    await call('VM.add_to_other_config', web, 'k', 'v')
    await expect(call('VM.add_to_other_config', web, 'k', 'w')).rejects.toMatchObject({
      code: 'MAP_DUPLICATE_KEY',
    })
    await call('VM.add_tags', web, 'backup')
    expect(await call('VM.get_tags', web)).toContain('backup')
  })

  it('enforces power states, blocked operations and attached disks like xapi', async () => {
    const web = lab.ref('VM', 'web-01')
    await expect(call('VM.destroy', web)).rejects.toMatchObject({
      code: 'VM_BAD_POWER_STATE',
      params: [web, 'halted, suspended', 'running'],
    })
    const [vdi] = lab.guest.disks(web)
    await expect(call('VDI.destroy', vdi)).rejects.toMatchObject({
      code: 'VDI_IN_USE',
      params: [vdi, 'destroy'],
    })
    await call('VM.add_to_blocked_operations', web, 'snapshot', 'backup running')
    await expect(call('VM.snapshot', web, 'x')).rejects.toMatchObject({
      code: 'OPERATION_BLOCKED',
      params: [web, 'backup running'],
    })
    await call('VM.remove_from_blocked_operations', web, 'snapshot')
    const [sr] = (await call('SR.get_all')) as string[]
    const huge = {
      name_label: 'big',
      SR: sr,
      virtual_size: 2 ** 50,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
    }
    await expect(call('VDI.create', huge)).rejects.toMatchObject({ code: 'SR_FULL' })
    await expect(call('VDI.data_destroy', vdi)).rejects.toMatchObject({ code: 'OPERATION_NOT_ALLOWED' })
  })

  it('answers event.from with tokens, coalesced events, deletions and valid_ref_counts', async () => {
    const first = (await call('event.from', ['vdi'], '', 0)) as {
      events: { operation: string }[]
      token: string
    }
    expect(first.token).toMatch(/^\d{20},\d{20}$/)
    expect(first.events.every((e) => e.operation === 'add')).toBe(true)
    const [sr] = (await call('SR.get_all')) as string[]
    const vdi = await call('VDI.create', {
      name_label: 'ev',
      SR: sr,
      virtual_size: 1 << 20,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
    })
    await call('VDI.set_name_label', vdi, 'ev-2')
    const batch = (await call('event.from', ['vdi'], first.token, 5)) as {
      events: { class: string; operation: string; ref: string; snapshot?: { name_label: string } }[]
      token: string
      valid_ref_counts: Record<string, number>
    }
    const mine = batch.events.filter((e) => e.ref === vdi)
    expect(mine).toHaveLength(1) // the add and the rename coalesce into one event with the latest record
    expect(mine[0]).toMatchObject({ class: 'vdi', snapshot: { name_label: 'ev-2' } })
    expect(batch.valid_ref_counts.vdi).toBeGreaterThan(0)
    await call('VDI.destroy', vdi)
    const del = (await call('event.from', ['vdi'], batch.token, 5)) as {
      events: { operation: string; ref: string; snapshot?: unknown }[]
    }
    expect(del.events).toEqual([expect.objectContaining({ operation: 'del', ref: vdi })])
    expect(del.events[0]!.snapshot).toBeUndefined()
    const started = Date.now()
    const later = batch.token.replace(/^\d+/, (g) => String(Number(g) + 1000).padStart(20, '0'))
    const empty = (await call('event.from', ['vdi'], later, 0.2)) as { events: unknown[] }
    expect(empty.events).toEqual([])
    expect(Date.now() - started).toBeGreaterThanOrEqual(150)
    await expect(call('event.from', ['vdi'], 'garbage', 0)).rejects.toMatchObject({
      code: 'EVENT_FROM_TOKEN_PARSE_FAILURE',
    })
  })

  it('creates messages, lists them since a date, and destroys them', async () => {
    const web = lab.ref('VM', 'web-01')
    const uuid = (await call('VM.get_uuid', web)) as string
    const m = await call('message.create', 'BACKUP_FAILED', 3, 'VM', uuid, 'disk 0 could not be read')
    const since = (await call('message.get_since', '20000101T00:00:00Z')) as Record<
      string,
      { name: string; obj_uuid: string }
    >
    expect(since[m as string]).toMatchObject({ name: 'BACKUP_FAILED', obj_uuid: uuid })
    await call('message.destroy', m)
    expect(Object.keys((await call('message.get_all_records')) as object)).not.toContain(m)
  })

  it('takes guest writes and faults through lab-only methods on the wire', async () => {
    const db = lab.ref('VM', 'db-01')
    const [vdi] = lab.guest.disks(db)
    await call('lab.guest_write', db, 0, 8192, Buffer.from('from another process').toString('base64'))
    expect((await lab.readDisk(vdi!)).subarray(8192, 8212).toString()).toBe('from another process')
    await call('lab.fail_method', 'VM.get_all', 'TOO_MANY_PENDING_TASKS', [], 1)
    await expect(call('VM.get_all')).rejects.toMatchObject({ code: 'TOO_MANY_PENDING_TASKS' })
    await call('lab.fail_http', '/export_raw_vdi', { kind: 'cut', afterBytes: 1024 }, 1)
    await call('lab.clear_faults')
    expect(lab.faults.takeHttp('/export_raw_vdi')).toBeUndefined()
  })

  it('seeds disks with an MBR and an ext4 filesystem whose files debugfs reads', async () => {
    const [vdi] = lab.guest.disks(lab.ref('VM', 'db-01'))
    const disk = await lab.state.disks.read(vdi!, 0, lab.state.disks.size(vdi!))
    expect(disk.readUInt16BE(510)).toBe(0x55aa)
    expect(disk[446 + 4]).toBe(0x83)
    await lab.guest.writeFile(vdi!, '/srv/new/hello.txt', 'written by the guest\n')
    const fs = scratch.path('fs.img')
    await writeFile(
      fs,
      (await lab.state.disks.read(vdi!, 0, lab.state.disks.size(vdi!))).subarray(PARTITION_OFFSET),
    )
    const cat = (path: string) => run('debugfs', ['-R', `cat ${path}`, fs]).then((r) => r.stdout)
    expect(await cat('/etc/hostname')).toBe('db-01\n')
    expect(await cat('/srv/new/hello.txt')).toBe('written by the guest\n')
  })

  it('keeps objects and disk data across a restart with a data directory', async () => {
    const db = lab.ref('VM', 'db-01')
    const [vdi] = lab.guest.disks(db)
    await lab.guest.write(vdi!, 4096, Buffer.from('persisted'))
    const before = await lab.state.disks.read(vdi!, 0, 8192)
    await lab.close()
    lab = await LabPool.start({ dataDir: scratch.path('lab'), authFailureDelayMs: 10, nbd: false })
    expect(lab.ref('VM', 'db-01')).toBe(db)
    expect((await lab.state.disks.read(vdi!, 0, 8192)).equals(before)).toBe(true)
  })
})
