// Pools in the server, pinned: the certificate shown to the admin who adds one (the probe, or a 409 on a
// create without a fingerprint), stored once accepted; a certificate that changes puts the pool in an
// error state naming both fingerprints until an admin accepts the new one; a new URL needs the new host's
// fingerprint; plain HTTP only when allowed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '@strata/core'
import { requireBinary, scratchDir, type Scratch } from '@strata/core/testing'
import { CHECK_ON_HOST } from '@strata/core/xapi'
import { LabPool } from '@strata/lab'
import type { RunningServer } from './start-server.js'
import { ApiClient } from './testing/api-client.js'
import { startTestServer } from './testing/test-server.js'

const VMS = [{ name: 'vm', power: 'Running' as const, disks: [4] }]

interface PoolView {
  connected: boolean
  fingerprint?: string
  error?: string
  errorCode?: string
  certificate?: { expected?: string; seen?: { fingerprint: string } }
}

describe('pool certificates in the server', () => {
  let scratch: Scratch
  let lab: LabPool
  let plain: LabPool
  let server: RunningServer
  let api: ApiClient

  /** The pool's view once `done` says so (connections settle in the background). */
  async function poolWhen(id: string, done: (p: PoolView) => boolean): Promise<PoolView> {
    for (let i = 0; i < 300; i++) {
      const pool = (await api.get(`/api/pools/${id}`)).body
      if (done(pool)) return pool
      await sleep(100)
    }
    throw new Error(`pool ${id} never reached the state expected`)
  }

  beforeAll(async () => {
    requireBinary('mke2fs')
    requireBinary('openssl')
    scratch = await scratchDir('strata-server-pool-trust-')
    lab = await LabPool.start({ authFailureDelayMs: 10, nbd: false, vms: VMS })
    plain = await LabPool.start({ https: false, authFailureDelayMs: 10, nbd: false, vms: VMS })
    server = await startTestServer(scratch, { adminPassword: 'admin-password' })
    api = new ApiClient(server.url)
    await api.login('admin', 'admin-password')
  })
  afterAll(async () => {
    await server?.close()
    await lab?.close()
    await plain?.close()
    await scratch?.[Symbol.asyncDispose]()
  })

  const input = { name: 'lab', username: 'root' }

  it('shows the certificate of a pool being added, and stores nothing without an accepted fingerprint', async () => {
    const probe = await api.post('/api/pools/probe', { url: lab.url })
    expect(probe.status).toBe(200)
    expect(probe.body).toMatchObject({
      url: lab.url,
      fingerprint: lab.fingerprint,
      subject: expect.stringContaining('CN=lab-host-1'),
      validTo: expect.any(String),
      check: CHECK_ON_HOST,
    })
    const unpinned = await api.post('/api/pools', { ...input, url: lab.url, password: lab.password })
    expect(unpinned.status).toBe(409)
    expect(unpinned.body.error).toMatchObject({
      code: 'POOL_CERTIFICATE_UNKNOWN',
      details: { fingerprint: lab.fingerprint, check: CHECK_ON_HOST },
    })
    expect(unpinned.body.error.message).toContain(lab.fingerprint)
    const malformed = await api.post('/api/pools', {
      ...input,
      url: lab.url,
      password: lab.password,
      fingerprint: 'ab:cd',
    })
    expect(malformed.status).toBe(400)
    expect(malformed.body.error.code).toBe('INVALID_FINGERPRINT')
    expect((await api.get('/api/pools')).body).toEqual([])
    expect(lab.calls.get('session.login_with_password')).toBeUndefined()
  })

  it('puts a pool whose certificate changed in an error state naming both, until an admin accepts the new one', async () => {
    const old = lab.fingerprint
    const created = await api.post('/api/pools', {
      ...input,
      url: lab.url,
      password: lab.password,
      fingerprint: old.replace(/:/g, '').toLowerCase(),
    })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ fingerprint: old, insecureHttp: false })
    const id = created.body.id as string
    await poolWhen(id, (p) => p.connected)
    const renewed = await lab.renewCertificate()
    await lab.restartToolstack(0) // the live connection must open a new one and meets the new certificate
    const refused = await poolWhen(id, (p) => p.errorCode === 'POOL_CERTIFICATE_CHANGED')
    expect(refused).toMatchObject({
      connected: false,
      fingerprint: old,
      certificate: { expected: old, seen: { fingerprint: renewed } },
    })
    expect(refused.error).toContain(old)
    expect(refused.error).toContain(renewed)
    // Nothing is served from it meanwhile.
    const objects = await api.get(`/api/pools/${id}/objects?type=VM`)
    expect(objects.status).toBe(502)
    const accepted = await api.patch(`/api/pools/${id}`, { fingerprint: renewed })
    expect(accepted.status).toBe(200)
    expect(accepted.body.fingerprint).toBe(renewed)
    await poolWhen(id, (p) => p.connected && p.error === undefined)
    expect((await api.delete(`/api/pools/${id}`)).status).toBe(204)
  })

  it("checks a pool's new URL as a new pool: the old host's pin does not carry over", async () => {
    const created = await api.post('/api/pools', {
      ...input,
      name: 'moving',
      url: lab.url,
      password: lab.password,
      fingerprint: lab.fingerprint,
    })
    expect(created.status).toBe(201)
    const id = created.body.id as string
    const other = await LabPool.start({ authFailureDelayMs: 10, nbd: false, vms: VMS, password: 'other' })
    try {
      const move = { url: other.url, password: other.password }
      const unpinned = await api.patch(`/api/pools/${id}`, move)
      expect(unpinned.status).toBe(409)
      expect(unpinned.body.error).toMatchObject({
        code: 'POOL_CERTIFICATE_UNKNOWN',
        details: { fingerprint: other.fingerprint, check: CHECK_ON_HOST },
      })
      expect((await api.get(`/api/pools/${id}`)).body).toMatchObject({
        url: lab.url,
        fingerprint: lab.fingerprint,
      })
      expect(other.calls.get('session.login_with_password')).toBeUndefined()
      const pinned = await api.patch(`/api/pools/${id}`, { ...move, fingerprint: other.fingerprint })
      expect(pinned.status).toBe(200)
      expect(pinned.body).toMatchObject({ url: other.url, fingerprint: other.fingerprint })
      await poolWhen(id, (p) => p.connected)
      expect((await api.delete(`/api/pools/${id}`)).status).toBe(204)
    } finally {
      await other.close()
    }
  })

  it('refuses a plain http:// pool unless insecureHttp is set, and shows the setting', async () => {
    const body = { ...input, name: 'plain', url: plain.url, password: plain.password }
    const refused = await api.post('/api/pools', body)
    expect(refused.status).toBe(400)
    expect(refused.body.error.code).toBe('POOL_INSECURE_HTTP')
    expect((await api.post('/api/pools/probe', { url: plain.url })).status).toBe(400)
    expect(plain.calls.get('session.login_with_password')).toBeUndefined()
    const created = await api.post('/api/pools', { ...body, insecureHttp: true })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ insecureHttp: true })
    await poolWhen(created.body.id as string, (p) => p.connected)
    const off = await api.patch(`/api/pools/${created.body.id}`, { insecureHttp: false })
    expect(off.status).toBe(400)
    expect(off.body.error.code).toBe('POOL_INSECURE_HTTP')
    expect((await api.get(`/api/pools/${created.body.id}`)).body.insecureHttp).toBe(true)
  })
})
