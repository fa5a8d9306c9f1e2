// The client over HTTPS, trusting each host by its pinned certificate fingerprint: the master by the one
// it is given, every member by the one XAPI gives for it; first contacts and changed certificates refused
// (before a byte of the login is sent), plain HTTP only when asked for, redirects only inside the pool.
import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import type { Readable } from 'node:stream'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { CHECK_ON_HOST, XapiClient, exportVdi, getNbdInfo, type XapiClientOptions } from '@strata/core/xapi'
import { requireBinary } from '@strata/core/testing'
import { LabPool } from './lab-pool.js'

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of stream) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

const VMS = [{ name: 'vm', power: 'Halted' as const, disks: [4] }]

describe('XAPI over HTTPS with pinned certificates', () => {
  let lab: LabPool
  const clients: XapiClient[] = []
  const client = (options: Partial<XapiClientOptions> = {}): XapiClient => {
    const c = new XapiClient({ ...lab.connection, ...options })
    clients.push(c)
    return c
  }
  const logins = (): number => lab.calls.get('session.login_with_password') ?? 0

  beforeAll(async () => {
    requireBinary('openssl')
    requireBinary('mke2fs')
    lab = await LabPool.start({ hosts: 2, authFailureDelayMs: 10, vms: VMS })
  })
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    lab.faults.clear()
  })
  afterAll(() => lab?.close())

  it('pins the master, learns each member its own certificate, and exports through a 302 to the member', async () => {
    expect(lab.url).toMatch(/^https:/)
    const [master, member] = lab.hosts
    expect(master!.fingerprint).not.toBe(member!.fingerprint)
    const c = client()
    await c.connect()
    expect(c.trust.expected(member!.address)).toBe(member!.fingerprint)
    const [vdi] = lab.guest.disks(lab.ref('VM', 'vm'))
    lab.faults.failHttp('/export_raw_vdi', { kind: 'redirect' })
    const bytes = await collect(await exportVdi(c, vdi!, { format: 'raw' }))
    expect(bytes.equals(await lab.readDisk(vdi!))).toBe(true)
    // NBD's certificate comes from XAPI over this pinned connection: the host's own.
    const [info] = await getNbdInfo(c, vdi!)
    expect(info!.cert).toBe(master!.certificate)
  })

  it('accepts the fingerprint as openssl prints it, or bare hex in lower case', async () => {
    const bare = lab.fingerprint.replace(/:/g, '').toLowerCase()
    await client({ fingerprint: `sha256 Fingerprint=${lab.fingerprint}` }).connect()
    await client({ fingerprint: bare }).connect()
  })

  it('refuses a first contact without a fingerprint, printing the one it saw and how to check it', async () => {
    const before = logins()
    const error = await client({ fingerprint: undefined })
      .connect()
      .catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'POOL_CERTIFICATE_UNKNOWN',
      retryable: false,
      details: { fingerprint: lab.fingerprint },
    })
    expect((error as Error).message).toContain(lab.fingerprint)
    expect((error as Error).message).toContain(CHECK_ON_HOST)
    expect(CHECK_ON_HOST).toBe('openssl x509 -in /etc/xensource/xapi-ssl.pem -noout -fingerprint -sha256')
    expect(logins()).toBe(before) // the password never left
  })

  it('refuses a pool whose certificate changed, naming both fingerprints, until the new one is pinned', async () => {
    const old = lab.fingerprint
    const connected = client({ fingerprint: old })
    await connected.connect()
    const renewed = await lab.renewCertificate()
    expect(renewed).not.toBe(old)
    const before = logins()
    const error = await client({ fingerprint: old })
      .connect()
      .catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'POOL_CERTIFICATE_CHANGED',
      details: { expected: old, fingerprint: renewed },
    })
    expect((error as Error).message).toContain(old)
    expect((error as Error).message).toContain(renewed)
    expect(logins()).toBe(before)
    // A long-lived client meets the new certificate at its next connection: refused too.
    await lab.restartToolstack(0)
    await expect(connected.call('VM.get_all', [])).rejects.toMatchObject({ code: 'POOL_CERTIFICATE_CHANGED' })
    await client({ fingerprint: renewed }).connect()
  })

  it('goes from a member to the master (HOST_IS_SLAVE) only when the master is pinned too', async () => {
    const [master, member] = lab.hosts
    const viaMember = { url: member!.url, fingerprint: member!.fingerprint }
    const error = await client(viaMember)
      .connect()
      .catch((e: unknown) => e)
    expect(error).toMatchObject({
      code: 'POOL_CERTIFICATE_UNKNOWN',
      details: { fingerprint: master!.fingerprint },
      message: expect.stringMatching(
        /^the certificate of pool host 127\.0\.0\.1:\d+ .* It is the pool master/,
      ),
    })
    const c = client({ ...viaMember, knownHosts: { [master!.address]: master!.fingerprint } })
    await c.connect()
    expect(c.url.hostname).toBe(master!.address)
  })

  describe('a redirect to a host outside the pool', () => {
    let foreign: Server
    let connections = 0
    beforeAll(async () => {
      // Listens where the redirect points (our port, another address): it must never be contacted.
      foreign = createServer((socket) => {
        connections++
        socket.destroy()
      })
      foreign.listen(Number(new URL(lab.url).port), '127.0.0.3')
      await once(foreign, 'listening')
    })
    afterAll(() => new Promise<void>((resolve) => foreign.close(() => resolve())))

    it('is refused, and the foreign host never sees the session id', async () => {
      const c = client()
      const [vdi] = lab.guest.disks(lab.ref('VM', 'vm'))
      lab.faults.failHttp('/export_raw_vdi', { kind: 'redirect', to: '127.0.0.3' })
      await expect(exportVdi(c, vdi!, { format: 'raw' })).rejects.toMatchObject({
        code: 'XAPI_REDIRECT_REFUSED',
        details: { host: '127.0.0.3' },
      })
      expect(connections).toBe(0)
    })
  })
})

describe('XAPI over plain HTTP', () => {
  let lab: LabPool
  beforeAll(async () => {
    requireBinary('mke2fs')
    lab = await LabPool.start({ https: false, nbd: false, authFailureDelayMs: 10, vms: VMS })
  })
  afterAll(() => lab?.close())

  it('is refused unless explicitly allowed, then works', async () => {
    expect(lab.url).toMatch(/^http:/)
    const { url, user, password } = lab
    expect(() => new XapiClient({ url, user, password })).toThrow(
      expect.objectContaining({ code: 'POOL_INSECURE_HTTP' }),
    )
    expect(lab.calls.get('session.login_with_password')).toBeUndefined()
    const c = new XapiClient({ url, user, password, insecureHttp: true })
    try {
      expect((await c.call<string[]>('VM.get_all', [])).length).toBeGreaterThan(0)
    } finally {
      await c.close()
    }
  })
})
