import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { XapiClient, callAsync, isXapiError } from '@strata/core/xapi'
import { LabPool } from './lab-pool.js'

describe('lab pool basics', () => {
  let lab: LabPool
  let client: XapiClient

  beforeAll(async () => {
    lab = await LabPool.start({ authFailureDelayMs: 10, nbd: false })
    client = new XapiClient({ url: lab.url, user: lab.user, password: lab.password })
  })
  afterAll(async () => {
    await client?.close()
    await lab?.close()
  })

  it('logs in and lists the seed VMs', async () => {
    const vms = await client.call<
      Record<string, { name_label: string; is_control_domain: boolean; is_a_template: boolean }>
    >('VM.get_all_records', [])
    const guests = Object.values(vms).filter((v) => !v.is_control_domain && !v.is_a_template)
    expect(guests.map((v) => v.name_label).sort()).toEqual(['db-01', 'web-01'])
  })

  it('snapshots a VM asynchronously and returns the decoded ref', async () => {
    const vm = lab.ref('VM', 'web-01')
    const snap = await callAsync<string>(client, 'VM.snapshot', [vm, 'snap-1', []])
    expect(snap).toMatch(/^OpaqueRef:/)
    const record = await client.call<{ is_a_snapshot: boolean; snapshot_of: string }>('VM.get_record', [snap])
    expect(record).toMatchObject({ is_a_snapshot: true, snapshot_of: vm })
  })

  it('refuses bad credentials with SESSION_AUTHENTICATION_FAILED', async () => {
    const bad = new XapiClient({ url: lab.url, user: 'root', password: 'wrong' })
    const error = await bad.connect().catch((e: unknown) => e)
    expect(isXapiError(error, 'SESSION_AUTHENTICATION_FAILED')).toBe(true)
    await bad.close()
  })
})
