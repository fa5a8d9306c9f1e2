// A client we did not write: Xen Orchestra's `xen-api` package logs in to the lab, watches its events,
// lists VMs and snapshots one. It has no certificate pinning, only "accept any certificate"
// (allowUnauthorized): fine for checking the lab's fidelity, never how Strata connects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// @ts-expect-error xen-api ships no type declarations
import { createClient } from 'xen-api'
import { requireBinary } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'

interface XoXapi {
  connect(): Promise<void>
  disconnect(): Promise<void>
  call(method: string, ...args: unknown[]): Promise<unknown>
  callAsync(method: string, ...args: unknown[]): Promise<unknown>
  objects: {
    all: Record<string, { $type: string; name_label?: string; is_a_snapshot?: boolean; $ref: string }>
  }
  objectsFetched: Promise<void>
}

describe("Xen Orchestra's xen-api client against the lab", () => {
  let lab: LabPool
  let xapi: XoXapi

  beforeAll(async () => {
    requireBinary('mke2fs')
    lab = await LabPool.start({
      authFailureDelayMs: 10,
      nbd: false,
      vms: [{ name: 'web-01', power: 'Running', disks: [8] }],
    })
    xapi = createClient({
      url: lab.url,
      auth: { user: lab.user, password: lab.password },
      allowUnauthorized: true,
      watchEvents: ['VM', 'pool', 'host', 'task'],
      eventPollDelay: 100,
    }) as XoXapi
  })
  afterAll(async () => {
    await xapi?.disconnect()
    await lab?.close()
  })

  it('connects, lists VMs from its event-fed cache and snapshots a VM', async () => {
    await xapi.connect()
    await xapi.objectsFetched
    const vms = Object.values(xapi.objects.all).filter((o) => o.$type === 'VM')
    expect(vms.map((v) => v.name_label)).toContain('web-01')
    const vm = lab.ref('VM', 'web-01')
    const snap = (await xapi.callAsync('VM.snapshot', vm, 'from-xo')) as string
    expect(snap).toMatch(/^OpaqueRef:/)
    expect(await xapi.call('VM.get_is_a_snapshot', snap)).toBe(true)
    expect(await xapi.call('VM.get_snapshot_of', snap)).toBe(vm)
  })

  it('works over XML-RPC too', async () => {
    const xml = createClient({
      url: lab.url,
      auth: { user: lab.user, password: lab.password },
      transport: 'xml-rpc',
      allowUnauthorized: true,
      watchEvents: ['task'],
      eventPollDelay: 100,
    }) as XoXapi
    try {
      await xml.connect()
      const vms = (await xml.call('VM.get_all_records')) as Record<
        string,
        { name_label: string; memory_static_max: unknown }
      >
      const web = Object.values(vms).find((v) => v.name_label === 'web-01')
      expect(web?.memory_static_max).toBe('1073741824') // xapi writes ints as untyped strings
      const vm = lab.ref('VM', 'web-01')
      const snap = (await xml.callAsync('VM.snapshot', vm, 'over-xml-rpc')) as string
      expect(await xml.call('VM.get_name_label', snap)).toBe('over-xml-rpc')
      await expect(xml.call('VM.get_record', 'OpaqueRef:nope')).rejects.toMatchObject({
        code: 'HANDLE_INVALID',
      })
    } finally {
      await xml.disconnect()
    }
  })
})
